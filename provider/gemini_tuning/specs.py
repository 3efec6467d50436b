"""Pydantic models of every resource input: the single source of truth.

A spec is what the user declares. ``check`` validates the raw Pulumi inputs against these models
(so at ``pulumi preview``, before any API call) and turns each pydantic error into a CheckFailure
on the property it concerns. Outputs are plain dicts built by the resources; their keys are listed
in ``TUNING_JOB_OUTPUTS`` / ``TUNED_MODEL_OUTPUTS`` so the Resource classes can declare them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from gemini_tuning import catalog

Backend = catalog.Backend
# What destroying or replacing a resource does to what it made (resources/_deletion.py):
# ``delete`` it, ``abandon`` it in the service (the resource only leaves the state), or
# ``prevent`` the destroy or replace at preview. ``retain`` is the old spelling of ``abandon``:
# state and stack config written before ``abandon`` existed hold it.
DeletionPolicy = Literal["delete", "abandon", "prevent", "retain"]
_POLICY_SOURCE = (
    "Where deletion_policy is declared (e.g. stacks/models/qa.yaml:12), named when it refuses "
    "a change; stored only, never a change of its own"
)

LABEL_KEY = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
LABEL_VALUE = re.compile(r"^[a-z0-9_-]{0,63}$")
ALIAS = re.compile(r"^[a-z][a-zA-Z0-9-]{0,126}[a-z0-9-]$")
# Labels this tool stamps on every job it submits; users may not set them.
RESERVED_LABEL_PREFIX = "gemini-tuning-"
# The one reserved-prefix label users may set: a disposable run's id (the acceptance suite sets
# it on every definition it writes); `gemini-tuning sweep --run-id ID` removes what carries it.
RUN_LABEL = "gemini-tuning-run"
VERTEX_DISPLAY_NAME_MAX = 128
GEMINI_API_DISPLAY_NAME_MAX = 40
VERTEX_ADAPTER_SIZES = (1, 2, 4, 8, 16, 32)

_STRICT = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)
METRICS = ("exact_match", "token_f1")
Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
# Which checkpoint of a Vertex job is the tuned model's default (the one its endpoint serves):
# ``best`` (lowest validation loss), ``last`` (the final one, the service's own choice) or an
# epoch number. See resources/_checkpoints.py and resources/tuning_job.md, "Choosing the
# checkpoint".


def _checkpoint_choice(value: Any) -> Any:
    """``best``, ``last`` or an epoch number (``3``, and ``3.0`` as Pulumi hands numbers back);
    anything else fails with one message, not one per member of the union."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and value.strip().isdigit():  # "3" from a string-typed face
        value = int(value)
    if isinstance(value, str) and value.strip() in ("best", "last"):
        return value.strip()
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= catalog.MAX_EPOCHS:
        return value
    raise ValueError(
        f"[checkpoint] checkpoint must be best, last or an epoch number from 1 to "
        f"{catalog.MAX_EPOCHS}; got {value!r}"
    )


CheckpointChoice = Annotated[
    Literal["best", "last"] | Annotated[int, Field(ge=1, le=catalog.MAX_EPOCHS)],
    BeforeValidator(_checkpoint_choice),
]
_CHECKPOINT = (
    "Vertex: the checkpoint the tuned model serves by default: best (lowest validation loss; "
    "needs validation data), last (the final one, the service's default) or an epoch number "
    "(1..epoch_count). Changing it updates the model's default checkpoint; no new tuning job"
)


def _check_labels(labels: dict[str, str]) -> dict[str, str]:
    for key, value in labels.items():
        if not LABEL_KEY.match(key):
            raise ValueError(
                f"label key {key!r} must start with a lowercase letter and hold only lowercase "
                "letters, digits, '_' and '-' (at most 63 characters)"
            )
        if key.startswith(RESERVED_LABEL_PREFIX) and key != RUN_LABEL:
            raise ValueError(f"label key {key!r} is reserved for gemini-tuning's own labels")
        if not LABEL_VALUE.match(value):
            raise ValueError(
                f"label {key}={value!r}: values hold only lowercase letters, digits, '_' and '-' "
                "(at most 63 characters)"
            )
    return labels


