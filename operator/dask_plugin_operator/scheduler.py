"""Talking to Dask schedulers: register plugins, read identity, keep our records.

Everything here goes over distributed's raw RPC (a connection pool, no ``Client``),
because a ``Client`` of one distributed version may refuse a scheduler of another while
plain RPC messages are understood in every direction. Every call is bounded by a
timeout: a worker stuck in a plugin's ``setup`` can make a registration hang.

The client never unpickles what a scheduler sends back; errors are read from the text
that distributed puts beside every pickled exception.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from distributed.comm.core import Comm, CommClosedError
from distributed.core import ConnectionPool

from .loader import SETUPS_KEY
from .payload import build_retirement_payload
from .spec import PluginKind

logger = logging.getLogger(__name__)

# Where the operator keeps its bookkeeping in the scheduler's metadata store; the loaders
# report their setups beside it, under SETUPS_KEY, so one read fetches both.
NOTES_KEY = ("dask-plugin-operator",)
RECORDS_KEY = (*NOTES_KEY, "plugins")

# Registration waits for every worker's setup (pip installs, restarts): give it longer.
REGISTER_TIMEOUT_FACTOR = 6.0

# distributed raises ValueError with these words when a name is not registered.
_ABSENT_MARKS = ("does not exist", "Could not find plugin")


class SchedulerUnreachable(Exception):
    """The scheduler could not be reached or did not answer in time."""

    def __init__(self, address: str, cause: str) -> None:
        super().__init__(f"Scheduler {address} is unreachable: {cause}")
        self.address = address
        self.cause = cause


class SchedulerCallFailed(Exception):
    """The scheduler answered a call with an error raised by its handler."""

    def __init__(self, address: str, op: str, text: str) -> None:
        super().__init__(f"Scheduler {address} failed {op}: {text}")
        self.address = address
        self.op = op
        self.text = text


@dataclass(frozen=True)
class SchedulerIdentity:
    """Who a scheduler is; ``id`` and ``started`` change when it restarts."""

    id: str
    started: float
    address: str
    workers: int
    nannies: int
    python: str | None
    distributed: str | None
    worker_addresses: frozenset[str] = frozenset()
    nanny_addresses: frozenset[str] = frozenset()

    def members(self, kind: PluginKind) -> frozenset[str]:
        """The addresses that set up a plugin of ``kind`` on this scheduler now."""
        if kind == "worker":
            return self.worker_addresses
        if kind == "nanny":
            return self.nanny_addresses
        return frozenset({self.address})


@dataclass(frozen=True)
class SetupReport:
    """What one worker, nanny or scheduler said about its own setup of a plugin."""

    ok: bool
    error: str | None

    @classmethod
    def from_message(cls, message: Any) -> SetupReport | None:
        if not isinstance(message, Mapping) or "ok" not in message:
            return None
        error = message.get("error")
        return cls(ok=bool(message["ok"]), error=None if error is None else str(error))


@dataclass(frozen=True)
class RegistrationResult:
    """What one register or unregister call did, worker by worker.

    Worker and nanny plugins report per worker address; a scheduler plugin reports
    under the scheduler's own address. In a cluster where only some workers have
    nannies, distributed (2024.12 to 2026.8) pairs nanny answers with the wrong worker
    addresses; the counts stay right.
    """

    kind: PluginKind
    name: str
    ok: tuple[str, ...] = ()
    failed: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    def first_error(self) -> str | None:
        """The error text of the first failed address, in address order."""
        for address in sorted(self.failed):
            return self.failed[address]
        return None


@dataclass(frozen=True)
class PluginRecord:
    """The operator's note, kept on the scheduler, of what it registered there."""

    name: str
    kind: PluginKind
    content_hash: str
    generation: int
    seq: int
    registered_at: str

    def to_message(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "contentHash": self.content_hash,
            "generation": self.generation,
            "seq": self.seq,
            "registeredAt": self.registered_at,
        }

    @classmethod
    def from_message(cls, message: Mapping[str, Any]) -> PluginRecord:
        return cls(
            name=str(message["name"]),
            kind=message["kind"],
            content_hash=str(message["contentHash"]),
            generation=int(message["generation"]),
            seq=int(message["seq"]),
            registered_at=str(message["registeredAt"]),
        )


@dataclass(frozen=True)
class SchedulerNotes:
    """What a scheduler's metadata holds for us: records and setup reports by plugin."""

    records: dict[str, PluginRecord]
    setups: dict[str, dict[str, SetupReport]]  # plugin name -> address -> report


