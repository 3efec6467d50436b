"""The Gemini API backend: `tunedModels` (generativelanguage v1beta) through the official GAPIC
client `google-ai-generativelanguage`, REST transport. Docs and the worked example:
gemini_api.md beside this file.

Why not google-genai: in Gemini API mode its ``tunings.tune()`` (2.34) drops the training
examples, so it cannot create a tuned model there (docs/reference/wire-contract.md section 6).

How the TuningBackend words map onto this API:

- A "job" *is* the tuned model: its name ``tunedModels/{id}`` is both the job name and the tuned
  model name. States map CREATING -> RUNNING, ACTIVE -> SUCCEEDED, FAILED -> FAILED. While it
  runs, the percentage comes from its create operation's ``CreateTunedModelMetadata
  .completedPercent``; the loss per epoch is the mean of ``tuningTask.snapshots[].meanLoss`` per
  epoch; a failure's message is the operation's ``error.message``.
- Identity (tuned models have no labels): the ``tunedModelId`` is chosen by this backend as
  ``{resource-name}-{h}-{n}`` where ``h`` is the first 16 hex digits of
  ``sha256("{gemini-tuning-resource}/{gemini-tuning-spec}")`` (the identity labels the resources
  stamp) and ``n`` the attempt (1, 2, ... a new attempt only after a failed one). ``find_jobs``
  lists the tuned models and keeps those whose id carries ``-{h}-``. The description is the
  user's, untouched. The create is idempotent by this name: a retried create (after a lost
  answer) whose id answers ALREADY_EXISTS adopts that tuned model instead of failing or making
  another (``_create``).
- No cancel exists: ``cancel_job`` deletes a tuned model that is still CREATING (the documented
  way to stop and clean up a tuning). No labels or version aliases exist: labels are not sent,
  and adding an alias is refused.

The API key comes from Settings only (stack config secret ``gemini-tuning:geminiApiKey`` through
``configure()``, or GEMINI_API_KEY / GOOGLE_API_KEY); it is handed to the client and sent in the
``x-goog-api-key`` header, never in a URL, an attribute of a pickled object, or a message.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from gemini_tuning.backends._settings import Settings
from gemini_tuning.backends._types import (
    BackendError,
    JobRequest,
    JobStatus,
    LabelChange,
    ModelStatus,
    NotFoundError,
    SubmitUncertainError,
)

# The identity labels TuningJob stamps on every job (resources/_lifecycle.py).
RESOURCE_LABEL = "gemini-tuning-resource"
SPEC_LABEL = "gemini-tuning-spec"
NAME_LABEL = "gemini-tuning-name"
IDENTITY_HEX = 16
READABLE_MAX = 17  # 17 + 1 + 16 + 1 + up to 5 digits of attempt <= 40 characters
STATES = {"CREATING": "RUNNING", "ACTIVE": "SUCCEEDED", "FAILED": "FAILED"}
TUNING_SCOPES = (
    "https://www.googleapis.com/auth/generative-language.tuning",
    "https://www.googleapis.com/auth/cloud-platform",
)
NO_KEY_HINT = (
    "no Gemini API key is configured: `pulumi config set --secret gemini-tuning:geminiApiKey "
    "KEY`, or set GEMINI_API_KEY"
)


def identity_hash(labels: Mapping[str, str]) -> str | None:
    """The identity part of the tunedModelId, or None without the identity labels."""
    owner, spec = labels.get(RESOURCE_LABEL), labels.get(SPEC_LABEL)
    if not owner or not spec:
        return None
    return hashlib.sha256(f"{owner}/{spec}".encode()).hexdigest()[:IDENTITY_HEX]


def tuned_model_id(labels: Mapping[str, str], attempt: int) -> str | None:
    """``{readable}-{hash}-{attempt}``: matches [a-z]([a-z0-9-]{0,38}[a-z0-9])?."""
    digest = identity_hash(labels)
    if digest is None:
        return None
    readable = re.sub(r"[^a-z0-9]+", "-", labels.get(NAME_LABEL, "").lower())
    readable = re.sub(r"^[^a-z]+", "", readable)[:READABLE_MAX].strip("-") or "gt"
    return f"{readable}-{digest}-{attempt}"


def attempt_of(name: str, digest: str) -> int | None:
    """The attempt number if ``name`` (tunedModels/ID) is one of this identity's, else None."""
    found = re.fullmatch(rf"tunedModels/(?:[a-z][a-z0-9-]*-)?{digest}-(\d+)", name)
    return int(found.group(1)) if found else None


