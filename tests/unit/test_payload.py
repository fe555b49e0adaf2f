"""Portable payloads: what they refer to, how they hash, and where they unpickle."""

from __future__ import annotations

import pickle
import pickletools
import subprocess
import textwrap
from pathlib import Path

import pytest

from dask_plugin_operator.payload import build_payload, content_hash, registration_kind
from dask_plugin_operator.selection import LabelSelector, Requirement
from dask_plugin_operator.spec import (
    EnvironSource,
    ModuleSource,
    PipInstallSource,
    PluginSource,
    PluginSpec,
)

PYENV = Path.home() / ".pyenv" / "versions"
OTHER_PYTHONS = sorted(PYENV.glob("3.1[023].*/bin/python"))

ERRORLOGGER = ModuleSource(
    "errorlogger.plugins", "ErrorLogger", kwargs={"logger": "distributed.worker.errors"}
)


def spec_of(source: PluginSource, kind: str = "worker", priority: int = 0) -> PluginSpec:
    return PluginSpec(kind=kind, selector=LabelSelector(), priority=priority, source=source)  # type: ignore[arg-type]


def globals_referred_to(payload: bytes) -> set[str]:
    """Every ``module.name`` the pickle would import, as STACK_GLOBAL or GLOBAL."""
    strings: list[str] = []
    found: set[str] = set()
    for opcode, argument, _ in pickletools.genops(payload):
        if opcode.name == "STACK_GLOBAL":
            found.add(f"{strings[-2]}.{strings[-1]}")
        elif opcode.name == "GLOBAL":
            found.add(str(argument).replace(" ", "."))
        elif isinstance(argument, str):
            strings.append(argument)
    return found


@pytest.mark.parametrize(
    "source",
    [
        ERRORLOGGER,
        EnvironSource({"A": "1"}),
        PipInstallSource(("dpo-tiny",), ("--no-index",), restart_workers=True),
    ],
    ids=["module", "environ", "pipInstall"],
)
def test_payload_refers_to_nothing_but_builtins_eval(source: PluginSource) -> None:
    payload = build_payload("p", spec_of(source))

    assert globals_referred_to(payload) == {"builtins.eval"}


def test_content_hash_is_stable_for_equal_specs() -> None:
    first = spec_of(ModuleSource("m", "C", args=(1, "x"), kwargs={"b": 2, "a": [1, 2]}))
    second = spec_of(ModuleSource("m", "C", args=(1, "x"), kwargs={"a": [1, 2], "b": 2}))

    assert content_hash(first) == content_hash(second)


def test_content_hash_ignores_selector_and_priority() -> None:
    plain = spec_of(ERRORLOGGER)
    selective = PluginSpec(
        kind="worker",
        selector=LabelSelector((("team", "a"),), (Requirement("x", "Exists"),)),
        priority=7,
        source=ERRORLOGGER,
    )

    assert content_hash(plain) == content_hash(selective)


@pytest.mark.parametrize(
    "changed",
    [
        spec_of(ModuleSource("errorlogger.plugins", "ErrorLogger", kwargs={"logger": "x"})),
        spec_of(ModuleSource("errorlogger.plugins", "Other", kwargs=ERRORLOGGER.kwargs)),
        spec_of(ERRORLOGGER, kind="nanny"),
        spec_of(EnvironSource({"A": "1"})),
    ],
    ids=["kwargs", "class", "kind", "source"],
)
def test_content_hash_changes_with_what_is_shipped(changed: PluginSpec) -> None:
    assert content_hash(changed) != content_hash(spec_of(ERRORLOGGER))


def test_builtins_register_where_they_work() -> None:
    assert registration_kind(spec_of(EnvironSource({"A": "1"}))) == "nanny"
    assert registration_kind(spec_of(PipInstallSource(("x",)))) == "worker"
    assert registration_kind(spec_of(PipInstallSource(("x",), restart_workers=True))) == "nanny"
    assert registration_kind(spec_of(ERRORLOGGER, kind="scheduler")) == "scheduler"


def test_payload_unpickles_into_a_loader_in_this_interpreter() -> None:
    loader = pickle.loads(build_payload("errorlogger", spec_of(ERRORLOGGER)))

    assert type(loader).__name__ == "WorkerLoader"
    assert loader.name == "errorlogger"
    assert loader.data["source"]["kwargs"] == {"logger": "distributed.worker.errors"}
    assert pickle.loads(pickle.dumps(loader)).data == loader.data


# A stand-in for distributed, so another Python can unpickle without installing it.
FAKE_DISTRIBUTED = {
    "distributed/__init__.py": "",
    "distributed/diagnostics/__init__.py": "",
    "distributed/diagnostics/plugin.py": textwrap.dedent(
        """
        class WorkerPlugin: pass
        class NannyPlugin: pass
        class SchedulerPlugin: pass
        """
    ),
}

UNPICKLE = textwrap.dedent(
    """
    import pickle, sys
    loader = pickle.loads(sys.stdin.buffer.read())
    ours = sorted(m for m in sys.modules if m.startswith("dask_plugin_operator"))
    print(type(loader).__name__, loader.name, loader.restart, ours)
    """
)


@pytest.mark.parametrize("python", OTHER_PYTHONS, ids=lambda path: path.parent.parent.name)
def test_payload_unpickles_in_another_python_without_our_package(
    python: Path, tmp_path: Path
) -> None:
    for relative, text in FAKE_DISTRIBUTED.items():
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text(text)
    payload = build_payload("environ", spec_of(EnvironSource({"A": "1"})))

    # -I: isolated mode, no user site and no PYTHONPATH; only the stand-in is added.
    done = subprocess.run(
        [
            str(python),
            "-I",
            "-c",
            f"import sys; sys.path.insert(0, {str(tmp_path)!r})\n" + UNPICKLE,
        ],
        input=payload,
        capture_output=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout.decode().split() == ["NannyLoader", "environ", "True", "[]"]
