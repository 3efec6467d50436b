"""Vertex AI handlers: GenAiTuningService, ModelService, EndpointService, PredictionService
(generateContent) and long-running operations. Transport-free: each handler takes a `Call` and
returns a JSON-able dict (or a list of chunks for streaming); `_app` does HTTP."""

from __future__ import annotations

import hashlib
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from gemini_tuning import catalog
from gemini_tuning._locations import location_of
from gemini_tuning.emulator import _answers, _hold, _learner, _listing, _ops
from gemini_tuning.emulator._config import EmulatorConfig, project_number
from gemini_tuning.emulator._errors import (
    ApiError,
    check_display_name,
    invalid,
    not_found,
    precondition,
)
from gemini_tuning.emulator._metrics import TuningMetrics
from gemini_tuning.emulator._store import Resource, Store
from gemini_tuning.emulator._trainer import FAIL_LABEL, SPE_LABEL, Trainer, checkpoint_epochs
from gemini_tuning.emulator._wire import (
    ADAPTER_SIZE_NAME,
    ADAPTER_SIZE_VALUE,
    ADAPTER_SIZES,
    JOB_STATES,
    normalize_keys,
    parse_enum,
    parse_int64,
    parse_learning_rate_multiplier,
    prune,
    timestamp,
)

_LABEL_KEY = re.compile(r"[a-z][a-z0-9_-]{0,62}")
_LABEL_VALUE = re.compile(r"[a-z0-9_-]{0,63}")
_ALIAS = re.compile(r"[a-z][a-zA-Z0-9-]{0,126}[a-z0-9-]")
_LOCATION = re.compile(r"[a-z0-9-]+")
MAX_DISPLAY_NAME = 128
UNFINISHED = frozenset(
    {"JOB_STATE_QUEUED", "JOB_STATE_PENDING", "JOB_STATE_RUNNING", "JOB_STATE_CANCELLING"}
)
QUOTA_METRIC = "aiplatform.googleapis.com/concurrent_tuning_jobs"
TUNING_LABELS = (
    "google-vertex-llm-tuning-base-model-id",
    "google-vertex-llm-tuning-job-id",
    "tune-type",
)


@dataclass
class Call:
    """One request, transport-free."""

    http_method: str
    api: str  # "v1", "v1beta1" or "ui"
    params: list[str]  # the '*' segments of the matched route, URL-decoded
    query: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] = field(default_factory=dict)


def check_labels(labels: Any) -> dict[str, str]:
    if labels is None:
        return {}
    if not isinstance(labels, dict):
        raise invalid("labels must be a map of strings")
    for key, value in labels.items():
        if not isinstance(value, str):
            raise invalid(f"Label {key!r}: the value must be a string")
        if not _LABEL_KEY.fullmatch(key):
            raise invalid(
                f"Label key {key!r} is invalid: keys are 1-63 characters, start with a lowercase "
                "letter and contain only lowercase letters, digits, '_' and '-'."
            )
        # Values of emulator-* control labels are free text (they never reach Google).
        if not key.startswith("emulator-") and not _LABEL_VALUE.fullmatch(value):
            raise invalid(
                f"Label value {value!r} (key {key!r}) is invalid: values are at most 63 "
                "characters of lowercase letters, digits, '_' and '-'."
            )
    return dict(labels)


def _on_labels(text: str, fields: list[str]) -> bool:
    """True when the filter ``text`` has a term on labels."""
    return any(term.field == "labels" for term in _listing.parse_filter(text, fields))


def _etag(data: dict[str, Any]) -> str:
    return hashlib.sha256(repr(sorted(data.items())).encode()).hexdigest()[:16]


def _restamp(version: Resource) -> None:
    """A model version's etag after a change to it or to its model's labels."""
    data = {k: v for k, v in version.data.items() if k != "etag"}
    data["__model_labels"] = sorted((version.internal.get("model_labels") or {}).items())
    version.data["etag"] = _etag(data)


def _epoch_of(version: Resource, checkpoint_id: Any) -> int | None:
    """The epoch of one of a model version's checkpoints (None: unknown, the last one)."""
    for cp in version.data.get("checkpoints", []):
        if str(cp.get("checkpointId")) == str(checkpoint_id):
            return int(cp.get("epoch", 0)) or None
    return None


def merged(version: Resource) -> dict[str, Any]:
    """A model version as the service returns it. UpdateModelRequest (model_service.proto,
    googleapis google/cloud/aiplatform/v1): "Labels are supported in both scenarios. Both the
    model labels and the version labels are merged when a model is returned." A key set at
    both levels shows the version's value [I: the docs do not say which wins]."""
    model_labels = version.internal.get("model_labels") or {}
    if not model_labels:
        return version.data
    return {**version.data, "labels": {**model_labels, **(version.data.get("labels") or {})}}


