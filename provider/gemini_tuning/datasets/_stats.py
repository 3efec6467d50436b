"""Dataset statistics gathered in one streaming pass, in memory bounded by the distinct values."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from gemini_tuning.catalog import DatasetFormat


@dataclass(frozen=True)
class Distribution:
    """Summary of one per-example quantity. Percentiles use the nearest-rank method."""

    count: int = 0
    min: int = 0
    max: int = 0
    mean: float = 0.0
    median: int = 0
    p5: int = 0
    p95: int = 0
    sum: int = 0


class DistributionBuilder:
    """Counts each distinct value, so percentiles are exact and memory does not grow with the
    number of examples (distinct token counts are few: k distinct values need k*(k+1)/2 tokens)."""

    def __init__(self) -> None:
        self.counts: Counter[int] = Counter()  # value -> examples; callers may add to it directly

    def add(self, value: int) -> None:
        self.counts[value] += 1

    def build(self) -> Distribution:
        count = self.counts.total()
        if count == 0:
            return Distribution()
        values = sorted(self.counts)
        total = sum(v * n for v, n in self.counts.items())
        return Distribution(
            count=count,
            min=values[0],
            max=values[-1],
            mean=round(total / count, 2),
            median=self._nearest_rank(values, count, 0.50),
            p5=self._nearest_rank(values, count, 0.05),
            p95=self._nearest_rank(values, count, 0.95),
            sum=total,
        )

    def _nearest_rank(self, values: list[int], count: int, fraction: float) -> int:
        rank = max(1, math.ceil(round(fraction * count, 9)))  # round: 0.95 * 20 is 19, not 19.0..1
        seen = 0
        for value in values:
            seen += self.counts[value]
            if seen >= rank:
                return value
        return values[-1]


@dataclass
class DatasetStats:
    """What a dataset holds. ``estimated_tokens`` sums catalog.estimate_tokens per valid example."""

    examples: int = 0
    bytes: int = 0
    sha256: str = ""
    total_chars: int = 0  # every character of the file, JSON syntax included
    billable_chars: int = 0  # the text the model reads: system instruction and all turns
    estimated_tokens: int = 0
    max_example_tokens: int = 0
    input_tokens: Distribution = field(default_factory=Distribution)
    output_tokens: Distribution = field(default_factory=Distribution)
    turns_per_example: Distribution = field(default_factory=Distribution)
    format: DatasetFormat | None = None
    lines: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DatasetStats:
        """The inverse of ``to_dict`` (what the fingerprint cache stores)."""
        distributions = {
            name: Distribution(**data[name])
            for name in ("input_tokens", "output_tokens", "turns_per_example")
        }
        return cls(**{**data, **distributions})
