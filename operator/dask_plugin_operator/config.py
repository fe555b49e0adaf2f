"""Settings of one operator process, from the command line."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class OperatorConfig:
    check_interval: float = 30.0
    """Seconds between checks of every known scheduler against what it should hold."""

    concurrency: int = 64
    """How many schedulers are worked on at the same time."""

    rpc_timeout: float = 10.0
    """Seconds any one scheduler call may take before the scheduler counts as unreachable."""

    deletion_timeout: float = 60.0
    """Seconds a deleted plugin waits for its clusters before its finalizer is released."""

    metrics_port: int = 0
    """Port of the Prometheus endpoint; 0 turns it off."""

    namespaced: bool = False
    """Whether only some namespaces are watched: then nothing cluster-wide is called."""
