"""The loader plugins that run inside Dask workers, nannies and schedulers.

The operator never ships a user's plugin class. It ships the *source text* of this
module together with plain data (plugin name, module path, class name, arguments), and
the receiving process ``exec``s the text and calls :func:`build_plugin`. The loader it
builds imports the user's module only in ``setup()`` (workers and nannies) or ``start()``
(schedulers), so a module that is missing there fails in that hook, is reported through
the registration result, and leaves the process running.

Every loader also reports how its hook went to the scheduler's metadata, under
``SETUPS_KEY + (plugin name, own address)``. A worker that joins later sets plugins up
without the operator being asked; this report is how the operator learns the result.

Because this text runs on clusters we do not control, it uses only the standard library
and ``distributed``, imports nothing from our package, and must work on Python 3.10 to
3.13 with distributed 2024.12.1 to 2026.8.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import inspect
import logging
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from typing import Any

from distributed.diagnostics.plugin import NannyPlugin, SchedulerPlugin, WorkerPlugin

logger = logging.getLogger("distributed.dask_plugin_operator")

LOADER_MARK = "dask_plugin_operator_loader"

# Where setup results go in the scheduler's metadata; scheduler.py reads the same key.
SETUPS_KEY = ("dask-plugin-operator", "setups")

# A report is best effort: a scheduler that does not take it soon must not hold up setup.
REPORT_TIMEOUT = 5.0


async def _settle(result: Any) -> Any:
    """Await a hook's result when the hook was a coroutine function."""
    if inspect.isawaitable(result):
        return await result
    return result


def _instantiate(data: dict[str, Any]) -> Any:
    """Build the real plugin object that a loader delegates to."""
    source = data["source"]
    if source["type"] == "module":
        module = importlib.import_module(source["module"])
        cls = getattr(module, source["class"])
        return cls(*source.get("args", []), **source.get("kwargs", {}))
    if source["type"] == "environ":
        from distributed.diagnostics.plugin import Environ

        return Environ(dict(source["environ"]))
    if source["type"] == "pipInstall":
        return _PipInstaller(source["packages"], source.get("options", []))
    if source["type"] == "retire":
        return _Retirement(source["target"])
    raise ValueError(f"Unknown plugin source type {source['type']!r}.")


@contextlib.contextmanager
def _host_lock(name: str) -> Iterator[None]:
    """Serialise installs among the processes of one host, where ``fcntl`` exists."""
    try:
        import fcntl
    except ImportError:  # Windows: no lock, installs may overlap.
        yield
        return
    path = os.path.join(tempfile.gettempdir(), f"dask-plugin-operator-{name}.lock")
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _report_value(error: BaseException | None) -> dict[str, Any]:
    # repr, like the text distributed puts beside a failed registration's exception.
    return {"ok": error is None, "error": None if error is None else repr(error)}


async def _report(server: Any, name: str, error: BaseException | None) -> None:
    """Tell the scheduler, through the worker's or nanny's RPC, how setup went here."""
    keys = [*SETUPS_KEY, name, str(server.address)]
    try:
        call = server.scheduler.set_metadata(keys=keys, value=_report_value(error))
        await asyncio.wait_for(call, REPORT_TIMEOUT)
    except Exception as exc:  # the report must never change how setup ends
        logger.info("Could not report the setup of plugin %s to the scheduler: %r.",
                    name, exc)


class _PipInstaller:
    """Runs ``pip install`` in the interpreter of the worker or nanny it is set up on."""

    def __init__(self, packages: list[str], options: list[str]) -> None:
        self.packages = list(packages)
        self.options = list(options)

    async def setup(self, worker: Any = None, nanny: Any = None) -> None:
        # pip can take minutes: run it off the event loop so heartbeats go on.
        await asyncio.get_running_loop().run_in_executor(None, self._install)

    def _install(self) -> None:
        command = [sys.executable, "-m", "pip", "install", *self.options, *self.packages]
        logger.info("Installing %s with pip.", " ".join(self.packages))
        with _host_lock("pip"):
            done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"pip install failed: {done.stderr.strip()[-2000:]}")


class _Retirement:
    """Closes and removes one scheduler plugin, which distributed removes without close.

    Registered as a scheduler plugin of its own: its ``start`` is the only hook that
    runs inside the scheduler on request. A missing target fails the registration, so
    the caller learns that there was nothing to remove.
    """

    def __init__(self, target: str) -> None:
        self.target = target

    async def start(self, scheduler: Any) -> None:
        plugin = scheduler.plugins.get(self.target)
        if plugin is None:
            raise ValueError(f"Could not find plugin {self.target!r} to retire.")
        try:
            await _settle(plugin.close())
        finally:
            scheduler.plugins.pop(self.target, None)


class _Loader:
    """What the three loader classes share: plain data in, one real plugin out."""

    def __init__(self, data: dict[str, Any], source_text: str) -> None:
        self.name = data["name"]
        self.data = data
        self.source_text = source_text
        self.plugin: Any = None
        setattr(self, LOADER_MARK, True)

    async def _reported(self, server: Any, setup: Any) -> None:
        """Run ``setup()`` (a coroutine function), then report its result."""
        try:
            await setup()
        except Exception as exc:
            await _report(server, self.name, exc)
            raise
        await _report(server, self.name, None)

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled again (a cluster dump, a forwarded plugin): stay portable.
        return portable_reduction(self.source_text, self.data)

    def _delegate(self, hook: str, *args: Any, **kwargs: Any) -> Any:
        method = getattr(self.plugin, hook, None)
        if method is None:
            return None
        return method(*args, **kwargs)


