"""What the resources need from a tuning service, independent of which service it is.

Backends translate between these plain values and Google's APIs; resources never see a
Google type, and backends never see Pulumi.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

ACTIVE_STATES = frozenset({"QUEUED", "PENDING", "RUNNING", "CANCELLING", "UPDATING"})
FAILED_STATES = frozenset({"FAILED", "CANCELLED", "EXPIRED", "PAUSED"})
# What a create may adopt instead of submitting: a job on its way to a model, or done with one.
# Not CANCELLING (an `up` right after a destroy must not adopt the job being cancelled), nor
# UPDATING, PAUSED or any end but success.
ADOPTABLE_STATES = frozenset({"PENDING", "QUEUED", "RUNNING", "SUCCEEDED"})


class BackendError(Exception):
    """The service refused a call; ``message`` is the service's own text."""


class NotFoundError(BackendError):
    """The named resource does not exist (any more)."""


class ConflictError(BackendError):
    """The resource changed since it was read (a stale etag): read again and retry."""


class SubmitUncertainError(BackendError):
    """A create's answer was lost (5xx, timeout, dropped connection): the job may exist.

    Never submit again blindly: look it up by its identity labels first (CreateTuningJob takes
    no request ID, so a second submission is a second, billed job)."""


class DeleteRefusedError(BackendError):
    """The service refused to delete a tuned model version (400) after everything serving it
    was removed: it keeps the version. ``done`` lists what was removed before the refusal;
    ``str(err)`` is one line saying what was kept, why, and how to remove it by hand."""

    def __init__(self, message: str, done: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.done = list(done)


class QuotaExceededError(BackendError):
    """The service refused a create for quota (429 RESOURCE_EXHAUSTED): nothing was created;
    submit again once a running job has finished."""


@dataclass(frozen=True)
class JobRequest:
    """One tuning job to submit. Hyperparameters left None take the service's defaults."""

    display_name: str | None
    base_model: str | None
    pre_tuned_model: str | None
    training_uri: str
    validation_uri: str | None
    labels: Mapping[str, str]
    description: str | None = None
    epoch_count: int | None = None
    learning_rate_multiplier: float | None = None
    adapter_size: int | None = None
    batch_size: int | None = None
    learning_rate: float | None = None
    encryption_key: str | None = None
    service_account: str | None = None
    export_last_checkpoint_only: bool = False
    # The Gemini API takes examples inline; Vertex reads training_uri.
    inline_examples: Sequence[tuple[str, str]] = ()


@dataclass(frozen=True)
class JobStatus:
    """A job as the service reports it. ``state`` has no JOB_STATE_ prefix."""

    name: str
    state: str
    labels: Mapping[str, str] = field(default_factory=dict)
    error: str | None = None
    tuned_model: str | None = None  # with @version
    endpoint: str | None = None  # the default checkpoint's
    # Every endpoint the job names: the default checkpoint's and the other checkpoints'.
    endpoints: Sequence[str] = ()
    create_time: str | None = None
    start_time: str | None = None
    end_time: str | None = None
    epoch_count: int | None = None  # the effective value, after service defaults
    epochs_done: int = 0
    percent: float | None = None
    loss_per_epoch: Sequence[float] = ()
    loss_note: str | None = None  # why loss_per_epoch is empty, when the service published none
    experiment: str | None = None  # Vertex: where the job publishes its training metrics
    data_stats: Mapping[str, Any] = field(default_factory=dict)
    # What the job was submitted with, as TuningJobSpec fields (base_model, training_dataset as
    # the service holds it, hyperparameters...): what `pulumi import` rebuilds the inputs from.
    declared: Mapping[str, Any] = field(default_factory=dict)

    @property
    def active(self) -> bool:
        return self.state in ACTIVE_STATES

    @property
    def succeeded(self) -> bool:
        return self.state == "SUCCEEDED"

    @property
    def ended_badly(self) -> bool:
        return self.state in FAILED_STATES

    @property
    def adoptable(self) -> bool:
        return self.state in ADOPTABLE_STATES


@dataclass(frozen=True)
class ModelStatus:
    name: str  # with @version
    display_name: str | None = None
    description: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    version_aliases: Sequence[str] = ()
    endpoints: Sequence[str] = ()
    create_time: str | None = None  # of this version


LabelChange = Callable[[Mapping[str, str]], Mapping[str, str]]


class TuningBackend(Protocol):
    """The calls TuningJob and TunedModel make. Every method raises BackendError subclasses."""

    def find_jobs(self, labels: Mapping[str, str]) -> list[JobStatus]:
        """Jobs carrying every one of ``labels`` (checked on the client, whatever the service's
        filter answered)."""
        ...

    def submit_job(self, request: JobRequest) -> JobStatus:
        """One create, never retried blindly: raises SubmitUncertainError when the answer was
        lost, QuotaExceededError on 429."""
        ...

    def get_job(self, name: str) -> JobStatus: ...

    def cancel_job(self, name: str) -> None: ...

    def training_progress(self, status: JobStatus) -> tuple[int, int] | None:
        """(steps done, steps in all) of a running job, from what the service publishes; None
        when it publishes nothing to count."""
        ...

    def get_model(self, name: str) -> ModelStatus: ...

    def update_model(
        self, name: str, *, display_name: str | None, description: str | None
    ) -> ModelStatus:
        """Model-level metadata (every version): display name and description."""
        ...

    def update_labels(self, name: str, change: LabelChange) -> ModelStatus:
        """Read the labels of one model version (``name`` with ``@version``), apply ``change``
        and write the result, consistently: a concurrent writer (another stack claiming the same
        version) is never overwritten; the change is re-applied to what it wrote."""
        ...

    def merge_aliases(
        self, name: str, *, add: Sequence[str], remove: Sequence[str]
    ) -> ModelStatus: ...

    def delete_version(self, name: str, endpoint: str | None) -> list[str]:
        """Delete one tuned model version and what serves it alone: undeploy that version
        from its endpoints (``endpoint``, those the model lists, and every endpoint its tuning
        job created: its checkpoints'), delete an endpoint left empty, then delete the version
        (the whole model when it has no other). Already gone counts as done; returns what was
        done. A delete the service refuses raises DeleteRefusedError, everything else done."""
        ...

    def delete_job_endpoints(self, job_name: str) -> list[str]:
        """For a job that produced no model (cancelled, failed): undeploy what it deployed (its
        checkpoints) from the endpoints it created and delete those left empty."""
        ...

    def generate(self, target: str, prompt: str, system_instruction: str | None) -> str: ...
