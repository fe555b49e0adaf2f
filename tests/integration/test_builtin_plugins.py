"""distributed's built-ins as the operator ships them: environ and pipInstall."""

from __future__ import annotations

import uuid
import zipfile
from pathlib import Path

import pytest

from dask_plugin_operator.localdask import LocalDaskCluster
from dask_plugin_operator.payload import build_payload, registration_kind
from dask_plugin_operator.scheduler import RegistrationResult, SchedulerClient
from dask_plugin_operator.selection import LabelSelector
from dask_plugin_operator.spec import (
    EnvironSource,
    ModuleSource,
    PipInstallSource,
    PluginSource,
    PluginSpec,
)

pytestmark = pytest.mark.timeout(180)


def spec_of(source: PluginSource) -> PluginSpec:
    return PluginSpec(kind="worker", selector=LabelSelector(), priority=0, source=source)


async def register(client: SchedulerClient, name: str, spec: PluginSpec) -> RegistrationResult:
    return await client.register(registration_kind(spec), name, build_payload(name, spec))


async def test_environ_restarts_workers_with_the_variable_set(
    own_cluster: LocalDaskCluster,
) -> None:
    client = SchedulerClient(own_cluster.address, timeout=30)
    worker = own_cluster.workers[0]
    variable, value = "DPO_TEST_VARIABLE", uuid.uuid4().hex
    reporter = ModuleSource("dpo_test_plugins", "EnvironReporter", kwargs={"variable": variable})
    await register(client, "reporter", spec_of(reporter))

    result = await register(client, "environ", spec_of(EnvironSource({variable: value})))

    assert result.failed == {}
    assert len(result.ok) == 1
    worker.wait_for_log(f"EnvironReporter {variable}={value}")
    assert worker.count(r"Registered to:") == 2
    await client.close()


def tiny_wheel(directory: Path) -> Path:
    """A one-module wheel built by hand, so pip needs no index and no build backend."""
    wheel = directory / "dpo_tiny-0.1-py3-none-any.whl"
    files = {
        "dpo_tiny/__init__.py": "GREETING = 'installed by pipInstall'\n",
        "dpo_tiny-0.1.dist-info/METADATA": "Metadata-Version: 2.1\nName: dpo-tiny\nVersion: 0.1\n",
        "dpo_tiny-0.1.dist-info/WHEEL": (
            "Wheel-Version: 1.0\nGenerator: hand\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    record = "".join(f"{path},,\n" for path in files) + "dpo_tiny-0.1.dist-info/RECORD,,\n"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, text in files.items():
            archive.writestr(path, text)
        archive.writestr("dpo_tiny-0.1.dist-info/RECORD", record)
    return wheel


def pip_install(wheel: Path, target: Path, restart: bool) -> PluginSpec:
    # --target keeps the test's venv clean: the wheel lands in a directory of its own.
    options = ("--no-index", "--target", str(target))
    source = PipInstallSource((str(wheel),), options, restart_workers=restart)
    return PluginSpec(kind="worker", selector=LabelSelector(), priority=0, source=source)


@pytest.mark.parametrize("restart", [False, True], ids=["worker", "nanny-restart"])
async def test_pip_install_runs_on_every_worker(
    own_cluster: LocalDaskCluster, tmp_path: Path, restart: bool
) -> None:
    target = tmp_path / "site"
    spec = pip_install(tiny_wheel(tmp_path), target, restart)
    client = SchedulerClient(own_cluster.address, timeout=60)

    result = await client.register(registration_kind(spec), "pip", build_payload("pip", spec))

    assert result.failed == {}
    assert len(result.ok) == 1
    assert (target / "dpo_tiny" / "__init__.py").exists()
    assert registration_kind(spec) == ("nanny" if restart else "worker")
    if restart:
        own_cluster.workers[0].wait_until_registered(count=2)
    await client.close()


async def test_a_failing_pip_install_is_reported_with_pips_error(
    own_cluster: LocalDaskCluster, tmp_path: Path
) -> None:
    spec = pip_install(tmp_path / "absent-0.1-py3-none-any.whl", tmp_path / "site", False)
    client = SchedulerClient(own_cluster.address, timeout=60)

    result = await client.register("worker", "pip", build_payload("pip", spec))

    assert result.ok == ()
    assert "pip install failed" in (result.first_error() or "")
    await client.close()