@functools.cache
def _clients(settings: Settings) -> dict[str, Any]:
    from google.ai import generativelanguage_v1beta as glm
    from google.api_core.client_options import ClientOptions

    endpoint = settings.gemini_api_endpoint
    kwargs: dict[str, Any] = {"transport": "rest"}
    if settings.gemini_api_key:
        kwargs["client_options"] = ClientOptions(
            api_endpoint=endpoint, api_key=settings.gemini_api_key
        )
    else:
        kwargs["client_options"] = ClientOptions(api_endpoint=endpoint)
        kwargs["credentials"] = _credentials(settings.gemini_api_local)
    built = {
        "model": glm.ModelServiceClient(**kwargs),
        "generative": glm.GenerativeServiceClient(**kwargs),
    }
    for client in built.values():
        _record(client, settings)
    return built


def _record(client: Any, settings: Settings) -> None:
    """With GEMINI_TUNING_RECORD set, ``client``'s exchanges go into the recording (no header,
    so never the API key; gemini_tuning/_recording.py)."""
    from gemini_tuning import _recording

    made_against = "emulator" if settings.gemini_api_local else settings.gemini_api_endpoint
    found = _recording.recorder(project=settings.project, bucket=None, made_against=made_against)
    if found is not None:
        _recording.attach(client, found)


def _credentials(local: bool) -> Any:
    """Without an API key: nothing on loopback (the emulator then refuses, with its message),
    else Application Default Credentials (OAuth, which tuning has needed at times)."""
    if local:
        from google.auth.credentials import AnonymousCredentials

        return AnonymousCredentials()  # type: ignore[no-untyped-call]
    import google.auth
    from google.auth.exceptions import DefaultCredentialsError

    try:
        credentials, _ = google.auth.default(scopes=list(TUNING_SCOPES))
    except DefaultCredentialsError as err:
        raise BackendError(f"{NO_KEY_HINT} (and no Application Default Credentials)") from err
    return credentials


@functools.cache
def _retry() -> Any:
    from gemini_tuning.backends.vertex import _retry as shared

    return shared()


@contextmanager
def _service_errors(settings: Settings) -> Iterator[None]:
    """google.api_core errors -> BackendError with the service's message verbatim."""
    from google.api_core import exceptions

    try:
        yield
    except exceptions.NotFound as err:
        raise NotFoundError(err.message or str(err)) from err
    except (exceptions.Forbidden, exceptions.Unauthorized) as err:
        hint = "" if settings.gemini_api_key else f" ({NO_KEY_HINT})"
        raise BackendError(f"{err.code} {err.message}{hint}") from err
    except exceptions.GoogleAPICallError as err:
        raise BackendError(f"{err.code} {err.message}") from err
    except exceptions.RetryError as err:
        raise BackendError(f"gave up retrying: {err.cause or err}") from err


def _dict(message: Any) -> dict[str, Any]:
    from google.protobuf import json_format

    pb = getattr(message, "_pb", message)
    return dict(json_format.MessageToDict(pb))


def _model_name(name: str) -> str:
    """``tunedModels/X`` from a tuned model or operation name."""
    return name.split("/operations/", 1)[0]


