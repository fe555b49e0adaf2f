"""ErrorLogger: a Dask worker plugin that logs every task that fails on a worker."""

from .plugins import ErrorLogger

__all__ = ["ErrorLogger"]
