"""Running the sandbox: in an event loop, in a background thread, or as a command.

``Sandbox`` serves the emulated API on 127.0.0.1 for the duration of an ``async with``;
``SandboxThread`` does the same in a thread of its own, for synchronous code and fixtures;
``run_sandbox`` serves until SIGINT or SIGTERM, for people and scripts.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from aiohttp import web

from . import crds as crd_files
from .api import SandboxApi
from .builtin import CRDS, PEERING_CRDS
from .crds import CrdSource
from .faults import FaultInjector, FaultRule, RequestLog, RequestRecord
from .kubeconfig import write_kubeconfig
from .operations import ClusterState

logger = logging.getLogger(__name__)


class Sandbox:
    """A Kubernetes API emulator serving on 127.0.0.1 while the context is entered.

    ``crds`` replaces our own CRDs (``crds/*.yaml`` of the package) if given; the DaskCluster
    CRD of dask-kubernetes and Kopf's peering CRDs are installed unless switched off. The
    ``namespaces`` exist from the start. A watch can resume from the last
    ``history_limit`` changes; older versions answer 410 Gone. Watches that allow
    bookmarks get one every ``bookmark_interval`` seconds.

    ``state`` (the objects) belongs to the sandbox's event loop: from other threads, use the
    API, ``add_fault`` and ``recent_requests``, which are thread-safe.
    """

    def __init__(
        self,
        crds: Sequence[CrdSource] | None = None,
        port: int = 0,
        *,
        install_daskcluster_crd: bool = True,
        install_peering_crds: bool = True,
        namespaces: Sequence[str] = ("default",),
        history_limit: int = 10_000,
        bookmark_interval: float = 30.0,
    ) -> None:
        self.port = port
        self.crd_sources: list[CrdSource] = (
            list(crds) if crds is not None else list(crd_files.project_crd_files())
        )
        if install_daskcluster_crd:
            self.crd_sources.append(crd_files.daskcluster_crd_file())
        if install_peering_crds:
            self.crd_sources.extend(PEERING_CRDS)
        self.namespaces = tuple(namespaces)
        self.state = ClusterState(history_limit)
        self.faults = FaultInjector()
        self.requests = RequestLog()
        self.api = SandboxApi(self.state, self.faults, self.requests, bookmark_interval)
        self._runner: web.ServerRunner | None = None
        self._url: str | None = None

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``, once serving."""
        if self._url is None:
            raise RuntimeError("The sandbox is not serving yet.")
        return self._url

    def write_kubeconfig(self, path: Path) -> Path:
        """Write a kubeconfig for this sandbox (context ``dask-plugin-operator-sandbox``)."""
        return write_kubeconfig(path, self.url)

    def add_fault(self, path: str, status: int, method: str | None = None,
                  count: int | None = 1) -> FaultRule:
        """Make requests matching ``path`` (a regex) fail with ``status``, ``count`` times."""
        return self.faults.add(FaultRule(path=path, status=status, method=method, count=count))

    def recent_requests(self, since: int = 0) -> list[RequestRecord]:
        """The requests served recently, oldest first."""
        return self.requests.records(since)

    async def __aenter__(self) -> Sandbox:
        self._install()
        server = web.Server(self.api, handler_cancellation=True, access_log=None)
        self._runner = web.ServerRunner(server, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self._url = f"http://{host}:{port}"
        self.api.address = f"{host}:{port}"
        logger.info("The Kubernetes API sandbox is serving at %s.", self._url)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # End the watch streams first, so that their clients see a clean end of stream.
        self.state.store.close_subscriptions()
        if self._runner is not None:
            await self._runner.cleanup()
        self._runner = None
        self._url = None
        logger.info("The Kubernetes API sandbox has stopped.")

    def _install(self) -> None:
        crd_info = next(i for i in self.state.registry if i.storage_key == CRDS)
        namespace_info = self.state.registry.find("", "v1", "namespaces")
        assert namespace_info is not None
        for name in self.namespaces:
            self.state.create(namespace_info, None, {"metadata": {"name": name}})
        for crd in crd_files.load_crds(self.crd_sources):
            self.state.create(crd_info, None, crd)


class SandboxThread:
    """A ``Sandbox`` in a background thread with its own event loop."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.sandbox = Sandbox(*args, **kwargs)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._ready = threading.Event()
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="k8s-sandbox", daemon=True)

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``, once started."""
        return self.sandbox.url

    def write_kubeconfig(self, path: Path) -> Path:
        """Write a kubeconfig for this sandbox."""
        return self.sandbox.write_kubeconfig(path)

    def start(self, timeout: float = 30.0) -> SandboxThread:
        """Start serving; returns once the sandbox answers requests."""
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError("The sandbox did not start in time.")
        if self._failure is not None:
            raise RuntimeError("The sandbox failed to start.") from self._failure
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Stop serving and wait for the thread to finish."""
        if self._loop is not None and self._stopping is not None:
            self._loop.call_soon_threadsafe(self._stopping.set)
        self._thread.join(timeout)

    def __enter__(self) -> SandboxThread:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def _run(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        try:
            async with self.sandbox:
                self._ready.set()
                await self._stopping.wait()
        except BaseException as failure:
            self._failure = failure
            raise
        finally:
            self._ready.set()


def run_sandbox(kubeconfig: Path, port: int = 0) -> None:
    """Serve a sandbox until SIGINT or SIGTERM, with a kubeconfig for it written first."""
    asyncio.run(_serve_until_signalled(Path(kubeconfig), port))


async def _serve_until_signalled(kubeconfig: Path, port: int) -> None:
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopping.set)
    async with Sandbox(port=port) as sandbox:
        sandbox.write_kubeconfig(kubeconfig)
        print(f"Kubernetes API sandbox serving at {sandbox.url}; "
              f"kubeconfig written to {kubeconfig} (stop with Ctrl+C).", flush=True)
        await stopping.wait()
