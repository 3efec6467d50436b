"""Where Vertex publishes a tuning job's training loss, read-only: the job's experiment.

The supervised-tuning docs ("Tuning and validation metrics", docs.cloud.google.com/vertex-ai/
generative-ai/docs/models/gemini-use-supervised-tuning) say the job "automatically collects"
``/train_total_loss`` ("Loss for the tuning dataset at a training step") and more, "available
after the tuning job starts running" and "updated in real time as tuning progresses". The job's
``experiment`` field (tuning_job.proto: "The Experiment associated with this TuningJob", a
metadata Context) leads there, as the Vertex AI SDK reads it (aiplatform.Experiment and
ExperimentRun, metadata/experiment_run_resource.py; a public sample reads
``{tensorboard}/experiments/{experiment}/runs/{run}`` time series ``/train_total_loss``):

  MetadataService.GetContext(experiment)          schema system.Experiment, metadata
                                                  backing_tensorboard_resource = tensorboard
  MetadataService.ListContexts(filter=            the experiment's runs (system.ExperimentRun),
    schema_title="system.ExperimentRun" AND       named {experiment id}-{run id}
    parent_contexts:"<experiment>")
  TensorboardService.ListTensorboardTimeSeries(   the run's time series, by display name
    {tensorboard}/experiments/{experiment id}/runs/{run id})
  TensorboardService.ReadTensorboardTimeSeriesData(...)   values [{step, wallTime, scalar}]

The emulator serves that chain for every job that has started: one run (``tuning-run`` [I]),
one time series ``/train_total_loss`` (id ``1`` [I]) with one point per finished training step
(tuningStepCount in all), so it grows while the job runs. Each point is the emulator's learner's
own loss at that step (_learner.py: the mean loss of the step's batch of 8 examples). A read
without maxDataPoints answers a seeded random sample of 1000 points of a longer series, as the
service does; ``-1`` answers every point. The
experiment id is ``tuning-experiment-{job id}`` [I; the doc
samples show only the ``tuning-experiment-`` prefix]; the tensorboard id is derived from the
location [I].
"""

from __future__ import annotations

import hashlib
import random
import time
from typing import Any

from gemini_tuning.emulator import _hold, _listing
from gemini_tuning.emulator._errors import invalid, not_found
from gemini_tuning.emulator._store import Resource, Store
from gemini_tuning.emulator._wire import TERMINAL_STATES, timestamp

EXPERIMENT_PREFIX = "tuning-experiment-"
RUN_ID = "tuning-run"
LOSS_SERIES = "/train_total_loss"
LOSS_SERIES_ID = "1"
# "Model validation metrics ... /eval_total_loss: Loss for the validation dataset at a validation
# step. ... If you don't specify a validation dataset when you create the tuning job, only the
# visualizations for the tuning metrics are available." (gemini-use-supervised-tuning)
EVAL_SERIES = "/eval_total_loss"
EVAL_SERIES_ID = "2"  # [I]
# timeSeries.read (docs.cloud.google.com/vertex-ai/docs/reference/rest/v1/projects.locations.
# tensorboards.experiments.runs.timeSeries/read): "By default, if the number of data points
# stored is less than 1000, all data is returned. Otherwise, 1000 data points is randomly
# selected from this time series and returned. This value can be changed by changing
# maxDataPoints, which can't be greater than 10k."
DEFAULT_POINTS = 1000
MAX_POINTS = 10_000
ALL_POINTS = -1
SCHEMA_VERSION = "0.0.1"


def tensorboard_of(location: str) -> str:
    digest = int(hashlib.sha256(location.encode()).hexdigest(), 16)
    return f"{location}/tensorboards/{10**18 + digest % (8 * 10**18)}"


def experiment_of(job: Resource) -> str:
    job_id = job.name.rsplit("/", 1)[-1]
    return f"{job.parent}/metadataStores/default/contexts/{EXPERIMENT_PREFIX}{job_id}"


def step_losses(epoch_losses: list[float], steps_per_epoch: int) -> list[float]:
    """One loss per step, falling slightly within each epoch, with each epoch's mean exactly
    its epoch loss."""
    out = []
    middle = (steps_per_epoch + 1) / 2
    for loss in epoch_losses:
        for k in range(1, steps_per_epoch + 1):
            out.append(round(loss * (1 + 0.02 * (middle - k) / steps_per_epoch), 6))
    return out


