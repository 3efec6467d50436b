"""Which checkpoint a TuningJob's ``checkpoint`` means (``best``, ``last`` or an epoch). Pure.

Vertex saves "approximately" one checkpoint per epoch for jobs under 10 epochs and about 10,
evenly spread, for longer ones; the final one "is saved immediately after all epochs are
trained", and the service makes it the default. "Select the best performing checkpoint before
overfitting to be the default checkpoint" (https://cloud.google.com/vertex-ai/generative-ai/
docs/models/tuning-checkpoints). A checkpoint's validation loss is the job's validation loss
for its epoch (``validation_loss_per_epoch``: the mean of the ``/eval_total_loss`` points of
that epoch's steps), the figure the loss curve shows for it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gemini_tuning.backends import Checkpoint

LAST = "last"
BEST = "best"


class CheckpointChoiceError(ValueError):
    """The job has no checkpoint the declaration names; the message says what it has."""


@dataclass(frozen=True)
class Chosen:
    checkpoint: Checkpoint
    validation_loss: float | None
    reason: str  # e.g. 'best: lowest validation loss 0.412 (epoch 2 of 1..5)'


def choose(
    choice: str | float, checkpoints: Sequence[Checkpoint], validation_losses: Sequence[float]
) -> Chosen | None:
    """The checkpoint ``choice`` names among ``checkpoints``; None for ``last`` when the job
    lists none (the service lists them only for jobs that keep intermediate checkpoints: its
    one checkpoint is the default already). Raises CheckpointChoiceError otherwise."""
    normal = _normal(choice)
    if not checkpoints:
        if normal == LAST:
            return None
        raise CheckpointChoiceError(
            f"checkpoint: {normal}, but the job lists no checkpoints (the service lists them "
            "only for jobs that keep intermediate checkpoints): choose last"
        )
    ordered = sorted(checkpoints, key=lambda c: (c.epoch, c.step))
    if normal == LAST:
        final = ordered[-1]
        return Chosen(final, _loss_of(final, validation_losses), f"last: epoch {final.epoch}")
    if normal == BEST:
        return _best(ordered, validation_losses)
    return _at_epoch(int(normal), ordered, validation_losses)


def _normal(choice: str | float) -> str | float:
    """``3``, ``3.0`` and ``"3"`` are epoch 3 (Pulumi hands numbers back as floats)."""
    if isinstance(choice, float) and choice.is_integer():
        return int(choice)
    if isinstance(choice, str) and choice.strip().isdigit():
        return int(choice)
    return choice


def _loss_of(checkpoint: Checkpoint, losses: Sequence[float]) -> float | None:
    index = checkpoint.epoch - 1
    return float(losses[index]) if 0 <= index < len(losses) else None


def _best(ordered: Sequence[Checkpoint], losses: Sequence[float]) -> Chosen:
    """The lowest validation loss; a tie goes to the earlier epoch (less tuning, same loss)."""
    scored = [(loss, c) for c in ordered if (loss := _loss_of(c, losses)) is not None]
    if not scored:
        raise CheckpointChoiceError(
            "checkpoint: best needs the validation loss of each checkpoint, and the job "
            f"published none for epochs {_epochs(ordered)} (validation loss per epoch: "
            f"{list(losses) or 'none'}): choose last or an epoch"
        )
    loss, chosen = min(scored, key=lambda pair: (pair[0], pair[1].epoch, pair[1].step))
    table = ", ".join(f"{c.epoch}: {value:.4g}" for value, c in scored)
    return Chosen(
        chosen, loss, f"best: lowest validation loss {loss:.4g} at epoch {chosen.epoch} ({table})"
    )


def _at_epoch(epoch: int, ordered: Sequence[Checkpoint], losses: Sequence[float]) -> Chosen:
    found = [c for c in ordered if c.epoch == epoch]
    if not found:
        raise CheckpointChoiceError(
            f"checkpoint: {epoch}, but the job saved no checkpoint at epoch {epoch} (it saved "
            f"epochs {_epochs(ordered)}; jobs of 10 epochs or more save about 10): choose one "
            "of those, best or last"
        )
    chosen = found[-1]
    return Chosen(chosen, _loss_of(chosen, losses), f"epoch {epoch}")


def _epochs(ordered: Sequence[Checkpoint]) -> str:
    return ", ".join(str(c.epoch) for c in ordered)
