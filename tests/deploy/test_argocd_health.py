"""The Argo CD health check for WorkerPlugin in docs/deploy.md judges plugins rightly.

The Lua is taken from the documentation itself and run in a real Lua interpreter (lupa),
the way Argo CD runs it: with the object as the global ``obj``, returning a table with a
status and a message.
"""

from __future__ import annotations

import re
from typing import Any

import helmchart
import pytest
import yaml

lupa = pytest.importorskip("lupa")

DEPLOY_DOC = helmchart.REPOSITORY / "docs" / "deploy.md"
HEALTH_KEY = "resource.customizations.health.plugins.dask.org_WorkerPlugin"


def health_script() -> str:
    """The Lua of the argocd-cm snippet in the deployment guide."""
    blocks = re.findall(r"```yaml\n(.*?)```", DEPLOY_DOC.read_text(), flags=re.DOTALL)
    for block in blocks:
        if HEALTH_KEY in block:
            script: str = yaml.safe_load(block)["data"][HEALTH_KEY]
            return script
    raise AssertionError(f"docs/deploy.md has no {HEALTH_KEY} snippet")


def health(plugin: dict[str, Any]) -> tuple[str, str]:
    lua = lupa.LuaRuntime(unpack_returned_tuples=True)
    lua.globals().obj = lua.table_from(plugin, recursive=True)
    result = lua.execute(health_script())
    return str(result["status"]), str(result["message"])


def plugin(generation: int = 2, observed: int | None = 2,
           ready: tuple[str, str] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"metadata": {"name": "errorlogger", "generation": generation}}
    if observed is not None or ready is not None:
        body["status"] = {"observedGeneration": observed, "conditions": [
            {"type": "Invalid", "status": "False", "reason": "SpecValid",
             "message": "The spec is valid."},
        ]}
        if ready:
            status, reason = ready
            body["status"]["conditions"].append(
                {"type": "Ready", "status": status, "reason": reason,
                 "message": f"{reason}, in words."})
    return body


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        ("NoMatchingClusters", "Healthy"),
        ("Pending", "Progressing"),
        ("SchedulerUnreachable", "Progressing"),
        ("SetupFailed", "Degraded"),
        ("RegistrationFailed", "Degraded"),
        ("NotApplied", "Degraded"),
        ("Invalid", "Degraded"),
    ],
)
def test_a_plugin_that_is_not_ready_is_judged_by_the_reason(reason: str, expected: str) -> None:
    status, message = health(plugin(ready=("False", reason)))

    assert status == expected
    assert message == f"{reason}, in words."


def test_a_ready_plugin_whose_latest_spec_was_handled_is_healthy() -> None:
    assert health(plugin(ready=("True", "Registered")))[0] == "Healthy"


def test_a_ready_plugin_with_an_unhandled_spec_change_is_still_progressing() -> None:
    status, message = health(plugin(generation=3, observed=2, ready=("True", "Registered")))

    assert status == "Progressing"
    assert "generation 3" in message


def test_a_plugin_the_operator_has_not_reported_on_is_progressing() -> None:
    assert health(plugin(observed=None))[0] == "Progressing"
    assert health(plugin(ready=None))[0] == "Progressing"