class Gate(BaseModel):
    """Minimum scores (0..1) the tuned model's evaluation must reach to be promoted."""

    model_config = _STRICT

    exact_match: Fraction | None = Field(None, description="SQuAD exact match, 0..1")
    token_f1: Fraction | None = Field(None, description="SQuAD token F1, 0..1")

    def misses(self, metrics: Mapping[str, Any] | None) -> list[str]:
        """One line per metric below its gate, e.g. 'exact_match 0.55 < gate 0.60 (short by
        0.05)'; a metric that was never recorded misses too."""
        found = metrics or {}
        lines = []
        for name in METRICS:
            wanted = getattr(self, name)
            if wanted is None:
                continue
            value = found.get(name)
            if value is None:
                lines.append(f"{name} was not recorded (gate {wanted:.2f})")
            elif float(value) + 1e-12 < wanted:
                got, gap = float(value), wanted - float(value)
                digits = 2 if f"{got:.2f}" != f"{wanted:.2f}" else 4
                lines.append(
                    f"{name} {got:.{digits}f} < gate {wanted:.{digits}f} "
                    f"(short by {gap:.{digits}f})"
                )
        return lines

    def as_dict(self) -> dict[str, float]:
        return {name: float(v) for name in METRICS if (v := getattr(self, name)) is not None}


