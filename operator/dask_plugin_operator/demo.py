"""``dask-plugin-operator demo``: the whole story on one machine, checked as it goes.

It starts the sandbox (a Kubernetes API emulator), a real local Dask scheduler with two
workers, a DaskCluster and its scheduler Service pointing at that scheduler, and the
operator; applies the ErrorLogger example with kubectl; and then shows, step by step,
what a user would look for. Every step is verified; the demo exits 0 only if all of them
really happened, and it stops every process it started.
"""

from __future__ import annotations

import contextlib
import operator
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import yaml

from .localdask import LocalDaskCluster
from .sandbox import SandboxThread

NAMESPACE = "default"
PLUGIN = "errorlogger"
CLUSTER = "demo"
STEP_TIMEOUT = 60.0


class DemoFailed(Exception):
    """A step did not happen; the message says which and what was seen instead."""


def find_examples() -> Path:
    """The examples folder of the checkout the package was installed from, or of cwd."""
    candidates = [Path.cwd(), *Path(__file__).resolve().parents]
    for base in candidates:
        folder = base / "examples" / "errorlogger"
        if (folder / "errorlogger-plugin.yaml").exists():
            return folder
    raise DemoFailed("examples/errorlogger was not found; run the demo from a checkout "
                     "of dask-plugin-operator.")


def say(text: str) -> None:
    print(f"\n==> {text}", flush=True)


def show(text: str) -> None:
    for line in text.rstrip().splitlines():
        print(f"    {line}", flush=True)


def wait_until(what: str, check: Callable[[], bool], timeout: float = STEP_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise DemoFailed(f"Timed out after {timeout:g} s waiting until {what}.")


class Demo:
    def __init__(self, workdir: Path, examples: Path) -> None:
        self.workdir = workdir
        self.examples = examples
        self.kubeconfig = workdir / "kubeconfig"
        self.env = {
            **os.environ,
            "KUBECONFIG": str(self.kubeconfig),
            "KUBECACHEDIR": str(workdir / "kubecache"),
        }

    def kubectl(self, *args: str, check: bool = True) -> str:
        kubectl = shutil.which("kubectl")
        if kubectl is None:
            raise DemoFailed("kubectl is not on PATH; install it to run the demo.")
        done = subprocess.run([kubectl, *args], env=self.env, capture_output=True,
                              text=True, timeout=STEP_TIMEOUT)
        if check and done.returncode != 0:
            raise DemoFailed(f"kubectl {' '.join(args)} failed: {done.stderr.strip()}")
        return done.stdout + done.stderr

    @contextlib.contextmanager
    def run_operator(self) -> Iterator[subprocess.Popen[bytes]]:
        log = open(self.workdir / "operator.log", "wb")  # noqa: SIM115 - closed below
        process = subprocess.Popen(
            [sys.executable, "-m", "dask_plugin_operator", "run", "--namespace", NAMESPACE,
             "--standalone", "--check-interval", "5"],
            env=self.env, stdout=log, stderr=subprocess.STDOUT,
        )
        try:
            yield process
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            log.close()

    def cluster_manifests(self, address: str) -> str:
        """The example DaskCluster, and the Service dask-kubernetes would have made."""
        cluster = yaml.safe_load((self.examples / "daskcluster.yaml").read_text())
        host, port = address.removeprefix("tcp://").rsplit(":", 1)
        service = {
            "apiVersion": "v1", "kind": "Service",
            "metadata": {
                "name": f"{CLUSTER}-scheduler", "namespace": NAMESPACE,
                "labels": {"dask.org/cluster-name": CLUSTER,
                           "dask.org/component": "scheduler"},
            },
            "spec": {
                # The local scheduler stands in for the scheduler Pod behind this Service.
                "clusterIP": host,
                "ports": [{"name": "tcp-comm", "port": int(port), "protocol": "TCP"}],
            },
        }
        return yaml.safe_dump_all([cluster, service])

    def apply(self, text: str) -> str:
        path = self.workdir / f"manifest-{time.monotonic_ns()}.yaml"
        path.write_text(text)
        return self.kubectl("apply", "-f", str(path))

    def plugin_status(self) -> dict[str, Any]:
        output = self.kubectl("get", "workerplugin", PLUGIN, "-n", NAMESPACE, "-o", "yaml")
        return dict(yaml.safe_load(output).get("status") or {})


def run_demo(keep_going: bool = False) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="dask-plugin-operator-demo-"))
    try:
        examples = find_examples()
        _story(Demo(workdir, examples), keep_going)
    except DemoFailed as failure:
        print(f"\nDEMO FAILED: {failure}\nLogs are in {workdir}.", file=sys.stderr)
        return 1
    print("\nThe demo completed: every step above was checked.")
    shutil.rmtree(workdir, ignore_errors=True)
    return 0


