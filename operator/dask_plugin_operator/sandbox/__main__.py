"""``python -m dask_plugin_operator.sandbox --kubeconfig PATH [--port N]``."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from .server import run_sandbox


def main() -> None:
    """Parse the command line and serve until interrupted."""
    parser = argparse.ArgumentParser(description="Serve a local Kubernetes API emulator.")
    parser.add_argument("--kubeconfig", type=Path, required=True,
                        help="where to write a kubeconfig for the sandbox")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free)")
    arguments = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    run_sandbox(arguments.kubeconfig, arguments.port)


if __name__ == "__main__":
    main()
