"""A Vertex tuning job's training loss, read from where the service publishes it.

The supervised-tuning docs ("Tuning and validation metrics") say a tuning job automatically
collects ``/train_total_loss``, "Loss for the tuning dataset at a training step", visible while
the job runs. The job's ``experiment`` (tuning_job.proto: "The Experiment associated with this
TuningJob", a metadata Context) leads there, as the Vertex AI SDK reads experiments
(aiplatform.Experiment, ExperimentRun; metadata/constants.py ``backing_tensorboard_resource``):

1. MetadataService.GetContext(experiment): its metadata names the backing TensorBoard;
2. MetadataService.ListContexts(schema_title="system.ExperimentRun" AND parent_contexts:
   experiment): its runs, named ``{experiment id}-{run id}``;
3. TensorboardService.ListTensorboardTimeSeries(``{tensorboard}/experiments/{experiment
   id}/runs/{run id}``) and ReadTensorboardTimeSeriesData of the ``/train_total_loss`` series:
   one value per step, every one of them (``max_data_points=-1``: without it the service
   returns a random sample of 1000 points of a longer series).

The loss per epoch is the mean of the steps of each epoch, with tuningStepCount / epochCount
steps per epoch. Nothing here has met the real service (see the README); where the chain does
not answer, the loss is "not available" and says why: nothing is drawn from nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from statistics import fmean
from typing import Any

LOSS_SERIES = "/train_total_loss"
# "/eval_total_loss: Loss for the validation dataset at a validation step", collected when the job
# has a validation dataset (gemini-use-supervised-tuning, "Model validation metrics").
EVAL_SERIES = "/eval_total_loss"
TENSORBOARD_KEY = "backing_tensorboard_resource"
# timeSeries.read (docs.cloud.google.com/vertex-ai/docs/reference/rest/v1/projects.locations.
# tensorboards.experiments.runs.timeSeries/read): "By default, if the number of data points
# stored is less than 1000, all data is returned. Otherwise, 1000 data points is randomly
# selected from this time series and returned." maxDataPoints: "This value can be set to -1 to
# return all data." A job of more than 1000 steps would otherwise get a random sample.
ALL_POINTS = -1


class LossUnavailableError(Exception):
    """Why there is no loss curve (the message is shown to the user)."""


def training_loss(call: Callable[..., Any], experiment: str) -> list[tuple[int, float]]:
    """(step, loss) of every step published so far, in step order (none yet: empty)."""
    return _loss(call, experiment, LOSS_SERIES)


def validation_loss(call: Callable[..., Any], experiment: str) -> list[tuple[int, float]]:
    """(step, loss) of every validation step published so far (none without a validation
    dataset)."""
    return _loss(call, experiment, EVAL_SERIES)


def _loss(call: Callable[..., Any], experiment: str, series: str) -> list[tuple[int, float]]:
    if not experiment:
        raise LossUnavailableError("the job names no experiment")
    context = call("metadata", "get_context", name=experiment)
    tensorboard = dict(context.metadata).get(TENSORBOARD_KEY)
    if not tensorboard:
        raise LossUnavailableError(f"experiment {experiment} names no backing TensorBoard")
    store, _, experiment_id = experiment.partition("/contexts/")
    runs = call(
        "metadata",
        "list_contexts",
        request={
            "parent": store,
            "filter": f'schema_title="system.ExperimentRun" AND parent_contexts:"{experiment}"',
        },
    )
    points: list[tuple[int, float]] = []
    for run in runs:
        run_id = run.name.rsplit("/", 1)[-1].removeprefix(f"{experiment_id}-")
        parent = f"{tensorboard}/experiments/{experiment_id}/runs/{run_id}"
        points += _series_points(call, parent, series)
    return sorted(points)


def _series_points(call: Callable[..., Any], run: str, name: str) -> list[tuple[int, float]]:
    points = []
    for series in call("tensorboard", "list_tensorboard_time_series", parent=run):
        if series.display_name != name:
            continue
        data = call(
            "tensorboard",
            "read_tensorboard_time_series_data",
            request={"tensorboard_time_series": series.name, "max_data_points": ALL_POINTS},
        )
        points += [(int(v.step), float(v.scalar.value)) for v in data.time_series_data.values]
    return points


def validation_per_epoch(
    points: Sequence[tuple[int, float]], steps: int, epochs: int
) -> tuple[float, ...]:
    """The mean validation loss of each epoch's validation steps (by the training step each was
    taken at); empty when none was published or the epochs cannot be told apart."""
    if not points or not steps or not epochs or steps % epochs:
        return ()
    per = steps // epochs
    by_epoch: dict[int, list[float]] = {}
    for step, value in points:
        by_epoch.setdefault(-(-step // per), []).append(value)
    return tuple(round(fmean(by_epoch[e]), 6) for e in sorted(by_epoch) if 1 <= e <= epochs)


def per_epoch(points: Sequence[tuple[int, float]], steps: int, epochs: int) -> tuple[float, ...]:
    """The mean loss of each epoch's steps; raises without values, or when steps do not
    divide into epochs."""
    if not points:
        raise LossUnavailableError(f"no {LOSS_SERIES} values were published")
    if not steps or not epochs or steps % epochs:
        raise LossUnavailableError(
            f"cannot tell the epochs apart ({steps} steps for {epochs} epochs)"
        )
    per = steps // epochs
    by_epoch: dict[int, list[float]] = {}
    for step, value in points:
        by_epoch.setdefault((step - 1) // per + 1, []).append(value)
    return tuple(round(fmean(by_epoch[e]), 6) for e in sorted(by_epoch) if 1 <= e <= epochs)
