"""The chart ships exactly the CRDs of crds/, the project's one source of truth for them."""

from __future__ import annotations

import helmchart

REPOSITORY_CRDS = helmchart.REPOSITORY / "crds"
CHART_CRDS = helmchart.CHART / "crds"


def test_chart_crds_are_byte_identical_to_the_repository_crds() -> None:
    repository = {path.name: path.read_bytes() for path in REPOSITORY_CRDS.glob("*.yaml")}
    chart = {path.name: path.read_bytes() for path in CHART_CRDS.glob("*.yaml")}

    assert repository, "crds/ holds no CRD"
    assert sorted(chart) == sorted(repository), (
        "charts/dask-plugin-operator/crds/ must hold the same files as crds/; "
        "copy them over with `cp crds/*.yaml charts/dask-plugin-operator/crds/`."
    )
    stale = [name for name in repository if chart[name] != repository[name]]
    assert not stale, f"Chart copies differ from crds/: {stale}; copy them over again."