class SchedulerClient:
    """One scheduler, reached over a small pool of reused connections."""

    def __init__(
        self, address: str, timeout: float = 10.0, *, register_timeout: float | None = None
    ) -> None:
        self.address = address
        self.timeout = timeout
        self.register_timeout = register_timeout or timeout * REGISTER_TIMEOUT_FACTOR
        self._connections: ConnectionPool | None = None
        # Versions change only with a restart, which changes the id: ask once per id.
        self._versions_of: tuple[str, tuple[str | None, str | None]] | None = None

    async def identity(self) -> SchedulerIdentity:
        """The scheduler's id, start time, worker and nanny counts and versions."""
        if self._versions_of is None:
            # The first call on this address asks both at once: one round trip.
            info, versions = await asyncio.gather(self._call("identity"), self._versions())
            self._versions_of = (str(info["id"]), versions)
        else:
            info = await self._call("identity")
        workers = info.get("workers", {})
        nannies = sum(1 for worker in workers.values() if worker.get("nanny"))
        if self._versions_of[0] != str(info["id"]):
            self._versions_of = (str(info["id"]), await self._versions())
        python, distributed = self._versions_of[1]
        return SchedulerIdentity(
            id=str(info["id"]),
            started=float(info.get("started", 0.0)),
            address=str(info.get("address", self.address)),
            workers=int(info.get("n_workers", len(workers))),
            nannies=nannies,
            python=python,
            distributed=distributed,
            worker_addresses=frozenset(workers),
            nanny_addresses=frozenset(
                str(worker["nanny"]) for worker in workers.values() if worker.get("nanny")
            ),
        )

    async def register(self, kind: PluginKind, name: str, payload: bytes) -> RegistrationResult:
        """Register (or replace) a plugin; the result says which workers set it up."""
        # idempotent=False always: replacing is the point. distributed 2024.12 takes it
        # as optional, 2026.8 requires it; both accept it given.
        op = f"register_{kind}_plugin"
        answer = await self._call(op, plugin=payload, name=name, idempotent=False,
                                  timeout=self.register_timeout, raise_errors=False)
        return _registration_result(kind, name, self.address, answer)

    async def install(self, record: PluginRecord, payload: bytes) -> RegistrationResult:
        """Register a plugin and keep its record, in one round trip.

        The three messages go down one connection, which the scheduler reads in order:
        forget the setup reports of the content being replaced, register (waiting for
        every worker's setup), then save the record.
        """
        answers = await self._call_in_order(
            [
                ("set_metadata", {"keys": [*SETUPS_KEY, record.name], "value": {}}),
                (f"register_{record.kind}_plugin",
                 {"plugin": payload, "name": record.name, "idempotent": False}),
                ("set_metadata", {"keys": [*RECORDS_KEY, record.name],
                                  "value": record.to_message()}),
            ],
            timeout=self.register_timeout,
        )
        cleared, registered, saved = answers
        for op, answer in (("set_metadata", cleared), ("set_metadata", saved)):
            _raise_for_error(self.address, op, answer)
        return _registration_result(record.kind, record.name, self.address, registered)

    async def unregister(self, kind: PluginKind, name: str) -> RegistrationResult:
        """Remove a plugin; a name the scheduler does not hold is no error.

        Workers and nannies run the plugin's teardown; a scheduler plugin is closed.
        """
        if kind == "scheduler":
            return await self._retire(name)
        op = f"unregister_{kind}_plugin"
        try:
            answer = await self._call(op, name=name, timeout=self.register_timeout)
        except SchedulerCallFailed as error:
            if any(mark in error.text for mark in _ABSENT_MARKS):
                return RegistrationResult(kind, name)
            return _failed(kind, name, self.address, error.text)
        return _per_worker_result(kind, name, answer)

    async def _retire(self, name: str) -> RegistrationResult:
        """Close and remove a scheduler plugin through a short-lived retiring plugin."""
        # distributed's own unregister drops the plugin without closing it, so a second
        # plugin does both inside the scheduler, then is unregistered in turn.
        retiree = f"{name}.retire-{uuid.uuid4().hex[:8]}"
        payload = build_retirement_payload(retiree, name)
        retired = await self.register("scheduler", retiree, payload)
        if retired.failed:
            error = retired.first_error() or ""
            if any(mark in error for mark in _ABSENT_MARKS):
                return RegistrationResult("scheduler", name)
            return _failed("scheduler", name, self.address, error)
        await self._call("unregister_scheduler_plugin", name=retiree)
        return RegistrationResult("scheduler", name, ok=(self.address,))

    async def records(self) -> dict[str, PluginRecord]:
        """Our records kept on the scheduler, by plugin name; empty after a restart."""
        return (await self.notes()).records

    async def notes(self) -> SchedulerNotes:
        """Our records and the loaders' setup reports, read in one call."""
        stored = await self._call("get_metadata", keys=list(NOTES_KEY), default={})
        stored = stored if isinstance(stored, Mapping) else {}
        records = {}
        for name, message in (stored.get(RECORDS_KEY[-1]) or {}).items():
            if message is not None:  # None marks a dropped record.
                records[name] = PluginRecord.from_message(message)
        setups: dict[str, dict[str, SetupReport]] = {}
        for name, by_address in (stored.get(SETUPS_KEY[-1]) or {}).items():
            reports = {str(address): SetupReport.from_message(message)
                       for address, message in (by_address or {}).items()}
            setups[name] = {a: r for a, r in reports.items() if r is not None}
        return SchedulerNotes(records, setups)

    async def save_record(self, record: PluginRecord) -> None:
        keys = [*RECORDS_KEY, record.name]
        await self._call("set_metadata", keys=keys, value=record.to_message())

    async def drop_record(self, name: str) -> None:
        # set_metadata cannot delete a key; None keeps the call a single atomic write.
        await self._call("set_metadata", keys=[*RECORDS_KEY, name], value=None)

    async def close(self) -> None:
        if self._connections is not None:
            connections, self._connections = self._connections, None
            await connections.close()

    async def _versions(self) -> tuple[str | None, str | None]:
        """Python and distributed versions of the scheduler, if it tells them."""
        try:
            versions = await self._call("versions")
        except SchedulerCallFailed:
            return None, None
        host = versions.get("host", {}) if isinstance(versions, dict) else {}
        packages = versions.get("packages", {}) if isinstance(versions, dict) else {}
        python = host.get("python") or packages.get("python")
        if isinstance(python, str):
            python = ".".join(python.split(".")[:3])
        return python, packages.get("distributed")

    async def _call(self, op: str, *, timeout: float | None = None, raise_errors: bool = True,
                    **message: Any) -> Any:
        """Send one message and read its answer, within ``timeout`` seconds.

        An error raised by the scheduler's handler becomes SchedulerCallFailed, or is
        returned as the answer it is with ``raise_errors=False``.
        """
        (answer,) = await self._call_in_order([(op, message)], timeout=timeout)
        if raise_errors:
            _raise_for_error(self.address, op, answer)
        return answer

    async def _call_in_order(self, calls: list[tuple[str, dict[str, Any]]], *,
                             timeout: float | None = None) -> list[Any]:
        """Send messages down one connection and read their answers, in one round trip.

        The scheduler handles the messages of one connection one after another, so they
        take effect in the order given. Errors raised by its handlers are answers here.
        Connecting is bounded by the client's timeout and the answers by ``timeout``, so
        a scheduler nobody can reach is told apart from one that does not answer.
        """
        limit = timeout or self.timeout
        op = " then ".join(name for name, _ in calls)
        try:
            return await self._exchange(calls, limit)
        except SchedulerUnreachable:
            raise
        except asyncio.TimeoutError:
            raise SchedulerUnreachable(
                self.address, f"no answer to {op} within {limit:g} s"
            ) from None
        except OSError as error:
            raise SchedulerUnreachable(
                self.address, f"{op} failed: {type(error).__name__}: {error}"
            ) from error
        except Exception as error:
            # E.g. an HTTP server at the address: its answer is no Dask message at all.
            raise SchedulerUnreachable(
                self.address, f"{op} failed; is this a Dask scheduler's comm port? "
                f"{type(error).__name__}: {error}"
            ) from error

    async def _exchange(self, calls: list[tuple[str, dict[str, Any]]],
                        limit: float) -> list[Any]:
        # A pooled connection may have been closed by a scheduler that restarted since;
        # that shows only on use, so one fresh connection is tried before giving up.
        try:
            return await self._exchange_once(calls, limit)
        except CommClosedError:
            connections = await self._pool()
            connections.remove(self.address)
            return await self._exchange_once(calls, limit)

    async def _exchange_once(self, calls: list[tuple[str, dict[str, Any]]],
                             limit: float) -> list[Any]:
        connections = await self._pool()
        comm = await self._connect(connections)
        try:
            return await asyncio.wait_for(_talk(comm, calls), limit)
        finally:
            connections.reuse(self.address, comm)

    async def _connect(self, connections: ConnectionPool) -> Comm:
        """A connection to the scheduler, from the pool or new and shaken hands with."""
        # distributed gives up connecting after the timeout but waits for the handshake
        # without end; a second timeout's worth bounds that wait.
        handshake_limit = 2 * self.timeout
        try:
            return await asyncio.wait_for(connections.connect(self.address), handshake_limit)
        except asyncio.TimeoutError:
            raise SchedulerUnreachable(
                self.address, f"connected, but no Dask handshake within {handshake_limit:g} s; "
                "is this the scheduler's comm port (not its dashboard)?"
            ) from None
        except OSError as error:
            # Not the error of distributed's last attempt: whether that was a refusal or
            # a timeout varies from try to try, and the status would change with it.
            raise SchedulerUnreachable(
                self.address, f"no connection within {self.timeout:g} s"
            ) from error
        except (ValueError, TypeError) as error:
            # distributed raises these for malformed addresses, and for tls:// ones
            # without TLS settings; the runtime checks annotations before it gets here.
            raise SchedulerUnreachable(
                self.address, f"the address is not one Dask can connect to: {error}"
            ) from error

    async def _pool(self) -> ConnectionPool:
        if self._connections is None:
            # deserialize=False: answers stay bytes, nothing from a cluster is unpickled.
            connections = ConnectionPool(limit=4, deserialize=False, timeout=self.timeout)
            await connections.start()
            self._connections = connections
        return self._connections


