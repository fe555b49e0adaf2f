"""The ``dask-plugin-operator`` command: run the operator, the sandbox, or the demo."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from .config import OperatorConfig


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "run":
        return _run(args)
    if args.command == "sandbox":
        from .sandbox import run_sandbox

        run_sandbox(Path(args.kubeconfig), port=args.port)
        return 0
    if args.command == "demo":
        from .demo import run_demo

        return int(run_demo(keep_going=args.keep))
    parser.print_help()
    return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dask-plugin-operator",
        description="Register Dask plugins declared as WorkerPlugin resources on the "
                    "schedulers of matching DaskClusters.")
    commands = parser.add_subparsers(dest="command")

    run = commands.add_parser("run", help="run the operator against the current cluster")
    scope = run.add_mutually_exclusive_group()
    scope.add_argument("-n", "--namespace", action="append", default=[],
                       help="watch this namespace (repeatable; globs allowed)")
    scope.add_argument("-A", "--all-namespaces", action="store_true",
                       help="watch every namespace (the default when none is given)")
    run.add_argument("-v", "--verbose", action="store_true",
                     help="log at debug level, Kopf's own debug logs included")
    run.add_argument("--debug", action="store_true",
                     help="as --verbose, with asyncio's debug logs too")
    run.add_argument("--quiet", action="store_true", help="log warnings and errors only")
    run.add_argument("--log-format", choices=["plain", "full", "json"], default="plain")
    run.add_argument("--liveness", metavar="URL",
                     help="serve Kopf's health endpoint, e.g. http://0.0.0.0:8080/healthz")
    run.add_argument("--check-interval", type=_positive, default=30.0, metavar="SECONDS",
                     help="seconds between checks of every scheduler (default 30)")
    run.add_argument("--concurrency", type=int, default=64,
                     help="schedulers worked on at once (default 64)")
    run.add_argument("--rpc-timeout", type=_positive, default=10.0, metavar="SECONDS",
                     help="timeout of each scheduler call (default 10)")
    run.add_argument("--deletion-timeout", type=_positive, default=60.0, metavar="SECONDS",
                     help="how long a deleted plugin waits for its clusters (default 60)")
    run.add_argument("--metrics-port", type=int, default=0,
                     help="serve Prometheus metrics on this port (0: off)")
    run.add_argument("--peering", metavar="NAME",
                     help="the KopfPeering used to elect one active replica")
    run.add_argument("--priority", type=int, default=0,
                     help="this replica's peering priority; the highest one is active")
    run.add_argument("--standalone", action="store_true",
                     help="no peering: act alone (the default without --peering)")

    sandbox = commands.add_parser("sandbox", help="serve a local Kubernetes API emulator")
    sandbox.add_argument("--kubeconfig", required=True, help="where to write its kubeconfig")
    sandbox.add_argument("--port", type=int, default=0, help="port to listen on (0: any)")

    demo = commands.add_parser("demo", help="the whole story on this machine, end to end")
    demo.add_argument("--keep", action="store_true",
                      help="keep everything running at the end until interrupted")
    return parser


def _positive(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text} is not a positive number of seconds")
    return value


# Kopf recognises the objects of these client libraries when they are installed, which
# dask-kubernetes does for both; loading their models costs the operator about 32 MiB of
# its resident memory for nothing, since it uses neither. Kopf logs in through the
# kubernetes client instead, as the operator's own status and Event writes do.
UNUSED_CLIENTS = ("pykube", "kubernetes_asyncio")


def _run(args: argparse.Namespace) -> int:
    for name in UNUSED_CLIENTS:
        # A module set to None in sys.modules makes its import raise ImportError.
        sys.modules.setdefault(name, None)  # type: ignore[arg-type]
    import kopf

    from . import handlers  # noqa: F401  (registers the handlers with Kopf)

    kopf.configure(
        verbose=args.verbose, debug=args.debug, quiet=args.quiet,
        log_format={"plain": kopf.LogFormat.PLAIN, "full": kopf.LogFormat.FULL,
                    "json": kopf.LogFormat.JSON}[args.log_format],
    )
    logging.getLogger("distributed").setLevel(logging.WARNING)
    if not (args.verbose or args.debug):
        # Kopf reports every handler call at info level; ours report what matters.
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    config = OperatorConfig(
        check_interval=args.check_interval, concurrency=args.concurrency,
        rpc_timeout=args.rpc_timeout, deletion_timeout=args.deletion_timeout,
        metrics_port=args.metrics_port, namespaced=bool(args.namespace),
    )
    kopf.run(
        clusterwide=not args.namespace,
        namespaces=args.namespace,
        liveness_endpoint=args.liveness,
        standalone=args.standalone or not args.peering,
        peering_name=args.peering,
        priority=args.priority,
        memo=kopf.Memo(config=config),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
