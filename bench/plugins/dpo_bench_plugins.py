"""The plugin the benchmarks register: it notes when its setup ran, and where.

Each setup writes the wall-clock time into a file of its own under ``marks/tag/``, so a
benchmark learns when every worker ran the plugin by listing a directory, without
polling schedulers or parsing logs while the clock runs.
"""

from __future__ import annotations

import os
import time
from typing import Any

from distributed.diagnostics.plugin import WorkerPlugin


class Mark(WorkerPlugin):
    """Writes ``<marks>/<tag>/<pid>`` holding the time its setup ran on a worker."""

    def __init__(self, marks: str, tag: str) -> None:
        self.marks = marks
        self.tag = tag

    def setup(self, worker: Any) -> None:
        now = time.time()
        folder = os.path.join(self.marks, self.tag)
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, str(os.getpid()))
        with open(path + ".tmp", "w") as handle:
            handle.write(repr(now))
        os.replace(path + ".tmp", path)
