"""Real local Dask clusters for tests and benchmarks: a scheduler and workers as processes.

    with LocalDaskCluster(workers=2, nanny=True, env={"PYTHONPATH": EXAMPLE}) as cluster:
        cluster.address                      # tcp://127.0.0.1:<port>
        worker = cluster.add_worker(nanny=False)
        worker.log()                         # everything the worker wrote so far
        cluster.restart_scheduler()          # same port; old workers are replaced

Each process writes to its own log file; helpers wait on log lines rather than
sleeping, and every wait has a deadline so a broken cluster fails a test, never hangs it.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType

STARTUP_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class DaskProcess:
    """One scheduler or worker (with its nanny, if any) and its log file."""

    def __init__(self, name: str, command: Sequence[str], env: Mapping[str, str], log: Path):
        self.name = name
        self.command = list(command)
        self.log_path = log
        self._log_file = open(log, "ab")  # noqa: SIM115 - closed in stop()
        # A session of its own, so stopping also stops a nanny's worker process.
        self.process = subprocess.Popen(
            self.command,
            env=dict(env),
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def log(self) -> str:
        """Everything the process has written so far."""
        return self.log_path.read_text(errors="replace")

    def count(self, pattern: str) -> int:
        """How many times ``pattern`` (a regular expression) appears in the log."""
        return len(re.findall(pattern, self.log()))

    def wait_for_log(self, pattern: str, count: int = 1, timeout: float = STARTUP_TIMEOUT) -> str:
        """Wait until ``pattern`` appears ``count`` times; return the last match."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            matches = re.findall(pattern, self.log())
            if len(matches) >= count:
                return str(matches[-1])
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        raise TimeoutError(
            f"{self.name} did not log {pattern!r} {count} time(s) "
            f"(exit code {self.process.poll()}); log:\n{self.log()[-3000:]}"
        )

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        """Stop the process and its children: SIGTERM first, SIGKILL if it lingers."""
        if self.running:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(STOP_TIMEOUT)
        # The nanny's worker lives in the same session; make sure it is gone too.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self._log_file.close()


class DaskWorker(DaskProcess):
    """A worker, with a nanny or without; ``address`` is the worker's, not the nanny's."""

    nanny: bool

    @property
    def address(self) -> str:
        """The current worker address (a nanny restart gives the worker a new port)."""
        return self.wait_for_log(r"Start worker at:\s+(\S+)")

    def wait_until_registered(self, count: int = 1, timeout: float = STARTUP_TIMEOUT) -> None:
        """Wait until the worker has joined the scheduler ``count`` times in its life."""
        self.wait_for_log(r"Registered to:", count, timeout)


class LocalDaskCluster:
    """A scheduler and workers as subprocesses on free ports of 127.0.0.1.

    ``env`` is added to the current environment (use it for PYTHONPATH); ``python`` is
    the interpreter to run Dask with, so another venv gives another Python or
    distributed version.
    """

    def __init__(
        self,
        workers: int = 2,
        nanny: bool = True,
        env: Mapping[str, str] | None = None,
        python: str | os.PathLike[str] | None = None,
        log_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        self.python = str(python or sys.executable)
        self.env = {**os.environ, **(env or {})}
        self.env.setdefault("PYTHONUNBUFFERED", "1")
        self.port = free_port()
        self.log_dir = Path(log_dir or tempfile.mkdtemp(prefix="localdask-"))
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.workers: list[DaskWorker] = []
        self._started = 0
        self.scheduler = self._start_scheduler()
        try:
            for _ in range(workers):
                self.add_worker(nanny=nanny)
        except BaseException:
            self.stop()
            raise

    @property
    def address(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"

    def add_worker(self, nanny: bool = True, wait: bool = True) -> DaskWorker:
        """Start one more worker; by default wait until it has joined the scheduler."""
        self._started += 1
        name = f"worker-{self._started}"
        command = [
            self.python, "-m", "distributed.cli.dask_worker", self.address,
            "--name", name, "--nthreads", "1", "--host", "127.0.0.1",
            "--no-dashboard", "--nanny" if nanny else "--no-nanny",
            "--local-directory", str(self.log_dir / name),
        ]  # fmt: skip
        worker = DaskWorker(name, command, self.env, self.log_dir / f"{name}.log")
        worker.nanny = nanny
        self.workers.append(worker)
        if wait:
            worker.wait_until_registered()
        return worker

    def stop_worker(self, worker: DaskWorker) -> None:
        worker.stop()
        self.workers.remove(worker)

    def restart_scheduler(self, workers: bool = True) -> None:
        """Stop the scheduler and start a new one on the same port.

        Workers do not rejoin a new scheduler, so by default they are replaced by as
        many new ones of the same kinds.
        """
        kinds = [worker.nanny for worker in self.workers]
        if workers:
            for worker in list(self.workers):
                self.stop_worker(worker)
        self.scheduler.stop()
        self.scheduler = self._start_scheduler()
        if workers:
            for nanny in kinds:
                self.add_worker(nanny=nanny)

    def stop(self) -> None:
        """Stop every worker, then the scheduler."""
        for worker in list(self.workers):
            self.stop_worker(worker)
        self.scheduler.stop()

    def __enter__(self) -> LocalDaskCluster:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()

    def _start_scheduler(self) -> DaskProcess:
        command = [
            self.python, "-m", "distributed.cli.dask_scheduler",
            "--host", "127.0.0.1", "--port", str(self.port), "--no-dashboard",
        ]  # fmt: skip
        log = self.log_dir / "scheduler.log"
        # The log is kept across restarts: wait for one more start line than it has.
        before = log.read_text(errors="replace").count("Scheduler at:") if log.exists() else 0
        scheduler = DaskProcess("scheduler", command, self.env, log)
        scheduler.wait_for_log(r"Scheduler at:", count=before + 1)
        return scheduler
