"""The simulated trainer. A job's state is a function of its timestamps, so a restarted emulator
picks up where it stopped: only dataset reading (GCS) happens on worker threads (READERS of them,
as the service reads each job's data on its own: 50 jobs submitted at once do not start one
after another), and a job whose dataset was not read yet is re-queued on start.

Timeline of a job (all times stored in the job's internal record):
    created --pending--> start (RUNNING) --E x spe--> end (SUCCEEDED)
where spe is the job's seconds per epoch (emulator setting, or the job label
`emulator-seconds-per-epoch`) and E its epoch count. `start` is set once the datasets are read
and valid: start = max(read time, create time + pending seconds).
"""

from __future__ import annotations

import contextlib
import logging
import math
import queue
import threading
import time
import uuid
import zlib
from collections.abc import Callable
from typing import Any

from gemini_tuning import catalog
from gemini_tuning.emulator import _datasets, _hold, _learner
from gemini_tuning.emulator._config import EmulatorConfig
from gemini_tuning.emulator._errors import rpc_status
from gemini_tuning.emulator._metrics import experiment_of
from gemini_tuning.emulator._store import Resource, Store
from gemini_tuning.emulator._wire import TERMINAL_STATES, timestamp

log = logging.getLogger("gemini_tuning.emulator")

READERS = 8  # worker threads reading jobs' datasets
BATCH_SIZE = _learner.BATCH_SIZE  # [I] examples per step: steps = epochs * ceil(examples / 8)

FAIL_LABEL = "emulator-fail"
SPE_LABEL = "emulator-seconds-per-epoch"


def default_epochs(examples: int) -> int:
    """[I] Epochs when the request sets none ("auto-adjusted to dataset size"):
    fewer than 100 examples -> 10, fewer than 500 -> 5, fewer than 1000 -> 4, else 3."""
    if examples < 100:
        return 10
    if examples < 500:
        return 5
    if examples < 1000:
        return 4
    return 3


def checkpoint_epochs(epochs: int) -> list[int]:
    """The epochs after which a job saves a checkpoint. "For tuning jobs with less than 10
    epochs, one checkpoint is saved approximately after each epoch. For tuning jobs with more
    than 10 epochs, around 10 checkpoints are saved at even distribution, with the exception of
    the final checkpoint, which is saved immediately after all epochs are trained."
    (https://cloud.google.com/vertex-ai/generative-ai/docs/models/tuning-checkpoints)"""
    if epochs <= 10:
        return list(range(1, epochs + 1))
    return sorted({max(1, round(k * epochs / 10)) for k in range(1, 11)} | {epochs})


def losses(job_name: str, epochs: int, multiplier: float) -> list[float]:
    """A formula, not a learner: the loss curve of a Gemini API tuned model (_gemini_api.py; that
    API's tuning is retired and its models answer from memory). Vertex jobs publish their
    learner's own loss (_learner.py). 0.05 + 2.4 * exp(-0.45 * e * sqrt(lrm)), with a small
    deterministic per-job jitter, strictly decreasing."""
    seed = zlib.crc32(job_name.encode())
    out: list[float] = []
    for e in range(1, epochs + 1):
        jitter = 1 + 0.04 * (((seed >> (e % 24)) & 0xFF) / 255 - 0.5)
        value = 0.05 + 2.4 * math.exp(-0.45 * e * math.sqrt(max(multiplier, 1e-3))) * jitter
        if out:
            value = min(value, out[-1] * 0.995)
        out.append(round(value, 6))
    return out


def _distribution(d: dict[str, float]) -> dict[str, Any]:
    if not d:
        return {}
    total = d.get("sum", 0.0)
    out: dict[str, Any] = {"sum": str(int(total)), "billableSum": str(int(total))}
    for key, wire in (("min", "min"), ("max", "max"), ("mean", "mean"), ("median", "median")):
        if key in d:
            out[wire] = d[key]
    for key in ("p5", "p95"):
        if key in d:
            out[key] = d[key]
    return out


