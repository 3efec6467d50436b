"""What the resources need from a tuning service, independent of which service it is.

Backends translate between these plain values and Google's APIs; resources never see a
Google type, and backends never see Pulumi.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

# The states of google.cloud.aiplatform.v1.JobState (job_state.proto; the meanings quoted are
# its comments, https://cloud.google.com/python/docs/reference/aiplatform/latest/
# google.cloud.aiplatform_v1.types.JobState):
# - waited on: QUEUED, PENDING, RUNNING, CANCELLING ("may only go to either SUCCEEDED, FAILED or
#   CANCELLED"), PAUSED ("stopped, and can be resumed"), UPDATING ("After updating, the job goes
#   back to the RUNNING state"), and UNSPECIFIED (no state to act on: read again, never failed);
# - ended well: SUCCEEDED; PARTIALLY_SUCCEEDED ("some results may be missing due to errors")
#   with a tuned model is a success with a warning, without one a failure;
# - ended badly: FAILED, CANCELLED, EXPIRED ("The job has expired").
ACTIVE_STATES = frozenset(
    {"QUEUED", "PENDING", "RUNNING", "CANCELLING", "PAUSED", "UPDATING", "UNSPECIFIED"}
)
FAILED_STATES = frozenset({"FAILED", "CANCELLED", "EXPIRED"})
PARTIAL_STATE = "PARTIALLY_SUCCEEDED"
# States the service reports while a job is live but not progressing (a line says so).
HELD_STATES = frozenset({"PAUSED", "UPDATING", "UNSPECIFIED"})
# What a create may adopt instead of submitting: a live job (on its way to a model, paused or
# being updated: submitting another would pay twice), or one done with a model. Not CANCELLING
# (an `up` right after a destroy must not adopt the job being cancelled), nor a failed one.
ADOPTABLE_STATES = frozenset(
    {"PENDING", "QUEUED", "RUNNING", "PAUSED", "UPDATING", "UNSPECIFIED", "SUCCEEDED"}
)


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
class Checkpoint:
    """One checkpoint of a tuned model (TunedModelCheckpoint, tuning_job.proto: "checkpoint_id
    [...] epoch [...] step [...] endpoint": the endpoint it was deployed to)."""

    checkpoint_id: str
    epoch: int
    step: int = 0
    endpoint: str | None = None


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
    # tunedModel.checkpoints: "only populated for tuning jobs that enable intermediate
    # checkpoints" (tuning_job.proto), in the order the service lists them.
    checkpoints: Sequence[Checkpoint] = ()
    create_time: str | None = None
    start_time: str | None = None
    end_time: str | None = None
    epoch_count: int | None = None  # the effective value, after service defaults
    epochs_done: int = 0
    percent: float | None = None
    loss_per_epoch: Sequence[float] = ()
    loss_note: str | None = None  # why loss_per_epoch is empty, when the service published none
    validation_loss_per_epoch: Sequence[float] = ()  # Vertex, with a validation dataset
    experiment: str | None = None  # Vertex: where the job publishes its training metrics
    data_stats: Mapping[str, Any] = field(default_factory=dict)
    # What the job was submitted with, as TuningJobSpec fields (base_model, training_dataset as
    # the service holds it, hyperparameters...): what `pulumi import` rebuilds the inputs from.
    declared: Mapping[str, Any] = field(default_factory=dict)

    @property
    def active(self) -> bool:
        """Still to be waited on (UNSPECIFIED too: read again, never taken as an end)."""
        return self.state in ACTIVE_STATES

    @property
    def succeeded(self) -> bool:
        """SUCCEEDED, or PARTIALLY_SUCCEEDED with a tuned model (see ``partial``)."""
        return self.state == "SUCCEEDED" or (self.partial and bool(self.tuned_model))

    @property
    def partial(self) -> bool:
        """PARTIALLY_SUCCEEDED: "some results may be missing due to errors"."""
        return self.state == PARTIAL_STATE

    @property
    def ended_badly(self) -> bool:
        """FAILED, CANCELLED, EXPIRED, or PARTIALLY_SUCCEEDED without a tuned model."""
        return self.state in FAILED_STATES or (self.partial and not self.tuned_model)

    @property
    def adoptable(self) -> bool:
        return self.state in ADOPTABLE_STATES or (self.partial and bool(self.tuned_model))


@dataclass(frozen=True)
class ModelStatus:
    name: str  # with @version
    display_name: str | None = None
    description: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    version_aliases: Sequence[str] = ()
    endpoints: Sequence[str] = ()
    create_time: str | None = None  # of this version
    default_checkpoint_id: str | None = None  # Model.default_checkpoint_id, of this version


@dataclass(frozen=True)
class EndpointStatus:
    name: str
    labels: Mapping[str, str] = field(default_factory=dict)
    deployed: Sequence[str] = ()  # deployed model ids
    create_time: str | None = None


LabelChange = Callable[[Mapping[str, str]], Mapping[str, str]]


class TuningBackend(Protocol):
    """The calls TuningJob and TunedModel make. Every method raises BackendError subclasses."""

    def find_jobs(
        self,
        labels: Mapping[str, str],
        *,
        created_since: str | None = None,
        display_name: str | None = None,
        known: Collection[str] = (),
    ) -> list[JobStatus]:
        """Jobs carrying every one of ``labels`` (checked on the client, whatever the service's
        filter answered; an answer with nothing, or nothing but ``known`` jobs, is checked
        against the unfiltered list), created at or after ``created_since`` (RFC 3339) and
        with ``display_name`` when given."""
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

    def version_name(self, name: str) -> str:
        """The exact name of the version ``name`` means (Vertex: ``models/X@N`` for a bare
        name or an alias); labels and aliases are written to that name only."""
        ...

    def update_model(
        self, name: str, *, display_name: str | None, description: str | None
    ) -> ModelStatus:
        """Model-level metadata (every version): display name and description, written to the
        model (the bare name), never to a version."""
        ...

    def update_labels(self, name: str, change: LabelChange) -> ModelStatus:
        """Read the labels of one model version (``name`` with ``@N``: any other name is
        refused), apply ``change`` and write the result, consistently: a concurrent writer
        (another stack claiming the same version) is never overwritten; the change is
        re-applied to what it wrote."""
        ...

    def merge_aliases(self, name: str, *, add: Sequence[str], remove: Sequence[str]) -> ModelStatus:
        """Add and remove aliases of one version (``name`` with ``@N``: any other is refused)."""
        ...

    def set_default_checkpoint(self, name: str, checkpoint_id: str) -> ModelStatus:
        """Make ``checkpoint_id`` the default checkpoint of one version (``name`` with ``@N``:
        any other is refused); the tuned model's endpoint is then that checkpoint's."""
        ...

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
