"""Dask environments of other Pythons and distributed versions, as cached venvs.

One venv per (Python, distributed) pair lives in ``.compat-venvs/`` at the repository
root (gitignored) and is built with pip on first use.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent
ROOT = TESTS.parent
VENVS = ROOT / ".compat-venvs"
PYENV = Path.home() / ".pyenv" / "versions"
PLUGIN_PATH = str(TESTS / "integration" / "plugins")

PYTHONS = ("3.10", "3.11", "3.12", "3.13")
DISTRIBUTED = ("2024.12.1", "2026.8.0")
INSTALL_TIMEOUT = 900


@dataclass(frozen=True)
class DaskEnvironment:
    """A venv with one Python minor version and one distributed version."""

    python_version: str
    distributed_version: str

    @property
    def id(self) -> str:
        return f"py{self.python_version}-distributed{self.distributed_version}"

    @property
    def path(self) -> Path:
        return VENVS / self.id

    @property
    def python(self) -> Path:
        return self.path / "bin" / "python"


MATRIX = [DaskEnvironment(p, d) for p in PYTHONS for d in DISTRIBUTED]


def base_python(version: str) -> Path | None:
    """The pyenv interpreter of a minor version, if there is one."""
    candidates = sorted(PYENV.glob(f"{version}.*/bin/python"))
    return candidates[-1] if candidates else None


def ensure_venv(environment: DaskEnvironment) -> str | None:
    """Build the venv unless it is ready; return why it cannot be used, or None."""
    marker = environment.path / ".ready"
    if marker.exists():
        return None
    base = base_python(environment.python_version)
    if base is None:
        return f"no Python {environment.python_version} under {PYENV}"
    steps = [
        [str(base), "-m", "venv", "--clear", str(environment.path)],
        [
            str(environment.python), "-m", "pip", "install", "--quiet",
            f"distributed=={environment.distributed_version}",
        ],
    ]  # fmt: skip
    for step in steps:
        done = subprocess.run(
            step, capture_output=True, text=True, timeout=INSTALL_TIMEOUT, check=False
        )
        if done.returncode != 0:
            return f"cannot build {environment.id}: {done.stderr.strip()[-500:]}"
    marker.write_text(environment.id + "\n")
    return None
