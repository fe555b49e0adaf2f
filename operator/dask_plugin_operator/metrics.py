"""Prometheus metrics of the operator, served on their own port when enabled."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, start_http_server

REGISTRATIONS = Counter(
    "dpo_registrations_total",
    "Plugin registrations sent to schedulers.",
    ["namespace", "plugin", "cluster"],
)
REGISTRATION_FAILURES = Counter(
    "dpo_registration_failures_total",
    "Registrations that failed or where some workers failed setup.",
    ["namespace", "plugin", "cluster"],
)
REGISTRATION_SECONDS = Histogram(
    "dpo_registration_duration_seconds",
    "Time from sending a registration to the scheduler's answer.",
    ["namespace", "plugin", "cluster"],
)
UNREGISTRATIONS = Counter(
    "dpo_unregistrations_total",
    "Plugins unregistered from schedulers.",
    ["namespace", "plugin", "cluster"],
)
RECONCILES = Counter(
    "dpo_cluster_reconciles_total",
    "Passes that compared a scheduler with what it should hold.",
    ["result"],
)
KNOWN_PLUGINS = Gauge("dpo_known_plugins", "WorkerPlugins the operator knows about.")
KNOWN_CLUSTERS = Gauge("dpo_known_clusters", "DaskClusters the operator knows about.")


def serve(port: int) -> None:
    """Serve /metrics on ``port`` in a background thread."""
    start_http_server(port)
