"""``python -m dask_plugin_operator.sandbox``: serves, writes a kubeconfig, stops on SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from .conftest import Kubectl

pytestmark = pytest.mark.timeout(60)


def test_the_command_serves_until_terminated(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    serving = subprocess.Popen(
        [sys.executable, "-m", "dask_plugin_operator.sandbox", "--kubeconfig", str(kubeconfig)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert serving.stdout is not None
        announcement = serving.stdout.readline()
        assert str(kubeconfig) in announcement and "http://127.0.0.1:" in announcement

        config = yaml.safe_load(kubeconfig.read_text())
        assert config["current-context"] == "dask-plugin-operator-sandbox"
        kubectl = Kubectl(kubeconfig, tmp_path / "cache")
        assert "workerplugins" in kubectl("api-resources", "--api-group=plugins.dask.org")
        assert "daskclusters" in kubectl("api-resources", "--api-group=kubernetes.dask.org")

        serving.send_signal(signal.SIGTERM)
        assert serving.wait(timeout=30) == 0
    finally:
        serving.kill()
        serving.wait()
