"""Figures: series of timed runs, their medians, ratios to baselines, and where they go.

Every scenario fills one ``Report``; it prints as a table and is written as JSON to
``bench/results/<scenario>.json``, which git ignores.
"""

from __future__ import annotations

import json
import platform
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


@dataclass
class Series:
    """Several measurements of one thing, in one unit."""

    name: str
    unit: str
    values: list[float] = field(default_factory=list)

    def add(self, value: float) -> float:
        self.values.append(value)
        return value

    @property
    def median(self) -> float:
        return statistics.median(self.values) if self.values else float("nan")

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "unit": self.unit, "median": self.median,
                "min": min(self.values, default=None), "max": max(self.values, default=None),
                "values": self.values}


@dataclass(frozen=True)
class Ratio:
    """The median of one series over the median of its baseline."""

    name: str
    numerator: str
    denominator: str
    value: float


@dataclass
class Report:
    """The figures of one scenario, printed and written together."""

    scenario: str
    settings: dict[str, Any]
    series: dict[str, Series] = field(default_factory=dict)
    ratios: list[Ratio] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.time)
    load_before: str = field(default_factory=lambda: _load())

    def series_of(self, name: str, unit: str = "s") -> Series:
        if name not in self.series:
            self.series[name] = Series(name, unit)
        return self.series[name]

    def ratio(self, name: str, numerator: str, denominator: str) -> Ratio:
        top, bottom = self.series[numerator].median, self.series[denominator].median
        ratio = Ratio(name, numerator, denominator, top / bottom if bottom else float("nan"))
        self.ratios.append(ratio)
        return ratio

    def as_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "settings": self.settings,
            "machine": {"cpus": _cpus(), "python": platform.python_version(),
                        "load_before": self.load_before, "load_after": _load()},
            "started": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(self.started)),
            "seconds": round(time.time() - self.started, 1),
            "series": [series.as_dict() for series in self.series.values()],
            "ratios": [vars(ratio) for ratio in self.ratios],
            "notes": self.notes,
        }

    def write(self) -> Path:
        RESULTS.mkdir(exist_ok=True)
        path = RESULTS / f"{self.scenario}.json"
        path.write_text(json.dumps(self.as_dict(), indent=2) + "\n")
        return path

    def table(self) -> str:
        lines = [f"== {self.scenario} ({time.time() - self.started:.0f} s; load average "
                 f"{self.load_before} before, {_load()} after) =="]
        width = max((len(name) for name in self.series), default=10)
        for series in self.series.values():
            spread = (f"[{_number(min(series.values))} .. {_number(max(series.values))}]"
                      if len(series.values) > 1 else "")
            lines.append(f"  {series.name:<{width}}  {_number(series.median):>10} "
                         f"{series.unit:<4} {spread}  n={len(series.values)}")
        for ratio in self.ratios:
            lines.append(f"  {ratio.name}: {ratio.value:.2f}x "
                         f"({ratio.numerator} / {ratio.denominator})")
        lines.extend(f"  note: {note}" for note in self.notes)
        return "\n".join(lines)


def _number(value: float) -> str:
    if value != value:  # NaN
        return "n/a"
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def _load() -> str:
    """The 1, 5 and 15 minute load averages: other work on the machine skews timings."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def _cpus() -> int:
    import os

    return os.cpu_count() or 0
