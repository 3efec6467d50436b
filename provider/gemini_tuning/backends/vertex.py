"""Vertex AI tuning through the official aiplatform_v1 GAPIC clients over REST.

The Google libraries are imported inside the functions that use them: the dynamic-provider
process imports this package on every preview, and importing aiplatform costs seconds.
Clients are cached per process by settings, kind and host, never stored on a provider instance
(a pickled provider lands in Pulumi state). Each call goes to the host of the location named in
the resource it acts on (or the parent it creates under), not only the stack's: see
gemini_tuning/_locations.py.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from gemini_tuning import _timing
from gemini_tuning._locations import location_of
from gemini_tuning.backends._settings import Settings
from gemini_tuning.backends._types import (
    BackendError,
    Checkpoint,
    ConflictError,
    DeleteRefusedError,
    EndpointStatus,
    JobRequest,
    JobStatus,
    LabelChange,
    ModelStatus,
    NotFoundError,
    QuotaExceededError,
    SubmitUncertainError,
)

if TYPE_CHECKING:
    from google.api_core.retry import Retry

_ADAPTER_SIZE_NAMES = {
    1: "ADAPTER_SIZE_ONE",
    2: "ADAPTER_SIZE_TWO",
    4: "ADAPTER_SIZE_FOUR",
    8: "ADAPTER_SIZE_EIGHT",
    16: "ADAPTER_SIZE_SIXTEEN",
    32: "ADAPTER_SIZE_THIRTY_TWO",
}
LIST_PAGE_SIZE = 100
LABEL_WRITE_ATTEMPTS = 8
# The service copies a job's tuning labels onto the model and the endpoints it creates
# (docs/reference/wire-contract.md section 1): how the endpoints of a job's checkpoints are found.
TUNING_JOB_LABEL = "google-vertex-llm-tuning-job-id"


@functools.cache
def _lost_answers() -> tuple[type[Exception], ...]:
    """What a call can end with when the service may have acted on it: a 5xx, a deadline, a
    connection dropped before or while the answer came (requests' own exceptions reach us
    unwrapped through the REST transport)."""
    import requests
    from google.api_core import exceptions

    return (
        exceptions.ServiceUnavailable,
        exceptions.InternalServerError,
        exceptions.DeadlineExceeded,
        exceptions.GatewayTimeout,
        requests.exceptions.ConnectionError,
        requests.exceptions.Timeout,
        requests.exceptions.ChunkedEncodingError,
    )


@functools.cache
def _retry() -> Retry:
    """For idempotent calls (reads, cancel, deletes, label and alias merges, generate): 429s and
    lost answers are retried with backoff; others are not. CreateTuningJob never goes through
    it (see submit_job)."""
    from google.api_core import exceptions, retry

    transient = retry.if_exception_type(exceptions.TooManyRequests, *_lost_answers())
    return retry.Retry(
        predicate=transient, initial=0.5, maximum=30.0, multiplier=2.0, timeout=300.0
    )


_CLIENTS: dict[tuple[Settings, str, str], Any] = {}
_CLIENT_LOCKS: dict[tuple[Settings, str, str], threading.Lock] = {}
_CLIENTS_LOCK = threading.Lock()
_WARMING: set[Settings] = set()
# The request fields that name the resource a call acts on (or the parent it creates under).
_NAME_FIELDS = ("name", "parent", "endpoint", "model", "tuning_job", "tensorboard_time_series")


def _client(settings: Settings, kind: str, location: str | None = None) -> Any:
    """The ``kind`` client for ``settings`` at the host of ``location`` (the stack's when None),
    made once per process: the creates of 50 jobs that start together wait for the first one's
    instead of each importing and building it. Only the service asked for is imported (a
    create needs the tuning service alone), and building one kind never holds up a call on
    another."""
    endpoint = settings.endpoint_for(location or settings.location)
    key = (settings, kind, endpoint)
    built = _CLIENTS.get(key)
    if built is not None:
        return built
    with _CLIENTS_LOCK:
        lock = _CLIENT_LOCKS.setdefault(key, threading.Lock())
    with lock:
        if key not in _CLIENTS:
            _CLIENTS[key] = _new_client(settings, kind, endpoint)
        return _CLIENTS[key]


def _new_client(settings: Settings, kind: str, endpoint: str) -> Any:
    from gemini_tuning.backends import _aiplatform

    client = _aiplatform.client_class(kind)
    options = {"api_endpoint": endpoint}
    built = client(transport="rest", client_options=options, credentials=_credentials(settings))
    _record(built, settings)
    return built


def _record(client: Any, settings: Settings) -> None:
    """With GEMINI_TUNING_RECORD set, every exchange of ``client`` goes into the recording
    (redacted; see gemini_tuning/_recording.py)."""
    from gemini_tuning import _recording

    made_against = "emulator" if settings.local else settings.api_endpoint
    found = _recording.recorder(
        project=settings.project, bucket=settings.dataset_bucket, made_against=made_against
    )
    if found is not None:
        _recording.attach(client, found)


@functools.cache
def _credentials(settings: Settings) -> Any:
    """One credentials object for all the clients of ``settings`` (one token, refreshed once)."""
    return settings.credentials()


def _warm_clients(settings: Settings) -> None:
    """Build the other clients on a background thread, once: a job's wait is idle time, and
    what follows it (the loss from the experiment, the model's labels) needs them."""
    with _CLIENTS_LOCK:
        if settings in _WARMING:
            return
        _WARMING.add(settings)

    def build() -> None:
        from gemini_tuning.backends import _aiplatform

        for kind in _aiplatform.SERVICES:
            try:
                _client(settings, kind)
            except Exception:  # noqa: BLE001 - the call that needs it builds it and reports
                return

    threading.Thread(target=build, name="gemini-tuning-clients", daemon=True).start()


@contextmanager
def _service_errors() -> Iterator[None]:
    """Turn google.api_core errors into BackendError, keeping the service's message."""
    import requests
    from google.api_core import exceptions

    try:
        yield
    except exceptions.NotFound as err:
        raise NotFoundError(err.message or str(err)) from err
    except exceptions.Conflict as err:  # 409: ABORTED (a stale etag) or ALREADY_EXISTS
        raise ConflictError(f"{err.code} {err.message}") from err
    except exceptions.GoogleAPICallError as err:
        raise BackendError(f"{err.code} {err.message}") from err
    except exceptions.RetryError as err:
        raise BackendError(f"gave up retrying: {err.cause or err}") from err
    except requests.exceptions.RequestException as err:
        raise BackendError(f"no answer from the service: {err}") from err


def _target_location(kwargs: Mapping[str, Any]) -> str | None:
    """The location in the resource name a call's arguments act on: a name field, a request
    dict's, or a message's ``name`` (update_model's Model). None when none names one."""
    request = kwargs.get("request")
    fields = {**(request if isinstance(request, Mapping) else {}), **kwargs}
    for key in _NAME_FIELDS:
        value = fields.get(key)
        if value is not None and not isinstance(value, str):
            value = getattr(value, "name", None)
        if isinstance(value, str) and (found := location_of(value)):
            return found
    return None


def _refused(err: BackendError) -> bool:
    """A 400 (FAILED_PRECONDITION, INVALID_ARGUMENT): the service refuses; retrying the same
    call cannot help."""
    from google.api_core import exceptions

    return isinstance(err.__cause__, exceptions.BadRequest)


def _kept_line(name: str, whole_model: bool, err: BackendError) -> str:
    """What a refused delete leaves, and the gcloud command that removes it by hand
    (https://cloud.google.com/sdk/gcloud/reference/ai/models/delete-version: `gcloud ai models
    delete-version 123@1234 --project=example --region=us-central1`; `gcloud ai models delete
    MODEL_ID --project=PROJECT_ID --region=LOCATION`, Model Registry delete-model page)."""
    parts = name.split("/")
    project, region = parts[1], parts[3]
    model_id = _without_version(name).rsplit("/", 1)[-1]
    command = (
        f"gcloud ai models delete {model_id}"
        if whole_model
        else f"gcloud ai models delete-version {model_id}@{_version_of(name)}"
    )
    reason = getattr(err.__cause__, "message", None) or str(err)
    return (
        f"the service kept tuned model {name} (it refused the delete: {reason}); its "
        f"endpoints are gone and nothing serves it; to remove it by hand: {command} "
        f"--region={region} --project={project}"
    )


def split_without(
    split: Mapping[str, int], leaving: str, staying: Sequence[str], prefer: Sequence[str] = ()
) -> dict[str, int]:
    """The traffic split once ``leaving`` is undeployed: its share goes to the models that
    stay, in proportion to what they have, and the percentages add up to 100 (endpoint.proto:
    "The traffic percentage values must add up to 100"). When none of those that stay has any
    traffic, the ``prefer``red ones (models not being removed) share it evenly, else all."""
    if not staying:
        return {}
    shares = {d: max(0, int(split.get(d, 0))) for d in staying}
    if sum(shares.values()) == 0:
        takers = [d for d in staying if d in prefer] or list(staying)
        shares = {d: (1 if d in takers else 0) for d in staying}
    total = sum(shares.values())
    out = {d: shares[d] * 100 // total for d in staying}
    remainder = 100 - sum(out.values())
    for d in sorted(staying, key=lambda d: -shares[d])[:remainder]:
        out[d] += 1
    return out


def _refused_filter(err: BackendError) -> bool:
    from google.api_core import exceptions

    return isinstance(err.__cause__, exceptions.BadRequest)


def _carries(job: JobStatus, labels: Mapping[str, str]) -> bool:
    return all(job.labels.get(key) == value for key, value in labels.items())


def _matches(job: JobStatus, created_since: str | None, display_name: str | None) -> bool:
    """The client-side checks beyond the labels: created at or after ``created_since`` (both
    RFC 3339 UTC times; compared as instants), with ``display_name`` when one was asked for."""
    if display_name and job.declared.get("tuned_model_display_name") not in (None, display_name):
        return False
    if created_since and job.create_time:
        return _instant(job.create_time) >= _instant(created_since)
    return True


def _instant(text: str) -> float:
    """An RFC 3339 time (``Z``, 0 to 9 fraction digits) as seconds since the epoch."""
    import datetime as dt
    import re

    text = re.sub(r"(\.\d{6})\d+", r"\1", text.replace("Z", "+00:00"))
    return dt.datetime.fromisoformat(text).timestamp()


# The unfiltered list of each location as this process first read it (see find_jobs), with the
# jobs this process submitted since; and the locations whose list refused a create_time filter.
_SNAPSHOTS: dict[tuple[str, str, str], dict[str, JobStatus]] = {}
_SNAPSHOT_LOCK = threading.Lock()
_FILTER_REFUSED: dict[Any, bool] = {}


def _snapshot_key(settings: Settings) -> tuple[str, str, str]:
    return (settings.api_endpoint, settings.project, settings.location)


def forget_listings() -> None:
    """Drop the snapshots (tests that play several `up`s in one process)."""
    with _SNAPSHOT_LOCK:
        _SNAPSHOTS.clear()
    _FILTER_REFUSED.clear()


class VertexBackend:
    """TuningBackend for Vertex AI (the real service, or the local emulator)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def _client(self, kind: str, location: str | None = None) -> Any:
        """The ``kind`` client at the host of ``location`` (the stack's when None)."""
        return _client(self._settings, kind, location)

    def _call(self, kind: str, method: str, /, **kwargs: Any) -> Any:
        """An idempotent call at the host of the location its arguments name: retried on
        transient answers, each attempt with its timeout."""
        with _service_errors():
            rpc = self._rpc(kind, method, _target_location(kwargs))
            return rpc(retry=_retry(), timeout=self._timeout(), **kwargs)

    def _rpc(self, kind: str, method: str, location: str | None = None) -> Any:
        try:
            return getattr(self._client(kind, location), method)
        except ValueError as err:  # _locations.UnknownLocationError: no host serves the name's
            raise BackendError(f"no Vertex AI host for this resource: {err}") from err

    def _timeout(self) -> Any:
        from google.api_core import timeout

        return timeout.ConstantTimeout(self._settings.request_timeout_seconds)  # type: ignore[no-untyped-call]

    @property
    def _parent(self) -> str:
        return f"projects/{self._settings.project}/locations/{self._settings.location}"

    # -- tuning jobs -------------------------------------------------------------------------

    def find_jobs(
        self,
        labels: Mapping[str, str],
        *,
        created_since: str | None = None,
        display_name: str | None = None,
        known: Collection[str] = (),
    ) -> list[JobStatus]:
        """Jobs carrying all ``labels``, checked here whatever the service's filter answered.

        The filter narrows the list, but a filter answered with nothing is no proof of absence
        (the service documents no filter fields for tuningJobs.list: "Optional. The standard
        list filter."; an undocumented filter can match nothing). So an empty answer is checked
        against the unfiltered list, matched here by labels (and ``display_name`` and
        ``created_since``, an RFC 3339 time, when given):

        - without ``created_since`` (before a create: is there a job from an earlier `up`?):
          the unfiltered list read once per process and location (every job created before
          this process started is in it) plus the jobs this process has submitted since;
        - with it (after a create whose answer was lost: the job is newer than the snapshot):
          the unfiltered list read now, every page (see ``_list_all``).

        A filter the service refuses (400) falls back the same way, and so does an answer with
        none but ``known`` jobs among the matches (the caller looks for another one)."""
        query = " AND ".join(f'labels.{k}="{v}"' for k, v in sorted(labels.items()))

        def matching(listed: list[JobStatus]) -> list[JobStatus]:
            return [
                job
                for job in listed
                if _carries(job, labels) and _matches(job, created_since, display_name)
            ]

        try:
            jobs = matching(self._list_jobs(query))
        except BackendError as err:
            if not _refused_filter(err):
                raise
            jobs = []
        if all(job.name in known for job in jobs):
            fallback = (
                self._list_all()
                if created_since
                else self._fresh([job for job in self._snapshot() if _carries(job, labels)])
            )
            jobs += [job for job in matching(fallback) if job.name not in {j.name for j in jobs}]
        return jobs

    def _fresh(self, jobs: list[JobStatus]) -> list[JobStatus]:
        """``jobs`` as they are now (a snapshot's states may be minutes old); gone ones left out.
        Only the few that carry the labels asked for are read again (see find_jobs)."""
        fresh = []
        for job in jobs:
            try:
                fresh.append(_job_status(self._call("tuning", "get_tuning_job", name=job.name)))
            except NotFoundError:
                continue
        return fresh

    def _list_jobs(self, query: str) -> list[JobStatus]:
        request = {"parent": self._parent, "filter": query, "page_size": LIST_PAGE_SIZE}
        pager = self._call("tuning", "list_tuning_jobs", request=request)
        with _service_errors():
            return [_job_status(job) for job in pager]

    def _list_all(self) -> list[JobStatus]:
        """Every tuning job of the location, from the unfiltered list, every page.

        ListTuningJobsRequest has no order_by and its reference documents no order (AIP-132:
        a List method "must document the default ordering, if one exists, or must explicitly
        document that the ordering behavior is unspecified"), so the newest jobs are not
        known to come first: stopping at the first job older than the create would rely on an
        order nobody promised. Proving a job absent needs every page, so there is no page
        bound: a bound would either give up (and block the `up`) or guess (and risk paying
        twice). Each page is one read of the per-minute CRUD quota; this runs once per process
        before creates, and again only after a create whose answer was lost."""
        return self._list_jobs("")

    def _snapshot(self) -> list[JobStatus]:
        key = _snapshot_key(self._settings)
        with _SNAPSHOT_LOCK:  # 50 creates that start together share one paging
            if key not in _SNAPSHOTS:
                _SNAPSHOTS[key] = {job.name: job for job in self._list_all()}
            return list(_SNAPSHOTS[key].values())

    def _remember(self, status: JobStatus) -> None:
        """A job this process submitted: the snapshot (read before it existed) learns it."""
        with _SNAPSHOT_LOCK:
            known = _SNAPSHOTS.get(_snapshot_key(self._settings))
            if known is not None:
                known[status.name] = status

    # -- batched polling (resources/_watch.py) -------------------------------------------------

    def read_key(self) -> Any:
        """What one list covers: the service, project and location."""
        return ("vertex", self._settings.api_endpoint, self._settings.project, self._parent)

    def read_jobs(
        self, names: Collection[str], created_since: str | None
    ) -> tuple[dict[str, JobStatus], int]:
        """One ListTuningJobs for every job in ``names`` (paged only when the jobs created since
        ``created_since`` fill more than a page; without it, the unfiltered list): the statuses
        of those of ``names`` it answered, as get_job would return them, and the read calls
        made. A job it did not answer is the caller's to get (list lag, a misread filter).
        A filter the service refuses (400) is not sent again by this process. The statuses are
        as listed: ``finish_status`` adds what get_job adds (the loss of a finished job)."""
        query = ""
        if created_since and not _FILTER_REFUSED.get(self.read_key()):
            query = f'create_time>="{created_since}"'
        try:
            listed, pages = self._list_pages(query)
        except BackendError as err:
            if not query or not _refused_filter(err):
                raise
            _FILTER_REFUSED[self.read_key()] = True
            listed, pages = self._list_pages("")
            pages += 1  # the refused one
        wanted = set(names)
        return {job.name: job for job in listed if job.name in wanted}, pages

    def _list_pages(self, query: str) -> tuple[list[JobStatus], int]:
        request = {"parent": self._parent, "filter": query, "page_size": LIST_PAGE_SIZE}
        pager = self._call("tuning", "list_tuning_jobs", request=request)
        pages = 1
        jobs: list[JobStatus] = []
        with _service_errors():
            for pages, page in enumerate(pager.pages, 1):  # noqa: B007 - the count is kept
                jobs += [_job_status(job) for job in page.tuning_jobs]
        return jobs, pages

    def submit_job(self, request: JobRequest) -> JobStatus:
        """One CreateTuningJob, never retried here: Vertex takes no request ID, so a retry after
        a lost answer would be a second, billed job. A lost answer raises SubmitUncertainError
        (the caller looks the job up by its labels before it submits again); 429 raises
        QuotaExceededError (nothing was created)."""
        from google.api_core import exceptions

        create = self._rpc("tuning", "create_tuning_job", self._settings.location)
        try:
            job = create(
                parent=self._parent,
                tuning_job=_job_body(request),
                retry=None,
                timeout=self._timeout(),
            )
        except exceptions.TooManyRequests as err:
            raise QuotaExceededError(f"{err.code} {err.message}") from err
        except _lost_answers() as err:
            raise SubmitUncertainError(f"the answer to CreateTuningJob was lost: {err}") from err
        except exceptions.GoogleAPICallError as err:
            raise BackendError(f"{err.code} {err.message}") from err
        status = _job_status(job)
        self._remember(status)
        return status

    def get_job(self, name: str) -> JobStatus:
        return self.finish_status(_job_status(self._call("tuning", "get_tuning_job", name=name)))

    def finish_status(self, status: JobStatus) -> JobStatus:
        """What a read of a job adds: the other clients warmed while it runs, the loss once it
        succeeded."""
        if status.active:
            _warm_clients(self._settings)
        if status.succeeded:
            _timing.mark("job_done_seen", job=status.name)
            status = self._with_loss(status)
        return status

    def training_progress(self, status: JobStatus) -> tuple[int, int] | None:
        """The last step of the published /train_total_loss series, of tuningStepCount."""
        from gemini_tuning.backends import _experiment

        total = int(status.data_stats.get("steps", 0))
        if not total or not status.experiment:
            return None
        try:
            with _service_errors():
                points = _experiment.training_loss(self._call, status.experiment)
        except (_experiment.LossUnavailableError, BackendError):
            return None
        return min(points[-1][0] if points else 0, total), total

    def _with_loss(self, status: JobStatus) -> JobStatus:
        """The loss per epoch from the job's experiment, or why there is none."""
        import dataclasses

        from gemini_tuning.backends import _experiment

        try:
            with _service_errors():
                points = _experiment.training_loss(self._call, status.experiment or "")
            epochs = status.epoch_count or 0
            steps = int(status.data_stats.get("steps", 0))
            losses = _experiment.per_epoch(points, steps, epochs)
            validation = _experiment.validation_per_epoch(
                _experiment.validation_loss(self._call, status.experiment or ""), steps, epochs
            )
        except (_experiment.LossUnavailableError, BackendError) as err:
            return dataclasses.replace(status, loss_note=f"loss not available: {err}")
        return dataclasses.replace(
            status, loss_per_epoch=losses, validation_loss_per_epoch=validation
        )

    def cancel_job(self, name: str) -> None:
        self._call("tuning", "cancel_tuning_job", name=name)

    # -- models ------------------------------------------------------------------------------

    def get_model(self, name: str) -> ModelStatus:
        return _model_status(self._call("model", "get_model", name=name))

    def version_name(self, name: str) -> str:
        """``models/X@N`` for any name of a version: ``@N`` as is; a bare name (the version
        holding ``default``) or ``@alias`` resolved once, here, so a write goes to the version
        read and never to the model (see update_labels)."""
        if _exact_version(name):
            return name
        return self.get_model(name).name

    def update_model(
        self, name: str, *, display_name: str | None, description: str | None
    ) -> ModelStatus:
        """display_name and description belong to the model, not to a version: the update goes
        to the bare name. UpdateModelRequest (model_service.proto, aiplatform v1): "Supported
        model fields: display_name, description; supported version-specific fields:
        version_description [...] A model name or model version name fields update mismatch
        will cause a precondition error." So every version shows the same display name."""
        from google.protobuf import field_mask_pb2

        from gemini_tuning.backends import _aiplatform

        fields = {"display_name": display_name, "description": description}
        present = {k: v for k, v in fields.items() if v is not None}
        if not present:
            return self.get_model(name)
        model = _aiplatform.model_message()(name=_without_version(name), **present)
        mask = field_mask_pb2.FieldMask(paths=sorted(present))
        self._call("model", "update_model", model=model, update_mask=mask)
        return self.get_model(name)

    def update_labels(self, name: str, change: LabelChange) -> ModelStatus:
        """One version's labels, read and written on ``models/X@N`` only: on a bare name
        UpdateModel writes the *model's* labels, which every version shows ("if the request is
        for model-specific update, model label gets updated. Otherwise, version labels get
        updated", UpdateModelRequest). The etag read with them makes the write fail, not
        overwrite, if another writer came first."""
        from google.protobuf import field_mask_pb2

        from gemini_tuning.backends import _aiplatform

        _require_version(name, "write labels to")
        for _ in range(LABEL_WRITE_ATTEMPTS):
            current = self._call("model", "get_model", name=name)
            labels = dict(change(dict(current.labels)))
            if labels == dict(current.labels):
                return _model_status(current)
            model = _aiplatform.model_message()(name=name, labels=labels, etag=current.etag)
            mask = field_mask_pb2.FieldMask(paths=["labels"])
            try:
                self._call("model", "update_model", model=model, update_mask=mask)
            except ConflictError:
                continue
            return self.get_model(name)
        raise BackendError(
            f"the labels of {name} changed under us {LABEL_WRITE_ATTEMPTS} times in a row; "
            "run the update again"
        )

    def merge_aliases(self, name: str, *, add: Sequence[str], remove: Sequence[str]) -> ModelStatus:
        """MergeVersionAliasesRequest.name is "the name of the model version to merge aliases,
        with a version ID explicitly included": ``models/X@N`` only."""
        _require_version(name, "merge aliases on")
        aliases = [*add, *(f"-{alias}" for alias in remove)]
        if not aliases:
            return self.get_model(name)
        return _model_status(
            self._call("model", "merge_version_aliases", name=name, version_aliases=aliases)
        )

    def set_default_checkpoint(self, name: str, checkpoint_id: str) -> ModelStatus:
        """ModelService.UpdateModel on ``models/X@N`` with update_mask ``default_checkpoint_id``.

        Documented: "Select the best performing checkpoint before overfitting to be the default
        checkpoint [...] The tuned model endpoint represents the endpoint of the default
        checkpoint" (https://cloud.google.com/vertex-ai/generative-ai/docs/models/
        tuning-checkpoints); Google's sample for it (python-docs-samples, genai/tuning,
        googlegenaisdk_tuning_with_checkpoints_set_default) calls ``client.models.update(model=
        ..., config=UpdateModelConfig(default_checkpoint_id=...))``, which is this UpdateModel
        (PATCH, ``Model.default_checkpoint_id``: "The default checkpoint id of a model
        version", model.proto). [I] UpdateModelRequest's list of updatable fields does not
        name it, and the sample passes the name GetModel answered: the write goes to the exact
        version (``@N``, as labels do), so no other version's default can change."""
        from google.protobuf import field_mask_pb2

        from gemini_tuning.backends import _aiplatform

        _require_version(name, "set the default checkpoint of")
        model = _aiplatform.model_message()(name=name, default_checkpoint_id=checkpoint_id)
        mask = field_mask_pb2.FieldMask(paths=["default_checkpoint_id"])
        self._call("model", "update_model", model=model, update_mask=mask)
        return self.get_model(name)

    def delete_version(self, name: str, endpoint: str | None) -> list[str]:
        """Undeploy this version from every endpoint that serves it (and delete an endpoint
        left empty), then delete the version, or the whole model when it has no other. The
        endpoints: ``endpoint``, those the model lists, and every one its tuning job created,
        its checkpoints' included ("Intermediate checkpoints are deployed to new endpoints
        sequentially as tuning progresses", https://cloud.google.com/vertex-ai/generative-ai/
        docs/models/tuning-checkpoints). Undeploying first is what the Model Registry asks: "If
        you want to delete a model that is deployed to an endpoint, you need to undeploy it
        first" (https://cloud.google.com/vertex-ai/docs/model-registry/delete-model). Each step
        is skipped when what it removes is already gone, so a retried destroy finishes. A
        delete the service refuses (older tuning pages said tuned Gemini models cannot be
        deleted) raises DeleteRefusedError once nothing serves the version any more."""
        try:
            target = self.get_model(name)
        except NotFoundError:
            return []
        model_id, version = _without_version(target.name), _version_of(target.name)
        endpoints = {*target.endpoints, *([endpoint] if endpoint else [])}
        job_id = target.labels.get(TUNING_JOB_LABEL)
        if job_id:
            endpoints |= set(self._job_endpoints(_parent_of(model_id), job_id))

        def serves_this_version(deployed: Any) -> bool:
            return _without_version(deployed.model) == model_id and (
                version is None or (deployed.model_version_id or "1") == version
            )

        done: list[str] = []
        for endpoint_name in sorted(endpoints):
            done += self._remove_endpoint(endpoint_name, serves_this_version)
        try:
            return [*done, *self._delete_registered(target, model_id, version)]
        except DeleteRefusedError as err:
            raise DeleteRefusedError(str(err), [*done, *err.done]) from err

    def _delete_registered(
        self, target: ModelStatus, model_id: str, version: str | None
    ) -> list[str]:
        done: list[str] = []
        others = [v for v in self._versions(model_id) if _version_of(v.name) != version]
        try:
            if not others:
                self._operation("model", "delete_model", missing_ok=True, name=model_id)
                return [f"deleted model {model_id}"]
            if "default" in target.version_aliases:
                newest = max(others, key=lambda v: int(_version_of(v.name) or 0))
                self.merge_aliases(newest.name, add=["default"], remove=[])
                done.append(f"moved alias default to {newest.name}")
            self._operation("model", "delete_model_version", missing_ok=True, name=target.name)
        except BackendError as err:
            if not _refused(err):
                raise
            whole = not others
            raise DeleteRefusedError(_kept_line(target.name, whole, err), done) from err
        return [*done, f"deleted model version {target.name}"]

    def delete_job_endpoints(self, job_name: str) -> list[str]:
        """For a job with no tuned model (cancelled, failed): the endpoints it created for its
        checkpoints, found by the job's tuning label. On those only what the job deployed is
        undeployed: a model version that carries the job's label, or one that was never
        registered (a checkpoint of a job that did not finish)."""
        parent, _, job_id = job_name.rpartition("/tuningJobs/")
        done: list[str] = []
        for endpoint_name in sorted(self._job_endpoints(parent, job_id)):
            done += self._remove_endpoint(endpoint_name, lambda d: self._made_by(d, job_id))
        return done

    def _made_by(self, deployed: Any, job_id: str) -> bool:
        version = deployed.model_version_id or "1"
        try:
            model = self.get_model(f"{_without_version(deployed.model)}@{version}")
        except NotFoundError:
            return True
        return model.labels.get(TUNING_JOB_LABEL) == job_id

    def _job_endpoints(self, parent: str, job_id: str) -> list[str]:
        """Every endpoint the job created: the ones its tunedModel names (the default
        checkpoint's and the others'), and the ones carrying its tuning label, which holds
        while it runs too (the job may name none before it succeeds). The label is checked
        here whatever the filter answered (a filter can be misread); a filter the service
        refuses falls back to the unfiltered list."""
        found: set[str] = set()
        try:  # the plain read: get_job would also read the loss, not needed here
            found_job = self._call("tuning", "get_tuning_job", name=f"{parent}/tuningJobs/{job_id}")
            job = _job_status(found_job)
        except NotFoundError:
            job = None
        if job is not None:
            found |= {*job.endpoints, *([job.endpoint] if job.endpoint else [])}
        query = f'labels.{TUNING_JOB_LABEL}="{job_id}"'
        try:
            listed = self._list_endpoints(parent, query)
        except BackendError as err:
            if not _refused_filter(err):
                raise
            listed = self._list_endpoints(parent, "")
        found |= {e.name for e in listed if dict(e.labels).get(TUNING_JOB_LABEL) == job_id}
        return sorted(found)

    def _list_endpoints(self, parent: str, query: str) -> list[Any]:
        request = {"parent": parent, "filter": query, "page_size": LIST_PAGE_SIZE}
        pager = self._call("endpoint", "list_endpoints", request=request)
        with _service_errors():
            return list(pager)

    def list_versions(self, name: str) -> list[ModelStatus]:
        """Every version of a model (``name`` with or without ``@N``)."""
        return self._versions(_without_version(name))

    def _versions(self, model_id: str) -> list[ModelStatus]:
        pager = self._call("model", "list_model_versions", request={"name": model_id})
        with _service_errors():
            return [_model_status(model) for model in pager]

    def _remove_endpoint(self, endpoint: str, ours: Callable[[Any], bool]) -> list[str]:
        """Undeploy what ``ours`` picks from ``endpoint``; delete the endpoint if that was all.
        While another model stays deployed, each undeploy passes an explicit traffic_split
        that moves the leaving model's share to those that stay: "A DeployedModel will be
        successfully undeployed only if it doesn't have any traffic assigned to it when this
        method executes, or if this field unassigns any traffic to it" (UndeployModelRequest,
        endpoint_service.proto)."""
        done = []
        try:
            found = self._call("endpoint", "get_endpoint", name=endpoint)
        except NotFoundError:
            return []
        deployed = list(found.deployed_models)
        leaving = [d for d in deployed if ours(d)]
        split = {k: int(v) for k, v in dict(found.traffic_split).items()}
        staying = [d.id for d in deployed]
        others = [d.id for d in deployed if d not in leaving]
        for d in leaving:
            staying.remove(d.id)
            split = split_without(split, d.id, staying, prefer=others)
            extra = {"traffic_split": split} if staying else {}
            self._operation(
                "endpoint",
                "undeploy_model",
                missing_ok=True,
                endpoint=endpoint,
                deployed_model_id=d.id,
                **extra,
            )
            done.append(f"undeployed {d.id} from {endpoint}")
        if leaving and not staying:
            self._operation("endpoint", "delete_endpoint", missing_ok=True, name=endpoint)
            done.append(f"deleted endpoint {endpoint}")
        return done

    def _operation(
        self, kind: str, method: str, /, *, missing_ok: bool = False, **kwargs: Any
    ) -> None:
        """Start a long-running operation and wait for it; NOT_FOUND is success if missing_ok.
        One that does not finish in time fails with its name (it may still finish)."""
        import concurrent.futures

        limit = self._settings.operation_timeout_seconds
        try:
            operation = self._call(kind, method, **kwargs)
            with _service_errors():
                operation.result(timeout=limit, retry=_retry())
        except NotFoundError:
            if not missing_ok:
                raise
        except concurrent.futures.TimeoutError as err:
            name = operation.operation.name
            raise BackendError(
                f"the {method} operation {name} did not finish within {limit:g} s; it may still "
                f"finish on its own: check it (GET {name}) and run the command again, or raise "
                "gemini-tuning:operationTimeoutSeconds"
            ) from err

    # -- sweeping (gemini-tuning sweep) ---------------------------------------------------------

    def list_all_jobs(self) -> list[JobStatus]:
        """Every tuning job of the project and location (no filter: the caller checks labels)."""
        return self._list_jobs("")

    def list_all_model_versions(self) -> list[ModelStatus]:
        """Every version of every model of the location. ListModels answers one entry per model
        (its default version), so each model's versions are listed too: labels are per version."""
        request = {"parent": self._parent, "page_size": LIST_PAGE_SIZE}
        pager = self._call("model", "list_models", request=request)
        with _service_errors():
            models = sorted({_without_version(model.name) for model in pager})
        found: list[ModelStatus] = []
        for model in models:
            try:
                found += self._versions(model)
            except NotFoundError:
                continue  # deleted since it was listed
        return found

    def list_endpoints(self) -> list[EndpointStatus]:
        """Every endpoint of the location, with its labels and what is deployed on it."""
        request = {"parent": self._parent, "page_size": LIST_PAGE_SIZE}
        pager = self._call("endpoint", "list_endpoints", request=request)
        with _service_errors():
            return [_endpoint_status(endpoint) for endpoint in pager]

    def delete_endpoint(self, name: str) -> list[str]:
        """Undeploy everything deployed on the endpoint, then delete it; already gone is done."""
        try:
            found = self._call("endpoint", "get_endpoint", name=name)
        except NotFoundError:
            return []
        done = []
        for deployed in found.deployed_models:
            self._operation(
                "endpoint",
                "undeploy_model",
                missing_ok=True,
                endpoint=name,
                deployed_model_id=deployed.id,
            )
            done.append(f"undeployed {deployed.id} from {name}")
        self._operation("endpoint", "delete_endpoint", missing_ok=True, name=name)
        return [*done, f"deleted endpoint {name}"]

    # -- serving -----------------------------------------------------------------------------

    def generate(self, target: str, prompt: str, system_instruction: str | None) -> str:
        request: dict[str, Any] = {
            "model": target
            if "/" in target
            else f"{self._parent}/publishers/google/models/{target}",
            "contents": [{"role": "user", "parts": [{"text": prompt}]}],
        }
        if system_instruction:
            request["system_instruction"] = {"parts": [{"text": system_instruction}]}
        response = self._call("prediction", "generate_content", request=request)
        if not response.candidates:
            return ""
        return "".join(part.text for part in response.candidates[0].content.parts)


def _job_body(request: JobRequest) -> dict[str, Any]:
    hyper: dict[str, Any] = {}
    if request.epoch_count is not None:
        hyper["epoch_count"] = request.epoch_count
    if request.learning_rate_multiplier is not None:
        hyper["learning_rate_multiplier"] = request.learning_rate_multiplier
    if request.adapter_size is not None:
        hyper["adapter_size"] = _ADAPTER_SIZE_NAMES[request.adapter_size]
    spec: dict[str, Any] = {
        "training_dataset_uri": request.training_uri,
        "export_last_checkpoint_only": request.export_last_checkpoint_only,
    }
    if request.validation_uri:
        spec["validation_dataset_uri"] = request.validation_uri
    if hyper:
        spec["hyper_parameters"] = hyper
    body: dict[str, Any] = {"supervised_tuning_spec": spec, "labels": dict(request.labels)}
    if request.base_model:
        body["base_model"] = request.base_model
    if request.pre_tuned_model:
        body["pre_tuned_model"] = {"tuned_model_name": request.pre_tuned_model}
    optional = {
        "tuned_model_display_name": request.display_name,
        "description": request.description,
        "service_account": request.service_account,
    }
    body.update({k: v for k, v in optional.items() if v})
    if request.encryption_key:
        body["encryption_spec"] = {"kms_key_name": request.encryption_key}
    return body


def _job_status(job: Any) -> JobStatus:
    from google.protobuf import json_format

    raw = json_format.MessageToDict(job._pb)
    state = str(raw.get("state", "JOB_STATE_UNSPECIFIED")).removeprefix("JOB_STATE_")
    tuned = raw.get("tunedModel", {})
    hyper = raw.get("supervisedTuningSpec", {}).get("hyperParameters", {})
    checkpoints = tuned.get("checkpoints", [])
    epochs = {int(c.get("epoch", 0)) for c in checkpoints}
    named = {tuned.get("endpoint"), *(c.get("endpoint") for c in checkpoints)}
    return JobStatus(
        name=raw["name"],
        state=state,
        labels=raw.get("labels", {}),
        error=raw.get("error", {}).get("message") if raw.get("error") else None,
        tuned_model=tuned.get("model"),
        endpoint=tuned.get("endpoint"),
        endpoints=tuple(sorted(e for e in named if e)),
        checkpoints=tuple(_checkpoint(c) for c in checkpoints if c.get("checkpointId")),
        create_time=raw.get("createTime"),
        start_time=raw.get("startTime"),
        end_time=raw.get("endTime"),
        epoch_count=int(hyper["epochCount"]) if "epochCount" in hyper else None,
        epochs_done=max(epochs, default=0),
        data_stats=_data_stats(raw.get("tuningDataStats", {}).get("supervisedTuningDataStats", {})),
        experiment=raw.get("experiment"),
        declared=_declared(raw),
    )


def _checkpoint(raw: Mapping[str, Any]) -> Checkpoint:
    """One TunedModelCheckpoint (JSON: int64 epoch and step as strings)."""
    return Checkpoint(
        checkpoint_id=str(raw["checkpointId"]),
        epoch=int(raw.get("epoch", 0)),
        step=int(raw.get("step", 0)),
        endpoint=raw.get("endpoint") or None,
    )


def _declared(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The TuningJobSpec fields a job (as JSON) was submitted with; absent ones are left out."""
    spec = raw.get("supervisedTuningSpec", {})
    hyper = spec.get("hyperParameters", {})
    sizes = {name: size for size, name in _ADAPTER_SIZE_NAMES.items()}
    found = {
        "base_model": raw.get("baseModel"),
        "pre_tuned_model": raw.get("preTunedModel", {}).get("tunedModelName"),
        "training_dataset": spec.get("trainingDatasetUri"),
        "validation_dataset": spec.get("validationDatasetUri"),
        "epoch_count": int(hyper["epochCount"]) if "epochCount" in hyper else None,
        "learning_rate_multiplier": hyper.get("learningRateMultiplier"),
        "adapter_size": sizes.get(str(hyper.get("adapterSize"))),
        "tuned_model_display_name": raw.get("tunedModelDisplayName"),
        "description": raw.get("description"),
        "encryption_key": raw.get("encryptionSpec", {}).get("kmsKeyName"),
        "service_account": raw.get("serviceAccount"),
        "export_last_checkpoint_only": spec.get("exportLastCheckpointOnly") or None,
    }
    return {k: v for k, v in found.items() if v not in (None, "")}


def _data_stats(stats: Mapping[str, Any]) -> dict[str, Any]:
    wanted = {
        "tuningDatasetExampleCount": "examples",
        "totalTuningCharacterCount": "characters",
        "totalBillableCharacterCount": "billable_characters",
        "totalBillableTokenCount": "billable_tokens",
        "tuningStepCount": "steps",
    }
    return {ours: int(stats[theirs]) for theirs, ours in wanted.items() if theirs in stats}


def _model_status(model: Any) -> ModelStatus:
    """The status of one version, named ``models/X@N`` (GetModel answers a bare name or an
    alias with the version it resolved to; its version_id says which)."""
    name = f"{_without_version(model.name)}@{model.version_id}" if model.version_id else model.name
    return ModelStatus(
        name=name,
        display_name=model.display_name or None,
        description=model.description or None,
        labels=dict(model.labels),
        version_aliases=tuple(model.version_aliases),
        endpoints=tuple(ref.endpoint for ref in model.deployed_models),
        create_time=model.version_create_time.isoformat() if model.version_create_time else None,
        default_checkpoint_id=model.default_checkpoint_id or None,
    )


def _endpoint_status(endpoint: Any) -> EndpointStatus:
    created = endpoint.create_time
    return EndpointStatus(
        name=endpoint.name,
        labels=dict(endpoint.labels),
        deployed=tuple(d.id for d in endpoint.deployed_models),
        create_time=created.isoformat() if created else None,
    )


def _parent_of(model_id: str) -> str:
    """``projects/P/locations/L`` of a model name."""
    return model_id.rsplit("/models/", 1)[0]


def _without_version(name: str) -> str:
    return name.split("@", 1)[0]


def _exact_version(name: str) -> bool:
    """True for ``models/X@N`` (a version ID, not an alias, ``-`` or nothing)."""
    version = _version_of(name)
    return version is not None and version.isdigit()


def _require_version(name: str, what: str) -> None:
    """Refuse a write that would land on the model (or on whatever version an alias names when
    it arrives) instead of on one version: no caller can make one by mistake."""
    if not _exact_version(name):
        raise BackendError(
            f"refusing to {what} {name}: a version write needs the version ID "
            f"({_without_version(name)}@N); resolve the name first (VertexBackend.version_name)"
        )


def _version_of(name: str) -> str | None:
    return name.split("@", 1)[1] if "@" in name else None
