"""The processes a benchmark drives: the API sandbox and the operator, with their costs.

Both run as subprocesses, so that the operator's memory and CPU time can be read from
``/proc`` alone, without the sandbox's share or the benchmark's own.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

STARTUP_TIMEOUT = 60.0
STOP_TIMEOUT = 20.0
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def wait_until(what: str, probe: Callable[[], object], timeout: float,
               interval: float = 0.05) -> None:
    """Poll ``probe()`` until it is truthy; raise TimeoutError naming ``what`` otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if probe():
            return
        time.sleep(interval)
    raise TimeoutError(f"Timed out after {timeout:g} s waiting until {what}.")


class Child:
    """A subprocess whose output goes to a log file."""

    def __init__(self, command: Sequence[str], log: Path, env: dict[str, str]) -> None:
        self.command = list(command)
        self.log_path = log
        self._log = open(log, "ab")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(self.command, env=env, stdout=self._log,
                                        stderr=subprocess.STDOUT)

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for_log(self, pattern: str, timeout: float = STARTUP_TIMEOUT) -> None:
        def seen() -> bool:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.command[:4]} exited early; its log:\n"
                                   f"{self.log()[-3000:]}")
            return re.search(pattern, self.log()) is not None

        wait_until(f"{self.log_path.name} shows {pattern!r}", seen, timeout, interval=0.1)

    def rss_bytes(self) -> int:
        """Resident memory now, from /proc."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError("VmRSS is missing from /proc/<pid>/status.")

    def cpu_seconds(self) -> float:
        """User plus system CPU time used so far, from /proc."""
        stat = Path(f"/proc/{self.pid}/stat").read_text()
        fields = stat[stat.rindex(")") + 2:].split()
        return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


class SandboxProcess(Child):
    """``python -m dask_plugin_operator.sandbox``, serving until stopped."""

    def __init__(self, workdir: Path) -> None:
        self.kubeconfig = workdir / "kubeconfig"
        command = [sys.executable, "-m", "dask_plugin_operator.sandbox",
                   "--kubeconfig", str(self.kubeconfig)]
        super().__init__(command, workdir / "sandbox.log", dict(os.environ))
        self.wait_for_log(r"serving at")


class OperatorProcess(Child):
    """``dask-plugin-operator run`` on some namespaces, logging at debug level if asked.

    ``code`` is the ``operator/`` folder of another source tree (a git worktree of an
    earlier commit, say) to run instead of the installed package.
    """

    def __init__(self, sandbox: SandboxProcess, namespaces: Sequence[str], log: Path,
                 *extra: str, verbose: bool = False, code: Path | None = None) -> None:
        command = [sys.executable, "-m", "dask_plugin_operator", "run", "--standalone",
                   *(arg for ns in namespaces for arg in ("--namespace", ns)), *extra]
        if verbose:
            command += ["--verbose", "--log-format", "json"]
        env = {**os.environ, "KUBECONFIG": str(sandbox.kubeconfig)}
        if code is not None:  # another source tree's package goes before the installed one
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(code),
                                                              env.get("PYTHONPATH")]))
        super().__init__(command, log, env)
        self.wait_for_log(r"The operator is running")
