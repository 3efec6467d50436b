"""Epoch advice: where a tuning job's loss curve stopped improving, and what fewer epochs save.

Seed 002 (the Gemini API tuning concepts page, "Empfohlene Konfigurationen") recommends a
smaller epoch count "if the loss plateaus before five epochs": ideally one stops at the lowest
point of the curve just before the plateau. This module turns a finished job's per-epoch loss
into that advice, or says nothing. Pure: no Pulumi, no Google client; ``report``,
``plan-summary`` and the release record call it with the curves the job published (the
TuningJob's ``validation_loss_per_epoch`` and ``loss_per_epoch`` outputs, read from the job's
experiment on Vertex and from the emulator's learner offline).

The rule (conservative: it advises only when the curve says so plainly)
    Take the validation curve when the job has one (held-out loss is what tells overfitting
    from learning), else the training curve, and say which. With ``L[1..n]`` the loss after each
    epoch, the suggested epoch count is the first epoch ``k`` such that no later epoch improves
    on the best loss up to ``k`` by more than ``TOLERANCE`` (relative)::

        min(L[k+1..n]) >= (1 - TOLERANCE) * min(L[1..k])

    Such a ``k`` is itself the best epoch so far (an earlier best would satisfy the rule first),
    so "epoch_count k reaches the same loss" holds to within ``TOLERANCE``. No advice when
    ``k == n`` (the curve improved to the end: more epochs might help, seed 002's other case),
    when the curve has fewer than two epochs, when it holds a non-finite value, or when it does
    not cover the declared epoch count (a cancelled or partial job says nothing about the
    epochs it did not run).

Why 1 %: a smaller step is within the noise of a mean loss over a small validation set (the
emulator's squad-qa slice moves by 0.2-0.5 % between flat epochs), and a larger one would
call a curve flat that still falls by a few percent per epoch. A relative tolerance keeps the
rule independent of the loss's scale; a curve near zero (where 1 % is tiny) is then rarely
called flat, which errs on the side of saying nothing.

The saving: Vertex prices supervised tuning per 1M training tokens, and the project counts
training tokens as the training dataset's tokens x epochs (prices.toml, datasets/_estimate.py:
the cost estimate preview prints). [I] The search tool available here returned no text of
Google's pricing page (https://cloud.google.com/vertex-ai/generative-ai/pricing) to quote; the
rule follows prices.toml's reading of it. So ``epoch_count k`` instead of ``n`` saves
``(n - k) / n`` of the training cost, whatever the price.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

TOLERANCE = 0.01  # relative: see the module docstring for why 1 %


@dataclass(frozen=True)
class EpochAdvice:
    """Where the loss stopped improving; what to declare instead, and what it saves."""

    curve: str  # "validation" or "training": the curve the advice was read from
    epochs: int  # epochs the job ran (its declared, or service-chosen, epoch count)
    suggested_epoch_count: int  # the epoch after which the loss no longer improved
    best_loss: float  # the lowest loss of the whole curve
    suggested_loss: float  # the loss after the suggested epoch (within TOLERANCE of best_loss)
    saving: float  # fraction of the training cost (tokens x epochs) the suggestion saves
    tolerance: float = TOLERANCE

    @property
    def message(self) -> str:
        """E.g. ``validation loss no better after epoch 3 of 5: epoch_count 3 reaches the same
        loss for 40% less training cost``."""
        k, n = self.suggested_epoch_count, self.epochs
        return (
            f"{self.curve} loss no better after epoch {k} of {n}: epoch_count {k} reaches the "
            f"same loss (within {self.tolerance:.0%}) for {self.saving:.0%} less training cost"
        )

    def as_dict(self) -> dict[str, Any]:
        """Plain fields, for state, JSON output and the release record."""
        return {**asdict(self), "message": self.message}

    @staticmethod
    def from_dict(data: Mapping[str, Any] | None) -> EpochAdvice | None:
        """The advice a record or an output holds; None for none, or for a shape it cannot read
        (an older record has no advice; a newer one may carry fields this version ignores)."""
        if not isinstance(data, Mapping):
            return None
        try:
            return EpochAdvice(
                curve=str(data["curve"]),
                epochs=int(data["epochs"]),
                suggested_epoch_count=int(data["suggested_epoch_count"]),
                best_loss=float(data["best_loss"]),
                suggested_loss=float(data["suggested_loss"]),
                saving=float(data["saving"]),
                tolerance=float(data.get("tolerance", TOLERANCE)),
            )
        except (KeyError, TypeError, ValueError):
            return None


def advise(
    validation_loss: Sequence[Any] | None,
    training_loss: Sequence[Any] | None,
    epoch_count: Any = None,
    *,
    tolerance: float = TOLERANCE,
) -> EpochAdvice | None:
    """Advice from a finished job's per-epoch loss (see the module docstring), or None.

    ``epoch_count``: the epochs the job was declared (or chosen by the service) to run; None
    takes the curve's length. The validation curve is used when it is not empty, else the
    training curve.
    """
    curve, losses = _chosen_curve(validation_loss, training_loss)
    if losses is None:
        return None
    epochs = len(losses) if epoch_count is None else _as_int(epoch_count)
    if epochs is None or epochs != len(losses) or epochs < 2:
        return None
    k = suggested_epoch_count(losses, tolerance)
    if k >= epochs:
        return None
    return EpochAdvice(
        curve=curve,
        epochs=epochs,
        suggested_epoch_count=k,
        best_loss=round(min(losses), 6),
        suggested_loss=round(losses[k - 1], 6),
        saving=round((epochs - k) / epochs, 4),
        tolerance=tolerance,
    )


def suggested_epoch_count(losses: Sequence[float], tolerance: float = TOLERANCE) -> int:
    """The first epoch (1-based) after which no later epoch improves the best loss so far by
    more than ``tolerance`` (relative); ``len(losses)`` when the curve keeps improving."""
    best = math.inf
    for k, loss in enumerate(losses[:-1], start=1):
        best = min(best, loss)
        if min(losses[k:]) >= (1 - tolerance) * best:
            return k
    return len(losses)


def _chosen_curve(
    validation_loss: Sequence[Any] | None, training_loss: Sequence[Any] | None
) -> tuple[str, list[float] | None]:
    for name, raw in (("validation", validation_loss), ("training", training_loss)):
        if raw:
            return name, _finite(raw)
    return "training", None


def _finite(raw: Sequence[Any]) -> list[float] | None:
    try:
        values = [float(v) for v in raw]
    except (TypeError, ValueError):
        return None
    return values if all(math.isfinite(v) for v in values) else None


def _as_int(value: Any) -> int | None:
    try:
        number = float(value)  # Pulumi hands integers back as floats
    except (TypeError, ValueError):
        return None
    return int(number) if number.is_integer() else None
