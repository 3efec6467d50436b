"""Training-token and cost estimate, from the dataset statistics and the price table file."""

from __future__ import annotations

import os
import tomllib
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from gemini_tuning.catalog import BaseModel
from gemini_tuning.datasets._stats import DatasetStats

PRICES_FILE = Path(__file__).resolve().parent.parent / "prices.toml"
PRICES_ENV = "GEMINI_TUNING_PRICES_FILE"


@dataclass(frozen=True)
class Estimate:
    """Training tokens (dataset tokens x epochs) and their cost, when the table has a price."""

    model: str
    epochs: int
    dataset_tokens: int
    training_tokens: int
    usd_per_million_tokens: float | None
    cost_usd: float | None
    prices_as_of: str

    def describe(self) -> str:
        tokens = (
            f"{self.training_tokens:,} training tokens ({self.dataset_tokens:,} tokens x "
            f"{self.epochs} epochs)"
        )
        if self.cost_usd is None:
            return f"{tokens}; no price for {self.model} in the price table"
        return (
            f"{tokens}, about ${self.cost_usd:,.2f} at ${self.usd_per_million_tokens:g} per "
            f"1M tokens (prices {self.prices_as_of})"
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"summary": self.describe()}


@lru_cache(maxsize=4)
def _load(path: Path) -> dict[str, Any]:
    with path.open("rb") as handle:
        return tomllib.load(handle)


def price_table(path: str | Path | None = None) -> dict[str, Any]:
    """The price file: ``path``, else $GEMINI_TUNING_PRICES_FILE, else the packaged prices.toml."""
    chosen = Path(path or os.environ.get(PRICES_ENV) or PRICES_FILE)
    return _load(chosen.resolve())


def price_per_million(model: BaseModel, path: str | Path | None = None) -> float | None:
    table = price_table(path)
    price = table.get(model.backend, {}).get(model.id)
    return None if price is None else float(price)


def estimate_cost(
    stats: DatasetStats, model: BaseModel, epochs: int, *, prices: str | Path | None = None
) -> Estimate:
    """Billable training tokens x epochs, priced from the price table."""
    if epochs < 1:
        raise ValueError(f"epochs must be at least 1, got {epochs}")
    training_tokens = stats.estimated_tokens * epochs
    price = price_per_million(model, prices)
    cost = None if price is None else round(training_tokens * price / 1_000_000, 2)
    as_of = str(price_table(prices).get("as_of", "undated"))
    return Estimate(model.id, epochs, stats.estimated_tokens, training_tokens, price, cost, as_of)
