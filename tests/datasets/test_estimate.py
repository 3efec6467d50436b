"""Cost estimate from the packaged price table."""

from __future__ import annotations

import pytest

from gemini_tuning.catalog import GEMINI_API_MODELS, VERTEX_MODELS, lookup
from gemini_tuning.datasets import DatasetStats, estimate_cost, price_per_million


def test_every_catalog_model_has_a_price() -> None:
    for model in [*VERTEX_MODELS.values(), *GEMINI_API_MODELS.values()]:
        assert price_per_million(model) is not None, model.id


def test_estimate_multiplies_tokens_by_epochs_and_price() -> None:
    model = lookup("gemini-2.5-flash")
    estimate = estimate_cost(DatasetStats(estimated_tokens=250_000), model, epochs=4)
    price = price_per_million(model)
    assert price is not None
    assert estimate.training_tokens == 1_000_000
    assert estimate.cost_usd == round(price, 2)
    assert "1,000,000 training tokens (250,000 tokens x 4 epochs)" in estimate.describe()


def test_zero_epochs_is_refused() -> None:
    with pytest.raises(ValueError, match="epochs"):
        estimate_cost(DatasetStats(), lookup("gemini-2.5-flash"), epochs=0)