class GeminiApiBackend:
    """TuningBackend for the Gemini API (the real service, or the local emulator)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def _call(self, kind: str, method: str, /, *args: Any, **kwargs: Any) -> Any:
        client = _clients(self._settings)[kind]
        with _service_errors(self._settings):
            return getattr(client, method)(*args, retry=_retry(), **kwargs)

    # -- tuning jobs (= tuned models) --------------------------------------------------------

    def _list(self) -> list[Any]:
        pager = self._call("model", "list_tuned_models", page_size=100)
        with _service_errors(self._settings):
            return list(pager)

    def find_jobs(
        self,
        labels: Mapping[str, str],
        *,
        created_since: str | None = None,
        display_name: str | None = None,
        known: Collection[str] = (),
    ) -> list[JobStatus]:
        """The tuned models whose ID carries the identity hash of ``labels``. The list is never
        filtered here (every model is listed and matched on the client), so nothing more is
        needed after a lost create: the ID itself is the identity, whatever the display name
        or the time."""
        del created_since, display_name, known
        digest = identity_hash(labels)
        if digest is None:
            return []
        return [
            self._status(model)
            for model in self._list()
            if attempt_of(model.name, digest) is not None
        ]

    def submit_job(self, request: JobRequest) -> JobStatus:
        from google.ai import generativelanguage_v1beta as glm

        if not request.inline_examples:
            raise BackendError("the Gemini API takes its examples inline: none were given")
        if request.pre_tuned_model:
            raise BackendError("the gemini-api backend cannot tune a tuned model further")
        digest = identity_hash(request.labels)
        model_id = tuned_model_id(request.labels, self._attempt(digest)) if digest else None
        hyper: dict[str, Any] = {}
        for key in ("epoch_count", "batch_size", "learning_rate", "learning_rate_multiplier"):
            value = getattr(request, key)
            if value is not None:
                hyper[key] = value
        tuned = glm.TunedModel(
            base_model=request.base_model or "",
            display_name=request.display_name or "",
            description=request.description or "",
            tuning_task=glm.TuningTask(
                hyperparameters=glm.Hyperparameters(**hyper),
                training_data=glm.Dataset(
                    examples=glm.TuningExamples(
                        examples=[
                            glm.TuningExample(text_input=text, output=output)
                            for text, output in request.inline_examples
                        ]
                    )
                ),
            ),
        )
        operation = self._create(tuned, model_id)
        if operation is None:  # ALREADY_EXISTS: this identity's model is there: adopt it
            return self.get_job(f"tunedModels/{model_id}")
        metadata = _dict(operation.metadata) if operation.metadata is not None else {}
        name = str(metadata.get("tunedModel") or _model_name(operation.operation.name))
        return JobStatus(name=name, state="RUNNING", tuned_model=name, percent=0.0)

    def _attempt(self, digest: str) -> int:
        """The attempt number of the next create: the newest attempt's again unless it FAILED
        (its create then answers ALREADY_EXISTS and that model is adopted), else one more."""
        newest: tuple[int, str] | None = None
        for model in self._list():
            attempt = attempt_of(model.name, digest)
            if attempt is not None and (newest is None or attempt > newest[0]):
                newest = (attempt, _dict(model).get("state", ""))
        if newest is None:
            return 1
        return newest[0] + 1 if newest[1] == "FAILED" else newest[0]

    def _create(self, tuned: Any, model_id: str | None) -> Any:
        """CreateTunedModel, idempotent by its own name: with a ``tunedModelId`` the request is
        retried after a lost answer (as every idempotent call), and a create that answers
        ALREADY_EXISTS (409: the lost attempt did create it) returns None for the caller to
        adopt that model. The API page (ai.google.dev/api/tuning, tunedModels.create) calls the
        id "the unique id for the tuned model"; the code for a taken id is AIP-133's ("If the
        user provides an ID that would result in a duplicate resource name, the service must
        error with ALREADY_EXISTS", google.aip.dev/133). Without an id nothing makes a retry
        safe: it is sent once, and a lost answer is SubmitUncertainError (the caller looks the
        job up before it submits again)."""
        from google.api_core import exceptions

        from gemini_tuning.backends.vertex import _lost_answers

        lost: tuple[type[Exception], ...] = (*_lost_answers(), exceptions.RetryError)
        client = _clients(self._settings)["model"]
        kwargs: dict[str, Any] = {"tuned_model": tuned}
        if model_id:
            kwargs["tuned_model_id"] = model_id
        try:
            return client.create_tuned_model(retry=_retry() if model_id else None, **kwargs)
        except exceptions.Conflict as err:
            if model_id:
                return None
            raise BackendError(f"{err.code} {err.message}") from err
        except lost as err:
            raise SubmitUncertainError(f"the answer to CreateTunedModel was lost: {err}") from err
        except exceptions.GoogleAPICallError as err:
            with _service_errors(self._settings):
                raise err

    def get_job(self, name: str) -> JobStatus:
        return self._status(self._call("model", "get_tuned_model", name=_model_name(name)))

    def _status(self, model: Any) -> JobStatus:
        raw = _dict(model)
        name = str(raw["name"])
        state = STATES.get(str(raw.get("state", "")), "PENDING")
        task = raw.get("tuningTask", {})
        hyper = task.get("hyperparameters", {})
        epochs = int(hyper["epochCount"]) if "epochCount" in hyper else None
        snapshots = task.get("snapshots", [])
        operation = self._operation_metadata(name) if state != "SUCCEEDED" else {}
        meta = operation.get("metadata", {})
        total = int(meta.get("totalSteps") or 0)
        completed = int(meta.get("completedSteps") or 0)
        if state == "SUCCEEDED":
            percent: float | None = 100.0
            done = epochs or 0
        else:
            percent = float(meta["completedPercent"]) if "completedPercent" in meta else None
            done = completed * epochs // total if epochs and total else 0
        steps = max((int(s.get("step", 0)) for s in snapshots), default=0) or total
        error = operation.get("error", {}).get("message") if state == "FAILED" else None
        return JobStatus(
            name=name,
            state=state,
            error=error or (f"tuned model {name} is FAILED" if state == "FAILED" else None),
            tuned_model=name,
            create_time=raw.get("createTime"),
            start_time=task.get("startTime"),
            end_time=task.get("completeTime"),
            epoch_count=epochs,
            epochs_done=done,
            percent=percent,
            loss_per_epoch=mean_loss_per_epoch(snapshots),
            data_stats={"steps": steps} if steps else {},
        )

    def _operation_metadata(self, name: str) -> dict[str, Any]:
        """The newest create operation of a tuned model: {"metadata": {...}, "error": {...}}."""
        from google.ai import generativelanguage_v1beta as glm

        try:
            found = self._call("model", "list_operations", {"name": name})
        except NotFoundError:
            return {}
        operations = list(found.operations)
        if not operations:
            return {}
        operation = operations[0]
        out: dict[str, Any] = {}
        if operation.metadata.type_url.endswith("CreateTunedModelMetadata"):
            metadata = glm.CreateTunedModelMetadata.deserialize(operation.metadata.value)
            out["metadata"] = _dict(metadata)
        if operation.HasField("error"):
            out["error"] = {"code": operation.error.code, "message": operation.error.message}
        return out

    def training_progress(self, status: JobStatus) -> tuple[int, int] | None:
        """None: the operation's completedPercent already is the progress (``percent``)."""
        del status
        return None

    def cancel_job(self, name: str) -> None:
        """The API has no cancel: a tuned model still CREATING is deleted, which stops it."""
        status = self.get_job(name)
        if status.active:
            self.delete_version(status.name, None)

    # -- models ------------------------------------------------------------------------------

    def get_model(self, name: str) -> ModelStatus:
        return _model_status(self._call("model", "get_tuned_model", name=_model_name(name)))

    def version_name(self, name: str) -> str:
        """A tuned model has no versions: its name is exact."""
        return _model_name(name)

    def update_model(
        self, name: str, *, display_name: str | None, description: str | None
    ) -> ModelStatus:
        from google.ai import generativelanguage_v1beta as glm
        from google.protobuf import field_mask_pb2

        fields = {"display_name": display_name, "description": description}
        present = {k: v for k, v in fields.items() if v is not None}
        if not present:
            return self.get_model(name)
        model = glm.TunedModel(name=_model_name(name), **present)
        mask = field_mask_pb2.FieldMask(paths=sorted(present))
        return _model_status(
            self._call("model", "update_tuned_model", tuned_model=model, update_mask=mask)
        )

    def merge_aliases(self, name: str, *, add: Sequence[str], remove: Sequence[str]) -> ModelStatus:
        if add:
            raise BackendError(
                f"the Gemini API has no version aliases: cannot add {list(add)} to {name}"
            )
        return self.get_model(name)  # nothing to remove: none can have been added

    def set_default_checkpoint(self, name: str, checkpoint_id: str) -> ModelStatus:
        raise BackendError(
            f"the Gemini API keeps no checkpoints to choose from: cannot make {checkpoint_id} "
            f"the default checkpoint of {name}"
        )

    def update_labels(self, name: str, change: LabelChange) -> ModelStatus:
        wanted = dict(change({}))
        if wanted:
            raise BackendError(f"the Gemini API has no labels: cannot set {wanted} on {name}")
        return self.get_model(name)

    def delete_version(self, name: str, endpoint: str | None) -> list[str]:
        """Delete the tuned model (no versions, no endpoint); already gone counts as done."""
        del endpoint
        try:
            self._call("model", "delete_tuned_model", name=_model_name(name))
        except NotFoundError:
            return []
        return [f"deleted tuned model {_model_name(name)}"]

    def delete_job_endpoints(self, job_name: str) -> list[str]:
        """The Gemini API serves tuned models without endpoints: nothing to remove."""
        del job_name
        return []

    # -- serving -----------------------------------------------------------------------------

    def generate(self, target: str, prompt: str, system_instruction: str | None) -> str:
        request: dict[str, Any] = {
            "model": target if "/" in target else f"models/{target}",
            "contents": [{"role": "user", "parts": [{"text": prompt}]}],
        }
        if system_instruction:
            request["system_instruction"] = {"parts": [{"text": system_instruction}]}
        response = self._call("generative", "generate_content", request=request)
        if not response.candidates:
            return ""
        return "".join(part.text for part in response.candidates[0].content.parts)


def mean_loss_per_epoch(snapshots: Sequence[Mapping[str, Any]]) -> tuple[float, ...]:
    """The mean of the snapshots' meanLoss for each epoch, in epoch order (the field is
    omitted for epoch 0 in proto3 JSON)."""
    by_epoch: dict[int, list[float]] = {}
    for snap in snapshots:
        if "meanLoss" in snap:
            by_epoch.setdefault(int(snap.get("epoch", 0)), []).append(float(snap["meanLoss"]))
    return tuple(round(sum(v) / len(v), 6) for _, v in sorted(by_epoch.items()))


def _model_status(model: Any) -> ModelStatus:
    raw = _dict(model)
    return ModelStatus(
        name=str(raw["name"]),
        display_name=raw.get("displayName") or None,
        description=raw.get("description") or None,
    )
