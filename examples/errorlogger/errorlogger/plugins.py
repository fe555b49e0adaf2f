"""The ErrorLogger worker plugin.

A task that raises ends in the ``error`` state on its worker. ErrorLogger watches
the worker's task transitions and writes one log line per failed task, with its key and
the exception text, to a logger chosen by name (a WorkerPlugin resource carries plain
data, so the logger travels as its name).
"""

from __future__ import annotations

import logging
from typing import Any

from distributed.diagnostics.plugin import WorkerPlugin

DEFAULT_LOGGER = "distributed.worker.errors"


class ErrorLogger(WorkerPlugin):
    """Log every task that fails on this worker to the logger named ``logger``."""

    def __init__(self, logger: str = DEFAULT_LOGGER, level: str = "ERROR") -> None:
        self.logger_name = logger
        self.level = logging.getLevelName(level.upper())
        self.worker: Any = None

    @property
    def log(self) -> logging.Logger:
        return logging.getLogger(self.logger_name)

    def setup(self, worker: Any) -> None:
        self.worker = worker
        # Loggers below "distributed" inherit its handler, so this line reaches the
        # worker's log; demos and tests look for it.
        self.log.warning(
            "ErrorLogger set up on worker %s; failed tasks go to logger %r.",
            worker.address,
            self.logger_name,
        )

    def teardown(self, worker: Any) -> None:
        self.log.warning("ErrorLogger torn down on worker %s.", worker.address)
        self.worker = None

    def transition(self, key: Any, start: str, finish: str, **kwargs: Any) -> None:
        if finish != "error" or self.worker is None:
            return
        task = self.worker.state.tasks.get(key)
        reason = getattr(task, "exception_text", "") or "unknown exception"
        address = self.worker.address
        self.log.log(self.level, "Task %s failed on worker %s: %s", key, address, reason)