def _story(demo: Demo, keep_going: bool) -> None:
    say("Starting the sandbox: a local Kubernetes API emulator with the CRDs installed.")
    with SandboxThread() as sandbox:
        sandbox.write_kubeconfig(demo.kubeconfig)
        show(f"API at {sandbox.url}; kubeconfig at {demo.kubeconfig}")

        say("Starting a real Dask scheduler with two workers (one under a nanny).")
        env = {"PYTHONPATH": str(demo.examples)}
        with LocalDaskCluster(workers=0, env=env, log_dir=demo.workdir / "dask") as dask:
            first = dask.add_worker(nanny=True)
            second = dask.add_worker(nanny=False)
            show(f"scheduler at {dask.address}")
            _with_cluster(demo, dask, first, second, keep_going)


def _with_cluster(demo: Demo, dask: LocalDaskCluster, first: Any, second: Any,
                  keep_going: bool) -> None:
    say("Creating the DaskCluster 'demo' and its scheduler Service.")
    show(demo.apply(demo.cluster_manifests(dask.address)))

    say("Starting the operator: dask-plugin-operator run --namespace default.")
    with demo.run_operator() as process:
        say("Applying examples/errorlogger/errorlogger-plugin.yaml with kubectl.")
        show(demo.kubectl("apply", "-f",
                          str(demo.examples / "errorlogger-plugin.yaml")))

        say("Waiting for the plugin to be Ready: kubectl wait --for=condition=Ready.")
        show(demo.kubectl("wait", "--for=condition=Ready", f"workerplugin/{PLUGIN}",
                          "-n", NAMESPACE, "--timeout=60s"))
        for worker in (first, second):
            show(worker.wait_for_log(r"ErrorLogger set up on worker [^;]+", timeout=30))

        _failing_task(dask, first, second)

        say("Starting a third worker: it gets the plugin from the scheduler as it joins.")
        third = dask.add_worker(nanny=True)
        show(third.wait_for_log(r"ErrorLogger set up on worker [^;]+", timeout=30))

        say("What kubectl get workerplugins shows:")
        show(demo.kubectl("get", "workerplugins", "-n", NAMESPACE))
        status = demo.plugin_status()
        show(yaml.safe_dump({"status": {k: status[k] for k in ("matched", "registered")}}))

        if keep_going:
            _pause(demo, process)

        say("Deleting the plugin: the operator unregisters it, then lets it go.")
        show(demo.kubectl("delete", "workerplugin", PLUGIN, "-n", NAMESPACE,
                          "--timeout=60s"))
        for worker in (first, second, third):
            show(worker.wait_for_log(r"ErrorLogger torn down on worker \S+", timeout=30))
        _check_unregistered(dask.address)
        show("the scheduler holds no plugin of the operator any more")


def _failing_task(dask: LocalDaskCluster, *workers: Any) -> None:
    say("Submitting a task that fails; the ErrorLogger logs it on its worker.")
    from distributed import Client

    with Client(dask.address, timeout=30) as client:  # type: ignore[no-untyped-call]
        # A standard-library function: the workers need nothing of ours to run it.
        future = client.submit(operator.truediv, 1, 0, key="divide-by-zero", pure=False)
        error = future.exception(timeout=30)
        show(f"the task raised {type(error).__name__}: {error}")

    def logged() -> bool:
        return any(w.count(r"Task \S*divide-by-zero\S* failed on worker") for w in workers)

    wait_until("a worker logs the failed task", logged, timeout=30)
    for worker in workers:
        if worker.count(r"divide-by-zero"):
            show(worker.wait_for_log(r"Task \S*divide-by-zero\S* failed on worker .*"))


def _check_unregistered(address: str) -> None:
    import asyncio

    from .scheduler import SchedulerClient

    async def records() -> dict[str, Any]:
        client = SchedulerClient(address, timeout=10)
        try:
            return dict(await client.records())
        finally:
            await client.close()

    left = asyncio.run(records())
    if left:
        raise DemoFailed(f"The scheduler still holds {sorted(left)} after deletion.")


def _pause(demo: Demo, process: subprocess.Popen[bytes]) -> None:
    say(f"Everything keeps running. In another shell: export KUBECONFIG={demo.kubeconfig}"
        " and try kubectl. Press Ctrl-C here to go on.")
    with contextlib.suppress(KeyboardInterrupt):
        while process.poll() is None:
            time.sleep(1)