class WorkerLoader(_Loader, WorkerPlugin):
    """A worker plugin that imports the real one in ``setup`` and forwards every hook."""

    async def setup(self, worker: Any) -> None:
        await self._reported(worker, lambda: self._set_up(worker))

    async def _set_up(self, worker: Any) -> None:
        self.plugin = _instantiate(self.data)
        await _settle(self._delegate("setup", worker=worker))

    async def teardown(self, worker: Any) -> None:
        await _settle(self._delegate("teardown", worker=worker))

    def transition(self, *args: Any, **kwargs: Any) -> None:
        self._delegate("transition", *args, **kwargs)


class NannyLoader(_Loader, NannyPlugin):
    """A nanny plugin that imports the real one in ``setup`` and forwards every hook.

    The nanny reads ``restart`` after ``setup`` returns; built-ins that restart the
    worker (Environ, an install that asks for it) set it from the start.
    """

    def __init__(self, data: dict[str, Any], source_text: str) -> None:
        super().__init__(data, source_text)
        self.restart = bool(data.get("restart", False))

    async def setup(self, nanny: Any) -> None:
        await self._reported(nanny, lambda: self._set_up(nanny))

    async def _set_up(self, nanny: Any) -> None:
        self.plugin = _instantiate(self.data)
        self.restart = self.restart or bool(getattr(self.plugin, "restart", False))
        await _settle(self._delegate("setup", nanny=nanny))

    async def teardown(self, nanny: Any) -> None:
        await _settle(self._delegate("teardown", nanny=nanny))


class SchedulerLoader(_Loader, SchedulerPlugin):
    """A scheduler plugin that imports the real one in ``start`` and forwards every hook.

    distributed replaces a scheduler plugin of the same name without closing it; the
    loader closes its predecessor once the new plugin is built, like workers do.
    """

    async def start(self, scheduler: Any) -> None:
        # The scheduler is its own store: its report is a plain local write. A retiring
        # plugin lives for one call and is no plugin anyone asks about.
        if self.data["source"]["type"] == "retire":
            await self._start(scheduler)
            return
        keys = [*SETUPS_KEY, self.name, str(scheduler.address)]
        try:
            await self._start(scheduler)
        except Exception as exc:
            scheduler.set_metadata(keys=keys, value=_report_value(exc))
            raise
        scheduler.set_metadata(keys=keys, value=_report_value(None))

    async def _start(self, scheduler: Any) -> None:
        self.plugin = _instantiate(self.data)
        previous = scheduler.plugins.get(self.name)
        if previous is not None and getattr(previous, LOADER_MARK, False):
            await _settle(previous.close())
        await _settle(self._delegate("start", scheduler))

    async def before_close(self) -> None:
        await _settle(self._delegate("before_close"))

    async def close(self) -> None:
        await _settle(self._delegate("close"))

    def update_graph(self, *args: Any, **kwargs: Any) -> None:
        self._delegate("update_graph", *args, **kwargs)

    def restart(self, *args: Any, **kwargs: Any) -> None:
        self._delegate("restart", *args, **kwargs)

    def transition(self, *args: Any, **kwargs: Any) -> None:
        self._delegate("transition", *args, **kwargs)

    def add_worker(self, *args: Any, **kwargs: Any) -> Any:
        return self._delegate("add_worker", *args, **kwargs)

    def remove_worker(self, *args: Any, **kwargs: Any) -> Any:
        return self._delegate("remove_worker", *args, **kwargs)

    def add_client(self, *args: Any, **kwargs: Any) -> None:
        self._delegate("add_client", *args, **kwargs)

    def remove_client(self, *args: Any, **kwargs: Any) -> None:
        self._delegate("remove_client", *args, **kwargs)

    def valid_workers_downscaling(self, scheduler: Any, workers: Any) -> Any:
        if getattr(self.plugin, "valid_workers_downscaling", None) is None:
            return workers
        return self.plugin.valid_workers_downscaling(scheduler, workers)

    def log_event(self, *args: Any, **kwargs: Any) -> None:
        self._delegate("log_event", *args, **kwargs)


LOADERS: dict[str, type[_Loader]] = {
    "worker": WorkerLoader,
    "nanny": NannyLoader,
    "scheduler": SchedulerLoader,
}

# The expression a portable payload evaluates: run this module's text in the payload's
# own namespace, then build the loader. It refers to nothing but ``builtins``.
BUILD_EXPRESSION = (
    "exec(compile(__loader_source__, '<dask-plugin-operator loader>', 'exec'))"
    " or build_plugin(__plugin_data__, __loader_source__)"
)


def portable_reduction(source_text: str, data: dict[str, Any]) -> tuple[Any, ...]:
    """A pickle reduction that rebuilds a loader from text and data alone."""
    import builtins

    namespace = {
        "__name__": LOADER_MARK,
        "__loader_source__": source_text,
        "__plugin_data__": data,
    }
    return (builtins.eval, (BUILD_EXPRESSION, namespace))


def build_plugin(data: dict[str, Any], source_text: str) -> _Loader:
    """Build the loader for ``data["kind"]``; called where the payload is unpickled."""
    return LOADERS[data["kind"]](data, source_text)
