"""Figures: a median with min and max beside it; ratios measured in the same run."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass
class Stat:
    """Repeated samples of one figure (seconds, or any unit the caller scales)."""

    samples: list[float] = field(default_factory=list)

    def add(self, value: float) -> None:
        self.samples.append(value)

    @property
    def n(self) -> int:
        return len(self.samples)

    @property
    def median(self) -> float:
        return statistics.median(self.samples) if self.samples else float("nan")

    @property
    def min(self) -> float:
        return min(self.samples) if self.samples else float("nan")

    @property
    def max(self) -> float:
        return max(self.samples) if self.samples else float("nan")


def pair_ratios(a: Sequence[float], b: Sequence[float]) -> Stat:
    """Ratios of interleaved pairs (a[i] / b[i]): their spread goes beside the ratio of medians."""
    return Stat([x / y for x, y in zip(a, b, strict=False) if y > 0])


def ratio(a: Stat, b: Stat) -> float:
    return a.median / b.median if b.median > 0 else float("nan")


def ms(seconds: float) -> str:
    if seconds != seconds:  # nan
        return "–"
    value = seconds * 1000
    return f"{value:.0f} ms" if value >= 100 else f"{value:.1f} ms"


def sec(seconds: float) -> str:
    return "–" if seconds != seconds else f"{seconds:.2f} s"


def times(value: float) -> str:
    return "–" if value != value else f"{value:.2f}×"


def mib(n_bytes: float) -> str:
    return f"{n_bytes / 2**20:.1f} MiB"


def plain(value: float, digits: int = 0) -> str:
    return "–" if value != value else f"{value:.{digits}f}"