class TuningJobSpec(BaseModel):
    """What a TuningJob declares. Every field but the wait/timeout/policy ones is immutable."""

    model_config = _STRICT

    resource_name: str = Field(description="Pulumi logical name of the declaring resource.")
    backend: Backend = "vertex"
    base_model: str | None = Field(None, description="e.g. gemini-2.5-flash")
    pre_tuned_model: str | None = Field(
        None, description="Continuous tuning: projects/P/locations/L/models/M[@version]"
    )
    training_dataset: str = Field(description="Local JSONL/CSV path or gs:// URI")
    validation_dataset: str | None = None
    epoch_count: Annotated[int, Field(ge=1, le=catalog.MAX_EPOCHS)] | None = None
    learning_rate_multiplier: (
        Annotated[float, Field(gt=0, le=catalog.MAX_LEARNING_RATE_MULTIPLIER)] | None
    ) = None
    adapter_size: int | None = None
    batch_size: Annotated[int, Field(ge=1, le=1024)] | None = None  # Gemini API only
    learning_rate: Annotated[float, Field(gt=0, le=1)] | None = None  # Gemini API only
    tuned_model_display_name: str | None = None
    description: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    encryption_key: str | None = Field(None, description="Cloud KMS key name (CMEK)")
    service_account: str | None = None
    export_last_checkpoint_only: bool = False
    checkpoint: CheckpointChoice = Field("last", description=_CHECKPOINT)
    wait: bool = True
    timeout_minutes: Annotated[float, Field(gt=0)] = 24 * 60.0
    poll_interval_seconds: Annotated[float, Field(gt=0, le=600)] = 15.0
    deletion_policy: DeletionPolicy = "delete"
    deletion_policy_source: str | None = Field(None, description=_POLICY_SOURCE)
    dataset_bucket: str | None = Field(
        None,
        description="Bucket for local datasets; defaults to config gemini-tuning:datasetBucket",
    )
    dataset_prefix: str = "gemini-tuning/datasets"

    _labels = field_validator("labels")(_check_labels)

    @field_validator("adapter_size")
    @classmethod
    def _adapter_size_exists(cls, value: int | None) -> int | None:
        if value is not None and value not in VERTEX_ADAPTER_SIZES:
            raise ValueError(f"adapter size {value} does not exist; sizes: {VERTEX_ADAPTER_SIZES}")
        return value

    @field_validator("training_dataset", "validation_dataset")
    @classmethod
    def _dataset_location(cls, value: str | None) -> str | None:
        if value is not None and not value:
            raise ValueError("dataset path must not be empty")
        if value and value.startswith("gs://") and len(value.split("/", 3)) < 4:
            raise ValueError(f"{value!r} is not a gs://BUCKET/OBJECT URI")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> TuningJobSpec:
        if (self.base_model is None) == (self.pre_tuned_model is None):
            raise _field_error("base_model", "set exactly one of base_model and pre_tuned_model")
        if self.base_model is not None:
            self._check_base_model(self.base_model)
        if self.backend == "vertex":
            self._check_vertex_only_fields()
        else:
            self._check_gemini_api_only_fields()
        self._check_checkpoint()
        return self

    def _check_checkpoint(self) -> None:
        """``checkpoint`` names one the job will have (see _CHECKPOINT); refused at preview."""
        choice = self.checkpoint
        if choice == "last":
            return
        if self.backend != "vertex":
            raise _field_error(
                "checkpoint",
                f"checkpoint: {choice}: the Gemini API keeps no checkpoints to choose from; "
                "remove it (the tuned model is the final one)",
            )
        if self.export_last_checkpoint_only:
            raise _field_error(
                "checkpoint",
                f"checkpoint: {choice}, but export_last_checkpoint_only keeps only the last "
                "checkpoint; remove one of them",
            )
        if choice == "best":
            if self.validation_dataset is None:
                raise _field_error(
                    "checkpoint",
                    "checkpoint: best picks the checkpoint with the lowest validation loss, and "
                    "this job has no validation data: add a validation dataset, or choose last "
                    "or an epoch number",
                )
            return
        if self.epoch_count is None:
            raise _field_error(
                "checkpoint",
                f"checkpoint: {choice} names an epoch, but epoch_count is not set (the service "
                f"would choose it, so epoch {choice} may not exist): set epoch_count, or choose "
                "best or last",
            )
        if int(choice) > self.epoch_count:
            raise _field_error(
                "checkpoint",
                f"checkpoint: {choice}, but the job tunes {self.epoch_count} epoch"
                f"{'s' if self.epoch_count != 1 else ''}: choose an epoch from 1 to "
                f"{self.epoch_count}, best or last",
            )

    def _check_base_model(self, base_model: str) -> None:
        try:
            model = _lookup(base_model, self.backend)
        except catalog.UnknownBaseModelError as err:
            raise _field_error("base_model", str(err)) from err
        if self.adapter_size is not None and self.adapter_size not in model.adapter_sizes:
            raise _field_error(
                "adapter_size",
                f"adapter size {self.adapter_size} is not supported for {model.id}; "
                f"allowed: {', '.join(map(str, model.adapter_sizes))}",
            )
        if self.encryption_key and not model.supports_cmek:
            raise _field_error("encryption_key", f"{model.id} does not support CMEK")

    def _check_vertex_only_fields(self) -> None:
        for name in ("batch_size", "learning_rate"):
            if getattr(self, name) is not None:
                raise _field_error(name, f"{name} is a Gemini API setting; Vertex does not take it")
        display_name = self.tuned_model_display_name
        if display_name is not None and len(display_name) > VERTEX_DISPLAY_NAME_MAX:
            raise _field_error(
                "tuned_model_display_name", f"at most {VERTEX_DISPLAY_NAME_MAX} characters"
            )

    def _check_gemini_api_only_fields(self) -> None:
        for name in ("adapter_size", "encryption_key", "service_account", "validation_dataset"):
            if getattr(self, name):
                raise _field_error(name, f"the Gemini API backend has no {name}")
        if self.learning_rate is not None and self.learning_rate_multiplier is not None:
            raise _field_error(
                "learning_rate", "set learning_rate or learning_rate_multiplier, not both"
            )
        display_name = self.tuned_model_display_name
        if display_name is not None and len(display_name) > GEMINI_API_DISPLAY_NAME_MAX:
            raise _field_error(
                "tuned_model_display_name", f"at most {GEMINI_API_DISPLAY_NAME_MAX} characters"
            )

    @property
    def catalog_model(self) -> catalog.BaseModel | None:
        if self.base_model is None:
            return None
        return _lookup(self.base_model, self.backend)