class VertexService:
    def __init__(self, store: Store, config: EmulatorConfig, gcs_host: Callable[[], str]) -> None:
        self.store = store
        self.config = config
        self.trainer = Trainer(
            store, config, gcs_host, self._materialize, on_checkpoints=self._deploy_checkpoints
        )
        self.metrics = TuningMetrics(store)
        self._learned: dict[tuple[str, str], _learner.Trained] = {}  # see _trained
        self._learned_lock = threading.Lock()

    # --- names --------------------------------------------------------------------------------

    @staticmethod
    def location(project: str, location: str) -> str:
        if not _LOCATION.fullmatch(location):
            raise invalid(f"Invalid location {location!r}")
        return f"projects/{project_number(project)}/locations/{location}"

    # --- tuning jobs ----------------------------------------------------------------------------

    def create_tuning_job(self, call: Call) -> dict[str, Any]:
        parent = self.location(call.params[0], call.params[1])
        body = normalize_keys(call.body)
        data, internal = self._validate_job(body, call.api, call.params[1])
        self._check_quota(parent)
        now = time.time()
        job_id = _ops.new_id()
        name = f"{parent}/tuningJobs/{job_id}"
        data.update(
            name=name,
            state="JOB_STATE_PENDING",
            createTime=timestamp(now),
            updateTime=timestamp(now),
        )
        internal["created"] = now
        hold = _hold.plan(self.config.hold_state, self.config.hold_seconds)
        if hold is not None:
            internal["hold"] = hold
        res = self.store.put(Resource(name, "tuningJob", parent, data, internal))
        self.trainer.enqueue(name)
        return prune(res.data)  # type: ignore[no-any-return]

    def _check_quota(self, parent: str) -> None:
        """The emulated concurrent-job quota: 429 while ``max_running_jobs`` are unfinished in
        the project, all locations together (how the service counts: resources/_submit.py).
        The text follows Vertex's quota errors ("The following quota metrics exceed quota
        limits: aiplatform.googleapis.com/..."); the metric's name is the emulator's [I]."""
        limit = self.config.max_running_jobs
        if limit is None:
            return
        project = parent.split("/locations/", 1)[0]
        running = [
            r
            for r in self.store.find("tuningJob")
            if r.name.startswith(f"{project}/locations/") and r.data.get("state") in UNFINISHED
        ]
        if len(running) >= limit:
            raise ApiError(
                "RESOURCE_EXHAUSTED",
                "The following quota metrics exceed quota limits: "
                f"{QUOTA_METRIC} ({len(running)} of {limit} tuning jobs are running in "
                f"{project}).",
            )

    def _validate_job(
        self, body: dict[str, Any], api: str, location: str
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        base = body.get("baseModel")
        pre = body.get("preTunedModel")
        if pre:
            self._check_same_location(pre, location)
        parent_version = self._pre_tuned_version(pre) if pre else None
        model = self._check_base_model(base, pre)
        if base:
            reason = catalog.tuning_location_error(model, location)
            if reason:
                raise invalid(f"Base model {base} is not supported for tuning here: {reason}")
        spec = body.get("supervisedTuningSpec")
        if not isinstance(spec, dict):
            raise invalid("supervised_tuning_spec is required.")
        train, val = self._check_uris(spec)
        internal: dict[str, Any] = {"api": api, "base_model": model.id}
        hp = spec.get("hyperParameters") or {}
        display = check_display_name(
            body.get("tunedModelDisplayName"), "tuned_model_display_name", MAX_DISPLAY_NAME
        )
        if parent_version is not None:
            hp = self._continue(dict(pre or {}), parent_version, hp, display, internal)
            display = display or parent_version.data.get("displayName", "")
        out_hp = self._check_hyper_parameters(hp, model, internal)
        labels = check_labels(body.get("labels"))
        internal["spe"] = self._seconds_per_epoch(labels)
        if FAIL_LABEL in labels:
            internal["fail_message"] = labels[FAIL_LABEL] or "Injected failure (emulator-fail)."
        out_spec: dict[str, Any] = {"trainingDatasetUri": train, "hyperParameters": out_hp}
        if val:
            out_spec["validationDatasetUri"] = val
        for flag in ("exportLastCheckpointOnly", "evaluationConfig"):
            if spec.get(flag):
                out_spec[flag] = spec[flag]
        data: dict[str, Any] = {
            **(
                {"preTunedModel": {**dict(pre), "baseModel": model.id}}
                if pre
                else {"baseModel": base}
            ),
            "supervisedTuningSpec": out_spec,
            "tunedModelDisplayName": display or f"{model.id}-tuned-{uuid.uuid4().hex[:8]}",
            "description": body.get("description") or "",
            "labels": labels,
        }
        for passthrough in ("encryptionSpec", "serviceAccount"):
            if body.get(passthrough):
                data[passthrough] = body[passthrough]
        return data, internal

    def _check_base_model(self, base: Any, pre: Any) -> catalog.BaseModel:
        if bool(base) == bool(pre):
            raise invalid("Exactly one of base_model or pre_tuned_model must be set.")
        if pre:
            return self._pre_tuned_base(pre)
        if not isinstance(base, str):
            raise invalid("base_model must be a string")
        try:
            return catalog.lookup(base, "vertex")
        except catalog.UnknownBaseModelError as exc:
            raise invalid(f"Base model {base} is not supported for tuning: {exc}") from exc

    @staticmethod
    def _check_uris(spec: dict[str, Any]) -> tuple[str, str]:
        train = spec.get("trainingDatasetUri")
        if not isinstance(train, str) or not train:
            raise invalid("supervised_tuning_spec.training_dataset_uri is required.")
        if re.fullmatch(r"projects/[^/]+/locations/[^/]+/datasets/[^/]+", train):
            raise ApiError(
                "UNIMPLEMENTED",
                "Vertex multimodal datasets are not supported by the emulator; use a gs:// URI.",
            )
        if not train.startswith("gs://"):
            raise invalid(
                f"Training dataset URI {train!r} is invalid: it must be a Cloud Storage URI "
                "(gs://bucket/path.jsonl)."
            )
        val = spec.get("validationDatasetUri") or ""
        if val and not (isinstance(val, str) and val.startswith("gs://")):
            raise invalid(
                f"Validation dataset URI {val!r} is invalid: it must be a Cloud Storage URI."
            )
        return train, str(val)

    @staticmethod
    def _check_same_location(pre: Any, location: str) -> None:
        """A job is created where the model it continues lives: "For operations other than
        creating a dataset or importing a model, you must use the location of the resources
        you are operating on" (Vertex AI locations, https://docs.cloud.google.com/
        gemini-enterprise-agent-platform/machine-learning/general/locations). The answer's
        text is ours [I]."""
        name = pre.get("tunedModelName") if isinstance(pre, dict) else None
        found = location_of(name) if isinstance(name, str) else None
        if found is not None and found != location:
            raise invalid(
                f"pre_tuned_model.tuned_model_name {name} is in location {found}, but the "
                f"tuning job is created in {location}: create it in {found}."
            )

    def _pre_tuned_base(self, pre: Any) -> catalog.BaseModel:
        """Continuous tuning tunes on the pre-tuned version's base model, which must be one
        Google continues ("The following Gemini models support continuous tuning", https://
        docs.cloud.google.com/vertex-ai/generative-ai/docs/models/gemini-use-continuous-tuning;
        catalog.continuous_tuning_error). The refusal's text is ours [I]."""
        found = self._pre_tuned_version(pre)
        model = catalog.lookup(found.internal["base_model"], "vertex", allow_retired=True)
        reason = catalog.continuous_tuning_error(model)
        if reason:
            raise invalid(f"Pre-tuned model {found.name} cannot be tuned further: {reason}.")
        return model

    def _pre_tuned_version(self, pre: Any) -> Resource:
        """The tuned model version ``preTunedModel.tunedModelName`` names: ``models/M@N``, an
        alias after ``@``, or the default version when none is given (PreTunedModel.
        tuned_model_name, tuning_job.proto: "Or, omit the version id to use the default
        version"). Missing: 400 [I: the service's wording is not documented]."""
        name = pre.get("tunedModelName") if isinstance(pre, dict) else None
        if not isinstance(name, str) or "/models/" not in name:
            raise invalid("pre_tuned_model.tuned_model_name must be a model resource name.")
        model_name, _, want = name.partition("@")
        for r in self._versions(model_name):
            if str(r.internal["version"]) == (want or "default") or (
                want or "default"
            ) in r.data.get("versionAliases", []):
                return r
        raise invalid(f"Pre-tuned model {name} not found.")

    @staticmethod
    def _continue(
        pre: dict[str, Any],
        parent: Resource,
        hp: dict[str, Any],
        display: str | None,
        internal: dict[str, Any],
    ) -> dict[str, Any]:
        """Where a continuous job's result lands, from which checkpoint, with which adapter.

        - Landing: "For continuous tuning, tunedModelDisplayName will by default use the same
          display name as the pre-tuned model. If a new display name is provided, the tuning
          job will create a new model instead of a new version" (TuningJob, https://docs.cloud.
          google.com/vertex-ai/docs/reference/rest/v1/projects.locations.tuningJobs); the
          TunedModel.model field: "if the provided tuned_model_display_name is set and
          different from parent model's display name, the tuned model will have a new parent
          model with version 1. Otherwise the version id will be incremented by 1".
        - Checkpoint: "If not specified, the default checkpoint will be used"
          (PreTunedModel.checkpoint_id); one the version does not have is 400 [I].
        - Adapter size: the docs are silent; a continued adapter keeps its rank, so another
          size is 400 and none means the parent's [I] (catalog module docstring).
        """
        parent_display = str(parent.data.get("displayName", ""))
        if not display or display == parent_display:
            internal["pre_tuned_model"] = parent.name  # lands as its model's next version
        checkpoint = pre.get("checkpointId")
        known = [str(c.get("checkpointId")) for c in parent.data.get("checkpoints", [])]
        if checkpoint and str(checkpoint) not in known:
            raise invalid(
                f"Checkpoint {checkpoint} not found in {parent.name}; its checkpoints: "
                f"{', '.join(known) or 'none'}."
            )
        size = parent.internal.get("adapter_size")
        if size and hp.get("adapterSize") is None:
            return {**hp, "adapterSize": ADAPTER_SIZE_NAME[int(size)]}
        wanted = hp.get("adapterSize")
        if size and wanted is not None:
            name = parse_enum(wanted, ADAPTER_SIZES, "adapter_size")
            if ADAPTER_SIZE_VALUE[name] != int(size):
                raise invalid(
                    f"adapter_size {name} differs from the pre-tuned model's "
                    f"({ADAPTER_SIZE_NAME[int(size)]}): a continued model keeps its adapter size."
                )
        return hp

    @staticmethod
    def _check_hyper_parameters(
        hp: Any, model: catalog.BaseModel, internal: dict[str, Any]
    ) -> dict[str, Any]:
        if not isinstance(hp, dict):
            raise invalid("hyper_parameters must be an object")
        out: dict[str, Any] = {}
        if hp.get("epochCount") not in (None, "", 0, "0"):
            epochs = parse_int64(hp["epochCount"], "epoch_count")
            if not 1 <= epochs <= catalog.MAX_EPOCHS:
                raise invalid(
                    f"epoch_count must be between 1 and {catalog.MAX_EPOCHS}, got {epochs}."
                )
            out["epochCount"] = str(epochs)
            internal["epochs"] = epochs
        multiplier = 1.0
        if hp.get("learningRateMultiplier") not in (None, 0, 0.0):
            multiplier = parse_learning_rate_multiplier(hp["learningRateMultiplier"])
        out["learningRateMultiplier"] = multiplier
        internal["multiplier"] = multiplier
        size_name = "ADAPTER_SIZE_UNSPECIFIED"
        if hp.get("adapterSize") is not None:
            size_name = parse_enum(hp["adapterSize"], ADAPTER_SIZES, "adapter_size")
        size = ADAPTER_SIZE_VALUE[size_name]
        if size and size not in model.adapter_sizes:
            raise invalid("The adapter size is not supported for this base model.")
        size = size or model.default_adapter_size or 0
        if size:
            out["adapterSize"] = ADAPTER_SIZE_NAME[size]
            internal["adapter_size"] = size  # the learner's capacity (_learner.py)
        return out

    def _seconds_per_epoch(self, labels: dict[str, str]) -> float:
        if SPE_LABEL not in labels:
            return self.config.seconds_per_epoch
        try:
            spe = float(labels[SPE_LABEL].replace("_", "."))
        except ValueError as exc:
            raise invalid(f"Label {SPE_LABEL} must be a number of seconds") from exc
        if spe <= 0:
            raise invalid(f"Label {SPE_LABEL} must be > 0")
        return spe

    def _located(self, call: Call, collection: str, kind: str, label: str) -> Resource:
        """The ``kind`` resource named by the call's project, location and id, or 404."""
        name = f"{self.location(call.params[0], call.params[1])}/{collection}/{call.params[2]}"
        res = self.store.get(name)
        if res is None or res.kind != kind:
            raise not_found(f"{label} {name} not found.")
        return res

    def _job(self, call: Call) -> Resource:
        return self._located(call, "tuningJobs", "tuningJob", "TuningJob")

    def get_tuning_job(self, call: Call) -> dict[str, Any]:
        return prune(self._job(call).data)  # type: ignore[no-any-return]

    def list_tuning_jobs(self, call: Call) -> dict[str, Any]:
        parent = self.location(call.params[0], call.params[1])
        getters: dict[str, _listing.Getter] = {
            "state": lambda d: [d.get("state"), str(JOB_STATES.get(d.get("state", ""), ""))],
            "base_model": lambda d: [
                d.get("baseModel"),
                catalog.normalize_model_id(d.get("baseModel", "")),
            ],
            "create_time": lambda d: d.get("createTime"),
            "update_time": lambda d: d.get("updateTime"),
            "tuned_model_display_name": lambda d: d.get("tunedModelDisplayName"),
        }
        docs = [r.data for r in self.store.find("tuningJob", parent)]
        mode = self.config.tuning_job_list_filter
        if mode == "refuse" and call.query.get("filter"):
            raise invalid(f"Unsupported filter: {call.query['filter']!r}.")
        if mode == "ignore":  # a mis-filtering service: answers as if no filter was given
            call.query.pop("filter", None)
        if mode == "labels_empty" and _on_labels(call.query.get("filter", ""), list(getters)):
            docs = []  # a label filter the service matches nothing with (not a 400)
        return self._list(
            call, parent=parent, docs=docs, getters=getters, key="tuningJobs", order_fields=()
        )

    def _list(
        self,
        call: Call,
        *,
        parent: str,
        docs: list[dict[str, Any]],
        getters: dict[str, _listing.Getter],
        key: str,
        order_fields: tuple[str, ...],
        render: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        flt = call.query.get("filter", "")
        terms = _listing.parse_filter(flt, list(getters))
        docs = [d for d in docs if _listing.matches(d, terms, getters)]
        order_by = call.query.get("orderBy") or call.query.get("order_by")
        if order_by and not order_fields:
            raise invalid("order_by is not supported for this list method.")
        docs = _listing.order(docs, order_by, order_fields)
        page, token = _listing.paginate(
            docs,
            call.query.get("pageSize") or call.query.get("page_size"),
            call.query.get("pageToken") or call.query.get("page_token"),
            f"{key}|{parent}|{flt}|{order_by or ''}",
        )
        rendered = [prune(render(d) if render else d) for d in page]
        return _listing.page_response(key, rendered, token)

    def cancel_tuning_job(self, call: Call) -> dict[str, Any]:
        with self.store.tx():
            res = self._job(call)
            state = res.data.get("state", "")
            if state in ("JOB_STATE_CANCELLING",):
                return {}
            if state not in ("JOB_STATE_PENDING", "JOB_STATE_QUEUED", "JOB_STATE_RUNNING"):
                raise precondition(
                    f"Tuning job {res.name} is not cancellable: it is already in state {state}."
                )
            res.internal["cancel_at"] = time.time()
            self.trainer.advance(res, time.time())
            self.store.put(res)
        return {}

    def _reserve_model(self, job: Resource) -> tuple[str, int]:
        """The model version the job produces (named at its first checkpoint, registered when
        it succeeds): a new model @1, or for continuous tuning the next version of its model (unless
        the job named a display name of its own: then a new model, see _continue)."""
        i = job.internal
        if "model_name" not in i:
            name, version = f"{job.parent}/models/{_ops.new_id()}", 1
            if i.get("pre_tuned_model"):
                name = i["pre_tuned_model"].partition("@")[0]
                version = max(int(r.internal["version"]) for r in self._versions(name)) + 1
            i["model_name"], i["model_version"] = name, version
        return str(i["model_name"]), int(i["model_version"])

    @staticmethod
    def _tuning_labels(job: Resource) -> dict[str, str]:
        """The labels the service puts on a tuned model and on its endpoints (wire-contract.md)."""
        return {
            "google-vertex-llm-tuning-base-model-id": job.internal["base_model"].replace(".", "-"),
            "google-vertex-llm-tuning-job-id": job.name.rsplit("/", 1)[-1],
            "tune-type": "sft",
            **job.data.get("labels", {}),
        }

    def _deploy_checkpoints(self, job: Resource, checkpoints: list[dict[str, Any]]) -> None:
        """Each checkpoint not yet deployed gets a new endpoint, labelled like the model:
        "Intermediate checkpoints are deployed to new endpoints sequentially as tuning
        progresses" (https://cloud.google.com/vertex-ai/generative-ai/docs/models/
        tuning-checkpoints). Its DeployedModel names the model version the job produces and the
        checkpoint (DeployedModel.checkpoint_id); the version is registered at success."""
        deployed = job.internal.setdefault("checkpoint_endpoints", {})
        model_name, version = self._reserve_model(job)
        display = job.data.get("tunedModelDisplayName", "")
        start, spe = float(job.internal.get("start") or time.time()), float(job.internal["spe"])
        for cp in checkpoints:
            if cp["checkpointId"] in deployed:
                continue
            endpoint_name = f"{job.parent}/endpoints/{_ops.new_id()}"
            deployed_id = _ops.new_id()
            ts = timestamp(start + int(cp["epoch"]) * spe)
            endpoint = {
                "name": endpoint_name,
                "displayName": f"{display}-checkpoint-{cp['checkpointId']}"[:MAX_DISPLAY_NAME],
                "deployedModels": [
                    {
                        "id": deployed_id,
                        "model": model_name,
                        "modelVersionId": str(version),
                        "displayName": display,
                        "createTime": ts,
                        "checkpointId": cp["checkpointId"],
                    }
                ],
                "trafficSplit": {deployed_id: 100},
                "labels": self._tuning_labels(job),
                "createTime": ts,
                "updateTime": ts,
            }
            endpoint["etag"] = _etag(endpoint)
            self.store.put(
                Resource(
                    endpoint_name,
                    "endpoint",
                    job.parent,
                    endpoint,
                    {"base_model": job.internal["base_model"], "job": job.name},
                )
            )
            deployed[cp["checkpointId"]] = endpoint_name

    def _materialize(self, job: Resource, at: float) -> dict[str, Any]:
        """On success: the Model version, registered with every checkpoint's endpoint in its
        deployedModels; the last checkpoint is the default, its endpoint the job's
        ``tunedModel.endpoint`` (deployed here when exportLastCheckpointOnly left it alone)."""
        if job.internal.get("tuned"):
            return dict(job.internal["tuned"])
        parent = job.parent
        model_name, version = self._reserve_model(job)
        base = job.internal["base_model"]
        labels = self._tuning_labels(job)
        ts = timestamp(at)
        display = job.data.get("tunedModelDisplayName", "")
        epochs, steps = int(job.internal["epochs"]), int(job.internal["steps_per_epoch"])
        saved = checkpoint_epochs(epochs)
        if job.data["supervisedTuningSpec"].get("exportLastCheckpointOnly"):
            saved = saved[-1:]
        checkpoints = [
            {"checkpointId": str(e), "epoch": str(e), "step": str(e * steps)} for e in saved
        ]
        self._deploy_checkpoints(job, checkpoints[-1:])
        endpoints: dict[str, str] = job.internal["checkpoint_endpoints"]
        refs = []
        for cp_id, endpoint_name in sorted(endpoints.items(), key=lambda kv: int(kv[0])):
            found = self.store.get(endpoint_name)
            for d in found.data.get("deployedModels", []) if found else []:
                if d["model"] == model_name and d.get("checkpointId") == cp_id:
                    refs.append({"endpoint": endpoint_name, "deployedModelId": d["id"]})
        model = {
            "name": model_name,
            "versionId": str(version),
            "versionAliases": ["default"] if version == 1 else [],
            "versionCreateTime": ts,
            "versionUpdateTime": ts,
            "displayName": display,
            "description": job.data.get("description", ""),
            "createTime": ts,
            "updateTime": ts,
            "labels": labels,
            "deployedModels": refs,
            "modelSourceInfo": {"sourceType": "GENIE"},
            "baseModelSource": {
                "genieSource": {"baseModelUri": f"publishers/google/models/{base}"}
            },
            "checkpoints": checkpoints,
            "defaultCheckpointId": str(saved[-1]),
        }
        if self.config.progress_extras:
            # An invention (setting progress_extras): Vertex publishes tuning metrics in the
            # job's experiment, never in the model; tests that want a curve quickly read it here.
            model["metadata"] = {
                "tuningMetrics": {"lossPerEpoch": list(job.internal.get("losses", []))}
            }
        internal: dict[str, Any] = {
            "model": model_name,
            "version": version,
            "job": job.name,
            "base_model": base,
        }
        if job.internal.get("adapter_size"):
            internal["adapter_size"] = job.internal["adapter_size"]  # a continuation keeps it
        siblings = self._versions(model_name) if version > 1 else []
        if siblings and siblings[0].internal.get("model_labels"):
            # The model's own labels belong to every version, this new one too.
            internal["model_labels"] = dict(siblings[0].internal["model_labels"])
        created = Resource(f"{model_name}@{version}", "model", parent, model, internal)
        _restamp(created)
        self.store.put(created)
        tuned = {"model": f"{model_name}@{version}", "endpoint": endpoints[str(saved[-1])]}
        job.internal["tuned"] = tuned
        return dict(tuned)

    def job_metrics(self, job_id: str) -> dict[str, Any]:
        """Admin view (not a Google API): epoch progress and the loss curve of one job."""
        for res in self.store.find("tuningJob"):
            if res.name.rsplit("/", 1)[-1] == job_id or res.name == job_id:
                i = res.internal
                now = time.time()
                epoch = self.trainer.current_epoch(res, now) if i.get("start") else 0
                points = [
                    {"epoch": e, "step": e * int(i["steps_per_epoch"]), "trainLoss": loss}
                    for e, loss in enumerate(i.get("losses", [])[:epoch], 1)
                ]
                return {
                    "name": res.name,
                    "state": res.data.get("state"),
                    "epoch": epoch,
                    "epochs": i.get("epochs"),
                    "secondsPerEpoch": i["spe"],
                    "metrics": points,
                }
        raise not_found(f"TuningJob {job_id} not found.")

    # --- tuning metrics (MetadataService, TensorboardService; see _metrics) --------------------

    def get_context(self, call: Call) -> dict[str, Any]:
        loc = self.location(call.params[0], call.params[1])
        return self.metrics.get_context(loc, call.params[2], call.params[3])

    def list_contexts(self, call: Call) -> dict[str, Any]:
        loc = self.location(call.params[0], call.params[1])
        return self.metrics.list_contexts(loc, call.params[2], call.query)

    def list_time_series(self, call: Call) -> dict[str, Any]:
        loc = self.location(call.params[0], call.params[1])
        return self.metrics.list_time_series(loc, call.params[2:])

    def read_time_series(self, call: Call) -> dict[str, Any]:
        loc = self.location(call.params[0], call.params[1])
        return self.metrics.read_time_series(loc, call.params[2:], call.query)

    # --- models ---------------------------------------------------------------------------------

    def _versions(self, model_name: str) -> list[Resource]:
        parent = model_name.rsplit("/models/", 1)[0]
        found = [r for r in self.store.find("model", parent) if r.internal["model"] == model_name]
        return sorted(found, key=lambda r: int(r.internal["version"]))

    def _model_ref(self, call: Call) -> tuple[str, str | None]:
        """The model's name and what follows its ``@`` (a version ID, an alias, ``-``), if any."""
        loc = self.location(call.params[0], call.params[1])
        raw = call.params[2]
        model_id, _, version = raw.partition("@")
        return f"{loc}/models/{model_id}", (version or None)

    def _resolve(self, call: Call) -> tuple[Resource, list[Resource]]:
        """The version a name means: ``@N`` that version, ``@alias`` the one holding the alias,
        and a bare name (or ``@-``) the one holding ``default`` (GetModelRequest.name: "If no
        version is specified, the default version will be returned")."""
        model_name, version = self._model_ref(call)
        versions = self._versions(model_name)
        if not versions:
            raise not_found(f"Model {model_name} not found.")
        want = version if version not in (None, "-") else "default"
        for r in versions:
            if str(r.internal["version"]) == want or want in r.data.get("versionAliases", []):
                return r, versions
        raise not_found(f"Model {model_name}@{want} not found.")

    @staticmethod
    def _render_model(doc: dict[str, Any], with_version: bool = False) -> dict[str, Any]:
        out = dict(doc)
        if with_version:
            out["name"] = f"{doc['name']}@{doc['versionId']}"
        return out

    def get_model(self, call: Call) -> dict[str, Any]:
        res, _ = self._resolve(call)
        return prune(self._render_model(merged(res)))  # type: ignore[no-any-return]

    _MODEL_FILTERS: ClassVar[dict[str, _listing.Getter]] = {
        "model": lambda d: d["name"].rsplit("/", 1)[-1],
        "display_name": lambda d: d.get("displayName"),
        "base_model_name": lambda d: [
            d.get("baseModelSource", {}).get("genieSource", {}).get("baseModelUri"),
            catalog.normalize_model_id(
                d.get("baseModelSource", {}).get("genieSource", {}).get("baseModelUri", "")
            ),
        ],
        "create_time": lambda d: d.get("createTime"),
        "update_time": lambda d: d.get("updateTime"),
    }
    _ORDER: ClassVar[tuple[str, ...]] = ("display_name", "create_time", "update_time")

    def list_models(self, call: Call) -> dict[str, Any]:
        parent = self.location(call.params[0], call.params[1])
        docs = [
            merged(r)
            for r in self.store.find("model", parent)
            if "default" in r.data.get("versionAliases", [])
        ]
        return self._list(
            call,
            parent=parent,
            docs=docs,
            getters=self._MODEL_FILTERS,
            key="models",
            order_fields=self._ORDER,
        )

    def list_model_versions(self, call: Call) -> dict[str, Any]:
        model_name, _ = self._model_ref(call)
        versions = self._versions(model_name)
        if not versions:
            raise not_found(f"Model {model_name} not found.")
        docs = [merged(r) for r in reversed(versions)]
        return self._list(
            call,
            parent=model_name,
            docs=docs,
            getters=self._MODEL_FILTERS,
            key="models",
            order_fields=self._ORDER,
            render=lambda d: self._render_model(d, with_version=True),
        )

    # UpdateModelRequest (model_service.proto, googleapis google/cloud/aiplatform/v1): "1.
    # model.name with the @ value, e.g. models/123@1, refers to a version specific update. 2.
    # model.name without the @ value, e.g. models/123, refers to a model update. 3. model.name
    # with @-, e.g. models/123@-, refers to a model update. 4. Supported model fields:
    # display_name, description; supported version-specific fields: version_description.
    # Labels are supported in both scenarios. [...] When updating labels, if the request is for
    # model-specific update, model label gets updated. Otherwise, version labels get updated.
    # 5. A model name or model version name fields update mismatch will cause a precondition
    # error. 6. One request cannot update both the model and the version fields."
    _MODEL_LEVEL: ClassVar[frozenset[str]] = frozenset({"displayName", "description"})
    _VERSION_LEVEL: ClassVar[frozenset[str]] = frozenset({"versionDescription"})
    # Model.default_checkpoint_id, "The default checkpoint id of a model version" (model.proto).
    # Not in UpdateModelRequest's list above, but the documented way to change it: "Select the
    # best performing checkpoint [...] to be the default checkpoint" (https://cloud.google.com/
    # vertex-ai/generative-ai/docs/models/tuning-checkpoints), whose sample calls google-genai's
    # models.update(model=<the name GetModel answered>, config=UpdateModelConfig(
    # default_checkpoint_id=...)): a PATCH of the model with ``defaultCheckpointId`` and no
    # updateMask. So it is taken on a version name and on a bare one, and applies to the one
    # version the name means (a bare name: the default version) [I].
    _CHECKPOINT_FIELD: ClassVar[str] = "defaultCheckpointId"

    def _update_mask(
        self, body: dict[str, Any], mask_raw: str, model_name: str, version: str | None
    ) -> list[str]:
        """The fields to update (updateMask, or every field in the body when there is none),
        checked: each must belong to the level the name addresses."""
        body_name = str(body.get("name") or "")
        if (
            body_name
            and body_name.partition("@")[0].rsplit("/", 1)[-1] != model_name.rsplit("/", 1)[-1]
        ):
            raise precondition(
                f"The model name in the request body ({body_name}) does not match the "
                f"resource name ({model_name})."
            )
        if mask_raw:
            mask = [normalize_keys({m.strip(): None}).popitem()[0] for m in mask_raw.split(",")]
        else:
            mask = [k for k in body if k not in ("name", "versionId", "etag")]
        allowed = self._MODEL_LEVEL | self._VERSION_LEVEL | {"labels", self._CHECKPOINT_FIELD}
        bad = [m for m in mask if m not in allowed]
        if bad:
            raise invalid(
                f"Field(s) {', '.join(bad)} cannot be updated; updatable fields: "
                "displayName, description, versionDescription, labels, defaultCheckpointId."
            )
        if self._CHECKPOINT_FIELD in mask and len(mask) > 1:
            # "One request cannot update both the model and the version fields" [I: the
            # default checkpoint alone, so it never lands on the wrong level].
            raise invalid("defaultCheckpointId is updated on its own, in a request of its own.")
        self._check_update_level(mask, model_name, version)
        if "labels" in mask:
            check_labels(body.get("labels") or {})
        if "displayName" in mask and not body.get("displayName"):
            raise invalid("display_name must not be empty.")
        if len(body.get("displayName") or "") > MAX_DISPLAY_NAME:
            raise invalid(f"display_name may be at most {MAX_DISPLAY_NAME} characters.")
        return mask

    def _check_update_level(self, mask: list[str], model_name: str, version: str | None) -> None:
        """A model-level field on a version name, or a version field on the model's name, is
        the documented mismatch: FAILED_PRECONDITION [the message is the emulator's, I]."""
        if version in (None, "-"):
            wrong = [f for f in mask if f in self._VERSION_LEVEL]
            if wrong:
                raise precondition(
                    f"{', '.join(wrong)} is a field of a model version: update it on "
                    f"{model_name}@<version id>, not on the model {model_name}."
                )
            return
        wrong = [f for f in mask if f in self._MODEL_LEVEL]
        if wrong:
            raise precondition(
                f"{', '.join(wrong)} is a field of the model, not of version {version}: update "
                f"it on {model_name} (without @)."
            )

    def update_model(self, call: Call) -> dict[str, Any]:
        """A model update (bare name or ``@-``): displayName, description and the model's
        labels, shared by every version. A version update (``@N`` or ``@alias``):
        versionDescription and that version's labels."""
        body = normalize_keys(call.body)
        mask_raw = call.query.get("updateMask") or call.query.get("update_mask") or ""
        with self.store.tx():
            res, versions = self._resolve(call)
            model_name, version = self._model_ref(call)
            mask = self._update_mask(body, mask_raw, model_name, version)
            # Model.etag: "Used to perform consistent read-modify-write updates. If not set, a
            # blind 'overwrite' update happens" (model.proto). A stale one is refused; the code
            # is ABORTED as AIP-154 prescribes for a mismatched etag [I: Vertex's exact text].
            if body.get("etag") and body["etag"] != res.data.get("etag"):
                raise ApiError(
                    "ABORTED",
                    f"The etag of {res.name} does not match: the model changed since it was read.",
                )
            if mask == [self._CHECKPOINT_FIELD]:
                self._set_default_checkpoint(res, body.get(self._CHECKPOINT_FIELD))
                return prune(self._render_model(merged(res)))  # type: ignore[no-any-return]
            now = timestamp(time.time())
            targets = versions if version in (None, "-") else [res]
            for r in targets:
                for f in mask:
                    value = body.get(f) or ({} if f == "labels" else "")
                    if f == "labels" and version in (None, "-"):
                        r.internal["model_labels"] = dict(body.get("labels") or {})
                    else:
                        r.data[f] = value
                if mask:
                    r.data["updateTime"] = now
                    if r is res and version not in (None, "-"):
                        r.data["versionUpdateTime"] = now
                    _restamp(r)
                    self.store.put(r)
        return prune(self._render_model(merged(res)))  # type: ignore[no-any-return]

    def _set_default_checkpoint(self, res: Resource, wanted: Any) -> None:
        """One of the version's own checkpoints becomes its default; the job's
        ``tunedModel.endpoint`` follows ("The tuned model endpoint represents the endpoint of
        the default checkpoint"), and so does what serving that endpoint answers. An id the
        version does not have is refused, 400 INVALID_ARGUMENT [I: the code and wording are
        the emulator's; Google documents no refusal, and accepting an unknown id would leave
        the model with no default to serve]."""
        checkpoint_id = str(wanted or "")
        known = [str(c.get("checkpointId")) for c in res.data.get("checkpoints", [])]
        if checkpoint_id not in known:
            raise invalid(
                f"Checkpoint {checkpoint_id or '(empty)'} does not exist in model {res.name}; "
                f"its checkpoints: {', '.join(known) or 'none'}."
            )
        now = timestamp(time.time())
        res.data[self._CHECKPOINT_FIELD] = checkpoint_id
        res.data["versionUpdateTime"] = res.data["updateTime"] = now
        _restamp(res)
        self.store.put(res)
        job = self.store.get(str(res.internal.get("job") or ""))
        if job is None:
            return
        endpoint = job.internal.get("checkpoint_endpoints", {}).get(checkpoint_id)
        tuned = job.data.get("tunedModel")
        if endpoint and isinstance(tuned, dict):
            tuned["endpoint"] = endpoint
            job.internal.setdefault("tuned", {})["endpoint"] = endpoint
            self.store.put(job)

    def merge_version_aliases(self, call: Call) -> dict[str, Any]:
        """MergeVersionAliasesRequest.name: "The name of the model version to merge aliases,
        with a version ID explicitly included" (model_service.proto): a bare name, ``@-`` or an
        alias is refused (400 INVALID_ARGUMENT [I: the code and text are the emulator's])."""
        body = normalize_keys(call.body)
        aliases = body.get("versionAliases") or []
        if not isinstance(aliases, list):
            raise invalid("version_aliases must be a list")
        model_name, version = self._model_ref(call)
        if version is None or not version.isdigit():
            raise invalid(
                f"MergeVersionAliases needs the name of a model version with its version ID "
                f"explicitly included ({model_name}@<version id>); got "
                f"{model_name}{'@' + version if version else ''}."
            )
        with self.store.tx():
            res, versions = self._resolve(call)
            current = list(res.data.get("versionAliases", []))
            adds = {a for a in aliases if not str(a).startswith("-")}
            removes = {str(a)[1:] for a in aliases if str(a).startswith("-")}
            both = adds & removes
            adds, removes = adds - both, removes - both
            for alias in adds | removes:
                if not _ALIAS.fullmatch(alias):
                    raise invalid(
                        f"Alias {alias!r} is invalid: it must match "
                        "[a-z][a-zA-Z0-9-]{0,126}[a-z0-9-]."
                    )
            if "default" in removes:
                raise invalid(
                    "The alias 'default' cannot be removed; add it to another version instead."
                )
            # "If you apply an existing alias that is used by another model version, the alias
            # is removed from that version" (Model Registry, "How to use model version aliases").
            now = timestamp(time.time())
            for other in versions:
                held = other.data.get("versionAliases", [])
                if other is not res and adds & set(held):
                    other.data["versionAliases"] = [a for a in held if a not in adds]
                    other.data["versionUpdateTime"] = now
                    _restamp(other)
                    self.store.put(other)
            merged_aliases = [a for a in current if a not in removes]
            merged_aliases += sorted(a for a in adds if a not in merged_aliases)
            res.data["versionAliases"] = merged_aliases
            res.data["versionUpdateTime"] = now
            _restamp(res)
            self.store.put(res)
        return prune(self._render_model(merged(res)))  # type: ignore[no-any-return]

    def delete_model(self, call: Call) -> dict[str, Any]:
        with self.store.tx():
            model_name, version = self._model_ref(call)
            if version is not None:
                raise invalid(
                    "DeleteModel takes a model name without a version; use :deleteVersion."
                )
            versions = self._versions(model_name)
            if not versions:
                raise not_found(f"Model {model_name} not found.")
            deployed = sorted(
                {d["endpoint"] for r in versions for d in r.data.get("deployedModels", [])}
            )
            if deployed:
                raise precondition(
                    f"The model \"{model_name}\" can't be deleted because it's deployed or being "
                    f"deployed at the following endpoint(s): {', '.join(deployed)}. "
                    "Please undeploy the model before retry."
                )
            self._refuse_tuned_delete(versions)
            names = [r.name for r in versions]
            op = self._delete_operation(call, model_name.rsplit("/models/", 1)[0], names)
        return _ops.render(op)

    def _refuse_tuned_delete(self, versions: list[Resource]) -> None:
        """Setting refuse_tuned_model_delete: a service that keeps tuned models. Older tuning
        pages said tuned Gemini models cannot be deleted, while the Model Registry page documents
        deleting a model once it is undeployed; which one holds is not settled, so tests run
        both. The wording is the emulator's [I]; the code is FAILED_PRECONDITION, as for the
        documented refusals of a delete (docs/reference/wire-contract.md section 2)."""
        tuned = [r for r in versions if r.internal.get("job")]
        if self.config.refuse_tuned_model_delete and tuned:
            name = tuned[0].name
            raise precondition(
                f"Model {name} was created by tuning job {tuned[0].internal['job']} and cannot "
                "be deleted: tuned models are managed by the tuning service."
            )

    def _delete_operation(self, call: Call, parent: str, names: list[str]) -> Resource:
        """The long-running operation every Delete* RPC answers with; it deletes ``names``."""
        return self._operation(
            call, parent, "DeleteOperationMetadata", _ops.EMPTY, {"delete": names}
        )

    def _operation(
        self, call: Call, parent: str, metadata: str, response: str, effect: _ops.Effect
    ) -> Resource:
        return _ops.create(
            self.store,
            parent,
            api=call.api,
            metadata_type=metadata,
            response_type=response,
            config=self.config,
            effect=effect,
            apply=self._apply,
        )

    def _apply(self, effect: _ops.Effect) -> None:
        """What a done operation does (now, or when a slow one is done)."""
        with self.store.tx():
            for name in effect.get("delete", []):
                self.store.delete(name)
            if "undeploy" in effect:
                self._undeploy(**effect["undeploy"])

    def delete_model_version(self, call: Call) -> dict[str, Any]:
        with self.store.tx():
            res, versions = self._resolve(call)
            if self._model_ref(call)[1] is None:
                raise invalid("DeleteModelVersion needs a version (@N) in the name.")
            if len(versions) == 1:
                raise precondition(
                    "The only version of a model cannot be deleted; use DeleteModel instead."
                )
            if res.data.get("deployedModels"):
                raise precondition(
                    f"Version {res.data['versionId']} of {res.internal['model']} is deployed; "
                    "undeploy it first."
                )
            if "default" in res.data.get("versionAliases", []):
                raise precondition(
                    "The version holding the 'default' alias cannot be deleted; move the alias."
                )
            self._refuse_tuned_delete([res])
            op = self._delete_operation(call, res.parent, [res.name])
        return _ops.render(op)

    # --- endpoints ------------------------------------------------------------------------------

    def _endpoint(self, call: Call) -> Resource:
        return self._located(call, "endpoints", "endpoint", "Endpoint")

    def get_endpoint(self, call: Call) -> dict[str, Any]:
        return prune(self._endpoint(call).data)  # type: ignore[no-any-return]

    def list_endpoints(self, call: Call) -> dict[str, Any]:
        parent = self.location(call.params[0], call.params[1])
        found = self.store.find("endpoint", parent)
        docs = [{**r.data, "__base": r.internal.get("base_model")} for r in found]
        getters: dict[str, _listing.Getter] = {
            "endpoint": lambda d: d["name"].rsplit("/", 1)[-1],
            "display_name": lambda d: d.get("displayName"),
            "base_model_name": lambda d: [
                d.get("__base"),
                f"publishers/google/models/{d.get('__base')}",
            ],
            "create_time": lambda d: d.get("createTime"),
            "update_time": lambda d: d.get("updateTime"),
        }
        return self._list(
            call,
            parent=parent,
            docs=docs,
            getters=getters,
            key="endpoints",
            order_fields=self._ORDER,
            render=lambda d: {k: v for k, v in d.items() if k != "__base"},
        )

    def delete_endpoint(self, call: Call) -> dict[str, Any]:
        with self.store.tx():
            res = self._endpoint(call)
            if res.data.get("deployedModels"):
                ids = ", ".join(d["id"] for d in res.data["deployedModels"])
                raise precondition(
                    f"Endpoint {res.name} still has deployed models ({ids}). You can only delete "
                    "the endpoint after all models have been undeployed from it."
                )
            op = self._delete_operation(call, res.parent, [res.name])
        return _ops.render(op)

    def undeploy_model(self, call: Call) -> dict[str, Any]:
        body = normalize_keys(call.body)
        deployed_id = str(body.get("deployedModelId") or "")
        if not deployed_id:
            raise invalid("deployed_model_id is required.")
        split_in = body.get("trafficSplit")
        with self.store.tx():
            res = self._endpoint(call)
            models = res.data.get("deployedModels", [])
            target = next((d for d in models if d["id"] == deployed_id), None)
            if target is None:
                raise not_found(f"DeployedModel {deployed_id} not found on endpoint {res.name}.")
            split = {k: int(v) for k, v in (res.data.get("trafficSplit") or {}).items()}
            if split_in:
                split = self._check_split(split_in, models)
            elif len(models) == 1:
                split = {}
            if split.get(deployed_id, 0) > 0:
                raise precondition(
                    f"DeployedModel {deployed_id} receives {split[deployed_id]}% of the traffic; "
                    "pass a traffic_split that moves it to the other deployed models."
                )
            split.pop(deployed_id, None)
            effect = {"endpoint": res.name, "deployed_model_id": deployed_id, "split": split}
            op = self._operation(
                call,
                res.name,
                "UndeployModelOperationMetadata",
                "UndeployModelResponse",
                {"undeploy": effect},
            )
        return _ops.render(op)

    @staticmethod
    def _check_split(split_in: Any, models: list[dict[str, Any]]) -> dict[str, int]:
        """UndeployModelRequest.traffic_split overwrites the endpoint's split, whose "traffic
        percentage values must add up to 100" (endpoint.proto, Endpoint.traffic_split)."""
        if not isinstance(split_in, dict):
            raise invalid("traffic_split must be a map of deployed model IDs to percentages")
        split = {str(k): int(v) for k, v in split_in.items()}
        known = {d["id"] for d in models}
        unknown = sorted(set(split) - known)
        if unknown:
            raise invalid(f"traffic_split names models not deployed here: {', '.join(unknown)}.")
        if sum(split.values()) != 100 or any(v < 0 for v in split.values()):
            raise invalid("The traffic_split percentages must add up to 100.")
        return split

    def _undeploy(self, endpoint: str, deployed_model_id: str, split: dict[str, int]) -> None:
        res = self.store.get(endpoint)
        if res is None:
            return
        models = res.data.get("deployedModels", [])
        target = next((d for d in models if d["id"] == deployed_model_id), None)
        if target is None:
            return
        res.data["deployedModels"] = [d for d in models if d["id"] != deployed_model_id]
        res.data["trafficSplit"] = split
        res.data["updateTime"] = timestamp(time.time())
        self.store.put(res)
        mres = self.store.get(f"{target['model']}@{target.get('modelVersionId', '1')}")
        if mres is not None:
            mres.data["deployedModels"] = [
                d
                for d in mres.data.get("deployedModels", [])
                if not (d["endpoint"] == endpoint and d["deployedModelId"] == deployed_model_id)
            ]
            self.store.put(mres)

    # --- generateContent ------------------------------------------------------------------------

    def generate_endpoint(self, call: Call) -> list[dict[str, Any]]:
        res = self._endpoint(call)
        models = res.data.get("deployedModels", [])
        if not models:
            raise precondition(f"Endpoint {res.name} has no deployed model.")
        split = res.data.get("trafficSplit") or {}
        chosen = max(models, key=lambda d: int(split.get(d["id"], 0)))
        mres = self.store.get(f"{chosen['model']}@{chosen.get('modelVersionId', '1')}")
        examples: list[tuple[str, str]] = []
        base = res.internal.get("base_model") or "gemini"
        prompt = self._prompt(call.body)
        answer: str | None = None
        if mres is not None:
            base = mres.internal.get("base_model", base)
            job = str(mres.internal.get("job"))
            pairs = self.store.get_blob(f"examples/{job}") or []
            examples = [(str(p), str(a)) for p, a in pairs]
            trained = self._trained(job)
            if trained is not None:
                # A checkpoint's endpoint answers with the model as trained up to its epoch; a
                # deployment that names no checkpoint serves the version's default one.
                checkpoint = chosen.get("checkpointId") or mres.data.get("defaultCheckpointId")
                answer = _learner.answer(prompt, trained, _epoch_of(mres, checkpoint))
        if answer is None:  # not a reading prompt: the nearest training prompt's answer
            answer = _answers.tuned_answer(prompt, examples)
        return self._respond(call.body, prompt, answer, base)

    def forget_learned(self) -> None:
        """Drop the cache of learners (a reset: job names are given out again)."""
        with self._learned_lock:
            self._learned.clear()

    def _trained(self, job: str) -> _learner.Trained | None:
        """The learner a job trained (kept in the store, so a restarted emulator serves it),
        cached: the endpoint is asked once per evaluation example."""
        res = self.store.get(job)
        key = (job, str(res.internal.get("learner")) if res is not None else "")
        with self._learned_lock:
            trained = self._learned.get(key)
        if trained is None:
            stored = self.store.get_blob(f"learner/{job}")
            if stored is None:
                return None
            trained = _learner.Trained.from_dict(stored)
            with self._learned_lock:
                if len(self._learned) >= 32:
                    self._learned.pop(next(iter(self._learned)))
                self._learned[key] = trained
        return trained

    def generate_publisher(self, call: Call) -> list[dict[str, Any]]:
        publisher, model = call.params[2], call.params[3]
        loc = f"projects/{call.params[0]}/locations/{call.params[1]}"
        name = f"{loc}/publishers/{publisher}/models/{model}"
        known = catalog.normalize_model_id(model) in catalog.VERTEX_MODELS
        if publisher != "google" or not (known or model.startswith("gemini-")):
            raise not_found(
                f"Publisher Model `{name}` was not found or your project does not have access "
                "to it."
            )
        prompt = self._prompt(call.body)
        return self._respond(call.body, prompt, _answers.base_answer(prompt), model)

    def generate_model_path(self, call: Call) -> list[dict[str, Any]]:
        name = f"projects/{call.params[0]}/locations/{call.params[1]}/models/{call.params[2]}"
        raise invalid(
            f"The Model name {name} is malformed and it should be in form of "
            "projects/{project}/locations/{location}/publishers/google/models/{model}"
        )

    @staticmethod
    def _prompt(body: dict[str, Any]) -> str:
        body = normalize_keys(body)
        contents = body.get("contents")
        if not contents or not isinstance(contents, list):
            raise invalid("contents is required and must not be empty.")
        user = [c for c in contents if isinstance(c, dict) and c.get("role", "user") == "user"]
        turn = user[-1] if user else contents[-1]
        parts = turn.get("parts") or []
        return "".join(str(p.get("text", "")) for p in parts if isinstance(p, dict))

    @staticmethod
    def _respond(
        body: dict[str, Any], prompt: str, answer: str, model: str
    ) -> list[dict[str, Any]]:
        """The response as chunks (one for generateContent, several for streaming)."""
        cfg = normalize_keys(body).get("generationConfig") or {}
        finish = "STOP"
        for stop in cfg.get("stopSequences") or []:
            if stop and stop in answer:
                answer = answer[: answer.index(stop)]
        max_tokens = cfg.get("maxOutputTokens")
        if max_tokens:
            limit = int(max_tokens) * catalog.CHARS_PER_TOKEN
            if len(answer) > limit:
                answer, finish = answer[:limit], "MAX_TOKENS"
        count = max(1, int(cfg.get("candidateCount") or 1))
        p_tokens = catalog.estimate_tokens(len(prompt))
        c_tokens = catalog.estimate_tokens(len(answer)) * count
        created = timestamp(time.time())
        response_id = uuid.uuid4().hex[:22]
        words = answer.split(" ")
        size = max(1, len(words) // 3 + (len(words) % 3 > 0))
        pieces = [" ".join(words[i : i + size]) for i in range(0, len(words), size)] or [""]
        pieces = [p + (" " if i < len(pieces) - 1 else "") for i, p in enumerate(pieces)]
        chunks: list[dict[str, Any]] = []
        for i, piece in enumerate(pieces):
            last = i == len(pieces) - 1
            cands = []
            for n in range(count):
                cand: dict[str, Any] = {"content": {"role": "model", "parts": [{"text": piece}]}}
                if n:
                    cand["index"] = n
                if last:
                    cand["finishReason"] = finish
                    cand["avgLogprobs"] = -0.1
                cands.append(cand)
            chunk: dict[str, Any] = {
                "candidates": cands,
                "modelVersion": model,
                "createTime": created,
                "responseId": response_id,
            }
            usage: dict[str, Any] = {"promptTokenCount": p_tokens}
            if last:
                usage.update(candidatesTokenCount=c_tokens, totalTokenCount=p_tokens + c_tokens)
            chunk["usageMetadata"] = usage
            chunks.append(chunk)
        return chunks

    # --- operations -----------------------------------------------------------------------------

    def _op(self, name: str) -> Resource:
        res = self.store.get(name)
        if res is None or res.kind != "operation":
            raise not_found(f"Operation {name} not found.")
        return res

    @staticmethod
    def op_name(call: Call, with_id: bool = True) -> str:
        project, location, *rest = call.params
        parts = [f"projects/{project_number(project)}/locations/{location}", *rest]
        name = "/".join(parts[:-1] if with_id else parts)
        return f"{name}/operations/{parts[-1]}" if with_id else f"{name}"

    def get_operation(self, call: Call) -> dict[str, Any]:
        with self.store.tx():
            res = _ops.poll(self.store, self._op(self.op_name(call)), self._apply)
        return _ops.render(res)

    def list_operations(self, call: Call) -> dict[str, Any]:
        parent = self.op_name(call, with_id=False)
        docs = [_ops.render(r) for r in self.store.find("operation", parent)]
        page, token = _listing.paginate(
            docs,
            call.query.get("pageSize"),
            call.query.get("pageToken"),
            f"operations|{parent}",
        )
        return _listing.page_response("operations", page, token)

    def cancel_operation(self, call: Call) -> dict[str, Any]:
        with self.store.tx():
            _ops.cancel(self.store, self._op(self.op_name(call)))
        return {}

    def delete_operation(self, call: Call) -> dict[str, Any]:
        with self.store.tx():
            self.store.delete(self._op(self.op_name(call)).name)
        return {}

    def wait_operation(self, call: Call) -> dict[str, Any]:
        with self.store.tx():
            res = _ops.poll(self.store, self._op(self.op_name(call)), self._apply)
        return _ops.render(res)