class TuningMetrics:
    """MetadataService and TensorboardService views of the tuning jobs' loss (read-only)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    # -- metadata ------------------------------------------------------------------------------

    def get_context(self, location: str, store_id: str, context_id: str) -> dict[str, Any]:
        job, run = self._job_of_context(location, store_id, context_id)
        return self._run_context(job) if run else self._experiment_context(job)

    def list_contexts(self, location: str, store_id: str, query: dict[str, str]) -> dict[str, Any]:
        parent = f"{location}/metadataStores/{store_id}"
        docs = []
        if store_id == "default":
            for job in self.store.find("tuningJob", location):
                if job.data.get("experiment"):
                    docs += [self._experiment_context(job), self._run_context(job)]
        getters: dict[str, _listing.Getter] = {
            "schema_title": lambda d: d.get("schemaTitle"),
            "parent_contexts": lambda d: d.get("parentContexts") or [],
            "display_name": lambda d: d.get("displayName"),
        }
        terms = _listing.parse_filter(query.get("filter", ""), list(getters))
        docs = [d for d in docs if _listing.matches(d, terms, getters)]
        page, token = _listing.paginate(
            docs, query.get("pageSize"), query.get("pageToken"), f"contexts|{parent}"
        )
        return _listing.page_response("contexts", page, token)

    def _job_of_context(
        self, location: str, store_id: str, context_id: str
    ) -> tuple[Resource, bool]:
        name = f"{location}/metadataStores/{store_id}/contexts/{context_id}"
        run = context_id.endswith(f"-{RUN_ID}")
        job_id = context_id.removeprefix(EXPERIMENT_PREFIX).removesuffix(f"-{RUN_ID}")
        job = self.store.get(f"{location}/tuningJobs/{job_id}")
        valid = store_id == "default" and context_id.startswith(EXPERIMENT_PREFIX)
        if not valid or job is None or not job.data.get("experiment"):
            raise not_found(f"Context {name} not found.")
        return job, run

    def _experiment_context(self, job: Resource) -> dict[str, Any]:
        name = experiment_of(job)
        return {
            "name": name,
            "displayName": name.rsplit("/", 1)[-1],
            "schemaTitle": "system.Experiment",
            "schemaVersion": SCHEMA_VERSION,
            "metadata": {"backing_tensorboard_resource": tensorboard_of(job.parent)},
            "createTime": job.data.get("startTime"),
            "updateTime": job.data.get("updateTime"),
        }

    def _run_context(self, job: Resource) -> dict[str, Any]:
        experiment = experiment_of(job)
        done = job.data.get("state") in TERMINAL_STATES
        return {
            "name": f"{experiment}-{RUN_ID}",
            "displayName": RUN_ID,
            "schemaTitle": "system.ExperimentRun",
            "schemaVersion": SCHEMA_VERSION,
            "parentContexts": [experiment],
            "metadata": {"state": "COMPLETE" if done else "RUNNING"},
            "createTime": job.data.get("startTime"),
            "updateTime": job.data.get("updateTime"),
        }

    # -- tensorboard ---------------------------------------------------------------------------

    def list_time_series(self, location: str, params: list[str]) -> dict[str, Any]:
        job, run = self._job_of_run(location, params)
        shown = [(LOSS_SERIES_ID, LOSS_SERIES)]
        if self.store.get_blob(f"eval_losses/{job.name}"):
            shown.append((EVAL_SERIES_ID, EVAL_SERIES))
        series = [
            {
                "name": f"{run}/timeSeries/{series_id}",
                "displayName": display,
                "valueType": "SCALAR",
                "pluginName": "scalars",
                "createTime": job.data.get("startTime"),
                "updateTime": job.data.get("updateTime"),
            }
            for series_id, display in shown
        ]
        return {"tensorboardTimeSeries": series}

    def read_time_series(
        self, location: str, params: list[str], query: dict[str, str] | None = None
    ) -> dict[str, Any]:
        job, run = self._job_of_run(location, params[:-1])
        eval_losses = self.store.get_blob(f"eval_losses/{job.name}")
        if params[-1] not in {LOSS_SERIES_ID, *([EVAL_SERIES_ID] if eval_losses else [])}:
            raise not_found(f"TensorboardTimeSeries {run}/timeSeries/{params[-1]} not found.")
        limit = max_data_points(query or {})
        points = self._points(job, time.time(), self.store.get_blob(f"losses/{job.name}"))
        if params[-1] == EVAL_SERIES_ID:
            points = _validation_points(job, points, eval_losses)
        return {
            "timeSeriesData": {
                "tensorboardTimeSeriesId": params[-1],
                "valueType": "SCALAR",
                "values": sample(points, limit, seed=f"{run}/{len(points)}"),
            }
        }

    def _job_of_run(self, location: str, params: list[str]) -> tuple[Resource, str]:
        tensorboard, experiment_id, run_id = params
        run = f"{location}/tensorboards/{tensorboard}/experiments/{experiment_id}/runs/{run_id}"
        job_id = experiment_id.removeprefix(EXPERIMENT_PREFIX)
        job = self.store.get(f"{location}/tuningJobs/{job_id}")
        found = (
            job is not None
            and job.data.get("experiment")
            and tensorboard_of(location).endswith(f"/{tensorboard}")
            and run_id == RUN_ID
        )
        if not found or job is None:
            raise not_found(f"TensorboardRun {run} not found.")
        return job, run

    @staticmethod
    def _points(
        job: Resource, now: float, learned: list[float] | None = None
    ) -> list[dict[str, Any]]:
        """The steps finished by ``now`` (or by the job's end), one point each: the learner's
        own loss at each step (``learned``; a job trained before the learner existed has only
        epoch losses, spread over its steps)."""
        i = job.internal
        steps = int(i.get("steps_per_epoch") or 0)
        start, spe = i.get("start"), float(i.get("spe") or 1)
        if not steps or not start:
            return []
        until = min(now, _stopped_at(i) or now)
        losses = learned or step_losses(list(i.get("losses", [])), steps)
        seconds_per_step = spe / steps
        done = min(len(losses), int(_hold.trained(i, until) / seconds_per_step + 1e-6))
        span = _hold.window(i)

        def wall(n: int) -> float:  # a step after the hold's start finished that much later
            at = float(start) + n * seconds_per_step
            return at + (_hold.shift(i) if span is not None and at > span[0] else 0.0)

        return [
            {
                "step": str(n),
                "wallTime": timestamp(wall(n)),
                "scalar": {"value": losses[n - 1]},
            }
            for n in range(1, done + 1)
        ]


def _validation_points(
    job: Resource, training: list[dict[str, Any]], eval_losses: list[float]
) -> list[dict[str, Any]]:
    """One validation step per epoch [I], at the epoch's last training step, once that step is
    done: the validation loss of the model as trained to that epoch (_learner.py)."""
    steps = int(job.internal.get("steps_per_epoch") or 0)
    if not steps:
        return []
    return [
        {**point, "scalar": {"value": eval_losses[int(point["step"]) // steps - 1]}}
        for point in training
        if int(point["step"]) % steps == 0 and int(point["step"]) // steps <= len(eval_losses)
    ]


def max_data_points(query: dict[str, str]) -> int | None:
    """maxDataPoints of a timeSeries.read: None for every point (-1), else how many at most
    (DEFAULT_POINTS when unset or 0). timeSeries.read: "This value should be a positive integer.
    This value can be set to -1 to return all data", and it "can't be greater than 10k"; a value
    outside that is refused, 400 INVALID_ARGUMENT [I: the code and text are the emulator's]."""
    raw = str(query.get("maxDataPoints") or query.get("max_data_points") or "0")
    try:
        value = int(raw)
    except ValueError:
        raise invalid(f"max_data_points must be an integer, got {raw!r}.") from None
    if value == ALL_POINTS:
        return None
    if value == 0:
        return DEFAULT_POINTS
    if not 1 <= value <= MAX_POINTS:
        raise invalid(
            f"max_data_points must be between 1 and {MAX_POINTS}, or -1 for all data; got {value}."
        )
    return value


def sample(points: list[dict[str, Any]], limit: int | None, *, seed: str) -> list[dict[str, Any]]:
    """At most ``limit`` of ``points``, chosen at random (seeded: the same read of the same
    series answers the same), in step order [I: the docs do not say the order]."""
    if limit is None or len(points) <= limit:
        return points
    chosen = sorted(random.Random(seed).sample(range(len(points)), limit))
    return [points[i] for i in chosen]


def _stopped_at(internal: dict[str, Any]) -> float | None:
    if internal.get("cancel_at"):
        return float(internal["cancel_at"])
    if internal.get("failed"):
        return float(internal["failed"]["at"])
    if internal.get("fail_message") is not None:  # the emulator-fail label: half an epoch in
        return float(internal["start"]) + float(internal["spe"]) / 2 + _hold.shift(internal)
    return None
