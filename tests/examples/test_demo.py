"""The README's first command, run as a user would run it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_demo_shows_the_whole_story_and_exits_cleanly() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "dask_plugin_operator", "demo"],
        cwd=ROOT, capture_output=True, text=True, timeout=240,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    output = done.stdout
    for milestone in (
        "condition met",
        "Task divide-by-zero failed on worker",
        "ErrorLogger torn down on worker",
        "the scheduler holds no plugin of the operator any more",
    ):
        assert milestone in output
    # Three workers set the plugin up: two at registration, one as it joined.
    assert output.count("ErrorLogger set up on worker") == 3
    assert "errorlogger   worker   errorlogger.plugins:ErrorLogger   1" in output