class SchedulerPool:
    """The operator's scheduler clients, one per address, closed together."""

    def __init__(self, timeout: float = 10.0, *, register_timeout: float | None = None) -> None:
        self.timeout = timeout
        self.register_timeout = register_timeout
        self._clients: dict[str, SchedulerClient] = {}

    def client(self, address: str) -> SchedulerClient:
        if address not in self._clients:
            self._clients[address] = SchedulerClient(
                address, self.timeout, register_timeout=self.register_timeout
            )
        return self._clients[address]

    async def close(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        await asyncio.gather(*(client.close() for client in clients), return_exceptions=True)


async def _talk(comm: Comm, calls: list[tuple[str, dict[str, Any]]]) -> list[Any]:
    """Write every message, then read every answer, on one connection."""
    try:
        for op, message in calls:
            request = {"op": op, "reply": True, **message}
            await comm.write(request, on_error="raise")  # type: ignore[no-untyped-call]
        return [await comm.read() for _ in calls]  # type: ignore[no-untyped-call]
    except BaseException:
        # A half-used connection cannot be reused: its next read would be ours.
        comm.abort()  # type: ignore[no-untyped-call]
        raise


def _raise_for_error(address: str, op: str, answer: Any) -> None:
    """Raise SchedulerCallFailed if ``answer`` is an error raised by the handler of ``op``."""
    if isinstance(answer, dict) and answer.get("status") in ("error", "uncaught-error"):
        raise SchedulerCallFailed(address, op, str(answer.get("exception_text") or answer))


def _registration_result(kind: PluginKind, name: str, address: str,
                         answer: Any) -> RegistrationResult:
    """What a register call's answer says, worker by worker (or for the scheduler)."""
    try:
        _raise_for_error(address, f"register_{kind}_plugin", answer)
    except SchedulerCallFailed as error:
        return _failed(kind, name, address, error.text)
    if kind == "scheduler":
        return RegistrationResult(kind, name, ok=(address,))
    return _per_worker_result(kind, name, answer)


def _per_worker_result(kind: PluginKind, name: str, answer: Any) -> RegistrationResult:
    """Split a scheduler's {worker address: answer} into OK and failed workers."""
    ok: list[str] = []
    failed: dict[str, str] = {}
    for address, response in (answer or {}).items():
        status = response.get("status") if isinstance(response, dict) else response
        if status == "OK":
            ok.append(address)
        elif isinstance(response, dict):
            failed[address] = str(response.get("exception_text") or response)
        else:
            failed[address] = str(response)
    return RegistrationResult(kind, name, tuple(sorted(ok)), MappingProxyType(failed))


def _failed(kind: PluginKind, name: str, address: str, text: str) -> RegistrationResult:
    return RegistrationResult(kind, name, failed=MappingProxyType({address: text}))