def _lookup(base_model: str, backend: Backend) -> catalog.BaseModel:
    # Google withdrew every Gemini API tunable model in 2025; the emulator still serves them,
    # and at preview the resource warns that the real service offers none.
    return catalog.lookup(base_model, backend, allow_retired=backend == "gemini-api")


class TunedModelSpec(BaseModel):
    """A tuned model this stack manages: produced by a TuningJob, or adopted (promotion)."""

    model_config = _STRICT

    resource_name: str
    backend: Backend = "vertex"
    model: str = Field(description="projects/P/locations/L/models/M[@version] (or tunedModels/X)")
    endpoint: str | None = None
    adopted: bool = Field(
        False, description="True for a model another stack owns: never deleted, aliases removed"
    )
    display_name: str | None = None
    description: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    version_aliases: list[str] = Field(default_factory=list)
    deletion_policy: DeletionPolicy = Field(
        "delete",
        description="prevent refuses a destroy or replace; delete and abandon act alike here: "
        "a TunedModel never deletes a model (its TuningJob decides), it removes its aliases and "
        "claim",
    )
    deletion_policy_source: str | None = Field(None, description=_POLICY_SOURCE)

    _labels = field_validator("labels")(_check_labels)

    @field_validator("version_aliases")
    @classmethod
    def _aliases(cls, aliases: list[str]) -> list[str]:
        for alias in aliases:
            if alias == "default":
                raise ValueError("the alias 'default' belongs to the service; choose another")
            if not ALIAS.match(alias):
                raise ValueError(f"alias {alias!r} must match [a-z][a-zA-Z0-9-]{{0,126}}[a-z0-9-]")
        if len(set(aliases)) != len(aliases):
            raise ValueError("version_aliases holds duplicates")
        return aliases

    @model_validator(mode="after")
    def _adopted_models_keep_their_metadata(self) -> TunedModelSpec:
        if self.adopted and (self.display_name or self.description):
            raise _field_error(
                "display_name",
                "an adopted model belongs to the stack that tuned it: set aliases and labels only",
            )
        if self.backend == "gemini-api":
            for name in ("version_aliases", "labels"):
                if getattr(self, name):
                    raise _field_error(name, f"Gemini API tuned models have no {name}")
            if self.adopted:
                raise _field_error(
                    "adopted",
                    "Gemini API tuned models have no labels, so another stack's claim on one "
                    "could not be seen by its owner: promotion is for Vertex models only",
                )
        return self


class SpecError(ValueError):
    """A spec failed validation. ``failures`` maps property name -> reason (for CheckFailure)."""

    def __init__(self, failures: list[tuple[str, str]]) -> None:
        self.failures = failures
        super().__init__("; ".join(f"{prop}: {reason}" for prop, reason in failures))


def _field_error(prop: str, message: str) -> ValueError:
    return ValueError(f"[{prop}] {message}")


_FIELD_PREFIX = re.compile(r"^\[(\w+)\] ")


SpecT = TypeVar("SpecT", bound=BaseModel)


def parse(model: type[SpecT], raw: dict[str, Any]) -> SpecT:
    """Validate raw inputs into ``model``; raise SpecError naming each failing property."""
    try:
        return model.model_validate(raw)
    except ValidationError as err:
        raise SpecError([_failure(e) for e in err.errors()]) from None


def _failure(error: Any) -> tuple[str, str]:
    location = ".".join(str(part) for part in error["loc"])
    message = str(error["msg"]).removeprefix("Value error, ")
    tagged = _FIELD_PREFIX.match(message)
    if tagged:
        return tagged.group(1), message[tagged.end() :]
    if error["type"] == "extra_forbidden":
        return location, f"unknown property {location!r}"
    return location.split(".", 1)[0] or "inputs", (
        f"{location}: {message}" if "." in location else message
    )