class Trainer:
    def __init__(
        self,
        store: Store,
        config: EmulatorConfig,
        gcs_host: Callable[[], str],
        on_success: Callable[[Resource, float], dict[str, Any]],
        on_checkpoints: Callable[[Resource, list[dict[str, Any]]], None] | None = None,
    ) -> None:
        self.store = store
        self.config = config
        self._gcs_host = gcs_host
        self._on_success = on_success
        # Deploys intermediate checkpoints to their endpoints as training reaches them.
        self._on_checkpoints = on_checkpoints
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._pass: tuple[int, float] = (-1, 0.0)  # (job writes, next change) at the last pass
        self._threads: list[threading.Thread] = []
        self._busy = 0  # readers at work on a job (see quiesce)
        self._idle = threading.Condition()

    # --- worker -------------------------------------------------------------------------------

    def start(self) -> None:
        from google.cloud import storage  # type: ignore[attr-defined,unused-ignore]  # import once

        del storage
        self._threads = [
            threading.Thread(target=self._run, name=f"emulator-trainer-{n}", daemon=True)
            for n in range(READERS)
        ]
        for thread in self._threads:
            thread.start()
        for res in self.store.find("tuningJob"):
            i = res.internal
            waiting = res.data.get("state") == "JOB_STATE_PENDING" and not i.get("start")
            if waiting and not i.get("failed") and not i.get("cancel_at"):
                self.enqueue(res.name)

    def stop(self) -> None:
        for _ in self._threads:
            self._queue.put(None)
        for thread in self._threads:
            thread.join(timeout=5)

    def enqueue(self, name: str) -> None:
        self._queue.put(name)

    def quiesce(self, timeout: float = 30.0) -> bool:
        """Drop the jobs waiting for a reader and wait until no reader is at work (a reset must
        not have a job of before it written back after it); False if one still is."""
        with contextlib.suppress(queue.Empty):
            while True:
                name = self._queue.get_nowait()
                if name is None:  # a stop: hand it back
                    self._queue.put(None)
                    break
        with self._idle:
            return self._idle.wait_for(lambda: self._busy == 0, timeout=timeout)

    def _run(self) -> None:
        while True:
            name = self._queue.get()
            if name is None:
                return
            with self._idle:
                self._busy += 1
            try:
                self._read_datasets(name)
            except Exception:
                log.exception("reading the datasets of %s failed", name)
            finally:
                with self._idle:
                    self._busy -= 1
                    self._idle.notify_all()

    def _read_datasets(self, name: str) -> None:
        res = self.store.get(name)
        if res is None or res.internal.get("start") or res.internal.get("cancel_at"):
            return
        i = res.internal
        model = catalog.lookup(i["base_model"], "vertex", allow_retired=True)
        spec = res.data.get("supervisedTuningSpec", {})
        try:
            host = self._gcs_host()
            train_uri = spec["trainingDatasetUri"]
            train = _datasets.validate(
                _datasets.read_gcs(host, train_uri), uri=train_uri, model=model, role="training"
            )
            val_uri = spec.get("validationDatasetUri")
            validation = None
            if val_uri:
                validation = _datasets.validate(
                    _datasets.read_gcs(host, val_uri),
                    uri=val_uri,
                    model=model,
                    role="validation",
                    training_examples=train.examples,
                )
            epochs = int(i.get("epochs") or default_epochs(train.examples))
            trained = _learner.train(
                train.pairs,
                epochs=epochs,
                learning_rate_multiplier=float(i.get("multiplier", 1.0)),
                adapter_size=i.get("adapter_size"),
            )
            # "/eval_total_loss: Loss for the validation dataset at a validation step", collected
            # only with a validation dataset (gemini-use-supervised-tuning, "Model validation
            # metrics"); one validation step per epoch [I].
            eval_losses = (
                _learner.validation_losses(trained, train.pairs, validation.pairs)
                if validation is not None
                else []
            )
        except _datasets.DatasetError as exc:
            self._fail(name, str(exc), "INVALID_ARGUMENT")
            return
        except Exception as exc:  # GCS unreachable, ... : the job fails, the emulator lives on
            log.exception("job %s: dataset read failed", name)
            self._fail(name, f"Could not read the datasets: {exc}", "INTERNAL")
            return
        with self.store.tx():
            res = self.store.get(name)
            if res is None or res.internal.get("cancel_at") or res.internal.get("start"):
                return  # cancelled, or another reader got there first
            i = res.internal
            now = time.time()
            steps = math.ceil(train.examples / BATCH_SIZE)
            i["epochs"] = epochs
            i["steps_per_epoch"] = steps
            # The learner's own loss: per step (published in the job's experiment), and each
            # epoch's mean (the admin view, the progress_extras model metadata).
            i["losses"] = trained.epoch_losses(steps)
            i["learner"] = uuid.uuid4().hex  # which training the endpoints' cache holds
            i["start"] = max(now, i["created"] + self.config.pending_for(float(i["spe"])))
            _hold.begin(i)
            hp = res.data["supervisedTuningSpec"].setdefault("hyperParameters", {})
            hp["epochCount"] = str(epochs)
            stats: dict[str, Any] = {
                "tuningDatasetExampleCount": str(train.examples),
                "totalTuningCharacterCount": str(train.total_chars),
                "totalBillableCharacterCount": str(train.billable_chars),
                "totalBillableTokenCount": str(train.estimated_tokens),
                "tuningStepCount": str(epochs * steps),
            }
            if train.input_tokens:
                stats["userInputTokenDistribution"] = _distribution(train.input_tokens)
            if train.output_tokens:
                stats["userOutputTokenDistribution"] = _distribution(train.output_tokens)
            if train.turns:
                stats["userMessagePerExampleDistribution"] = _distribution(train.turns)
            res.data["tuningDataStats"] = {"supervisedTuningDataStats": stats}
            self.store.put(res)
            self.store.put_blob(f"examples/{name}", train.pairs)
            self.store.put_blob(f"learner/{name}", trained.as_dict())
            self.store.put_blob(f"losses/{name}", trained.step_losses)
            if eval_losses:
                self.store.put_blob(f"eval_losses/{name}", eval_losses)

    def _fail(self, name: str, message: str, status: str) -> None:
        with self.store.tx():
            res = self.store.get(name)
            if res is None or res.internal.get("cancel_at"):
                return
            res.internal["failed"] = {"at": time.time(), **rpc_status(status, message)}
            self.store.put(res)
            self.advance(res, time.time())

    # --- state as a function of time ----------------------------------------------------------

    def advance_all(self, now: float | None = None) -> None:
        """Bring every job to its state at ``now``. Every request calls this, so it reads the
        jobs only when one of them can have changed: a job was written since the last pass, or
        the earliest scheduled change of an active one (its start, an epoch, its end) is due.
        Reading all jobs on every request made 50 polling jobs cost the emulator more CPU than
        the provider polling them."""
        now = time.time() if now is None else now
        if self._unchanged_since_last_pass(now):  # no transaction: most requests stop here
            return
        with self.store.tx():
            due = math.inf
            for res in self.store.find("tuningJob"):
                if res.data.get("state") not in TERMINAL_STATES:
                    self.advance(res, now)
                    due = min(due, self._next_change(res, now))
            self._pass = (self.store.generation.get("tuningJob", 0), due)

    def _unchanged_since_last_pass(self, now: float) -> bool:
        generation, due = self._pass
        return generation == self.store.generation.get("tuningJob", 0) and now < due

    def _next_change(self, res: Resource, now: float) -> float:
        """When ``res`` (advanced to ``now``) changes next by time alone; ``now`` (check on every
        request) when that is not a simple schedule."""
        if res.data.get("state") in TERMINAL_STATES:
            return math.inf
        i = res.internal
        start = i.get("start")
        if not start or i.get("cancel_at") or i.get("failed"):
            return now
        start, spe = float(start), float(i["spe"])
        if now < start:
            return start
        span = _hold.window(i)
        if span is not None and now < span[1]:
            return now  # around a hold: not a simple schedule, check on every request
        start += _hold.shift(i)
        end = start + int(i["epochs"]) * spe
        changes = [end, start + (math.floor((now - start) / spe) + 1) * spe]
        if i.get("fail_message") is not None and now < start + spe / 2:
            changes.append(start + spe / 2)
        return min(changes)

    def _set(self, res: Resource, state: str, at: float) -> None:
        if res.data.get("state") != state:
            res.data["state"] = state
            res.data["updateTime"] = timestamp(at)
            if state in TERMINAL_STATES:
                res.data["endTime"] = timestamp(at)

    def _epochs_done(self, res: Resource, until: float) -> int:
        i = res.internal
        start, spe = i.get("start"), float(i["spe"])
        if not start or until <= start:
            return 0
        # 1e-6: float timestamps (~1.7e9 s) lose ~1e-7 s, so epoch E must not read E - 1.
        return min(int(i["epochs"]), int(_hold.trained(i, until) / spe + 1e-6))

    def _checkpoints(
        self, res: Resource, until: float, done: int | None = None
    ) -> list[dict[str, Any]]:
        """The checkpoints saved by ``until`` (or after ``done`` epochs), with the endpoint
        each one is deployed to once it is."""
        i = res.internal
        done = self._epochs_done(res, until) if done is None else done
        if done <= 0:  # also before the dataset was read: no epochs or steps known yet
            return []
        steps = int(i["steps_per_epoch"])
        deployed = i.get("checkpoint_endpoints", {})
        return [
            {
                "checkpointId": str(e),
                "epoch": str(e),
                "step": str(e * steps),
                **({"endpoint": deployed[str(e)]} if str(e) in deployed else {}),
            }
            for e in checkpoint_epochs(int(i["epochs"]))
            if e <= done
        ]

    def current_epoch(self, res: Resource, now: float) -> int:
        return self._epochs_done(res, now)

    def _intermediate(self, res: Resource, until: float) -> list[dict[str, Any]]:
        """Checkpoints saved by ``until``, deployed to their endpoints: "Intermediate
        checkpoints are deployed to new endpoints sequentially as tuning progresses" (tuning
        checkpoints page, see checkpoint_epochs). None with exportLastCheckpointOnly."""
        if res.data.get("supervisedTuningSpec", {}).get("exportLastCheckpointOnly"):
            return []
        cps = self._checkpoints(res, until)
        if cps and self._on_checkpoints is not None:
            self._on_checkpoints(res, cps)
            cps = self._checkpoints(res, until)
        return cps

    def advance(self, res: Resource, now: float) -> None:
        """Bring a non-terminal job to its state at ``now`` (and persist it)."""
        before = self._shape(res)
        self._advance(res, now)
        after = self._shape(res)
        if before != after:
            self.store.put(res)

    @staticmethod
    def _shape(res: Resource) -> tuple[Any, int, int]:
        """What an advance can change: the state, the checkpoints shown, those deployed."""
        shown = len(res.data.get("tunedModel", {}).get("checkpoints", []))
        return res.data.get("state"), shown, len(res.internal.get("checkpoint_endpoints", {}))

    def _advance(self, res: Resource, now: float) -> None:
        i = res.internal
        if i.get("cancel_at"):
            self._advance_cancelled(res, now)
            return
        failed = i.get("failed")
        if failed:
            self._set(res, "JOB_STATE_FAILED", failed["at"])
            res.data["error"] = {"code": failed["code"], "message": failed["message"]}
            return
        start = i.get("start")
        if not start or now < start:
            return  # PENDING
        self._started(res, start)
        spe = float(i["spe"])
        fail_message = i.get("fail_message")
        failing_at = start + spe / 2 + _hold.shift(i)  # the hold begins before that
        if fail_message is not None and now >= failing_at:
            self._set(res, "JOB_STATE_FAILED", failing_at)
            res.data["error"] = rpc_status("INTERNAL", fail_message)
            return
        end = start + int(i["epochs"]) * spe + _hold.shift(i)
        if now >= end:
            self._succeed(res, end)
            return
        held = _hold.holding(i, now)
        span = _hold.window(i)
        if held is not None and span is not None:
            self._set(res, held, span[0])
        elif res.data.get("state") != "JOB_STATE_RUNNING":
            self._set(res, "JOB_STATE_RUNNING", span[1] if span and now >= span[1] else start)
        cps = self._intermediate(res, now)
        # The endpoints exist while RUNNING (documented); whether the job's own tunedModel
        # lists them before it succeeds is not [I]: the safer reading shows nothing, so a
        # client finds them by the endpoints' tuning labels. progress_extras shows them (an
        # invention, as is progress on the job at all).
        if cps and self.config.progress_extras:
            res.data["tunedModel"] = {"checkpoints": cps}
            res.data["updateTime"] = timestamp(start + int(cps[-1]["epoch"]) * spe)

    def _started(self, res: Resource, start: float) -> None:
        """Training began: its start time, and the experiment its loss is published in."""
        res.data["startTime"] = timestamp(start)
        if self.config.publish_metrics:
            res.data["experiment"] = experiment_of(res)

    def _advance_cancelled(self, res: Resource, now: float) -> None:
        i = res.internal
        start, cancel_at = i.get("start"), float(i["cancel_at"])
        end = cancel_at + self.config.cancelling_for(float(i["spe"]))
        if start and cancel_at >= start:
            self._started(res, start)
        # Checkpoints saved before the cancel stay deployed: nothing documents that cancelling
        # a job removes its endpoints [I], so the safer reading keeps them (they bill).
        cps = self._intermediate(res, cancel_at)
        if cps and self.config.progress_extras:
            res.data["tunedModel"] = {"checkpoints": cps}
        if now >= end:
            self._set(res, "JOB_STATE_CANCELLED", end)
            res.data["error"] = rpc_status("CANCELLED", "The tuning job was cancelled.")
        else:
            self._set(res, "JOB_STATE_CANCELLING", cancel_at)

    def _succeed(self, res: Resource, end: float) -> None:
        """The model is registered and the last checkpoint deployed (the default one, whose
        endpoint is ``tunedModel.endpoint``); ``checkpoints`` lists all, with their endpoints."""
        self._intermediate(res, end)
        tuned = self._on_success(res, end)
        cps = self._checkpoints(res, end, done=int(res.internal["epochs"]))
        if res.data.get("supervisedTuningSpec", {}).get("exportLastCheckpointOnly"):
            cps = cps[-1:]
        res.data["tunedModel"] = {**tuned, "checkpoints": cps}
        self._set(res, "JOB_STATE_SUCCEEDED", end)
