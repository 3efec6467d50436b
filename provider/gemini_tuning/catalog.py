"""Base models that can be tuned and their limits: one table for specs, datasets and emulator.

Sources: docs/reference/wire-contract.md sections 6-7 (Google's supervised-tuning pages as of
2026-09 and the Gemini API tuning docs). Values marked [I] there are our documented choices:

- Minimum example count: 16 for gemini-1.0-pro-002 (documented); 1 for the Gemini 1.5+ models,
  whose docs give only the recommendation of 100-500 [I].
- Hyperparameter bounds: Vertex publishes none; we accept epochs 1-100 and a learning-rate
  multiplier in (0, 10] [I].
- Token estimate: characters / 4, rounded up [I]; the emulator and the cost estimate use the same.
- Retired models stay in the table so errors can say *when* they were retired.

Where each model tunes (``BaseModel.tuning_locations``; ``tuning_location_error``):

- Regions: "Supervised fine-tuning region settings"
  (https://cloud.google.com/vertex-ai/generative-ai/docs/models/gemini-supervised-tuning-region-settings):
  "You can use one of the following regions to specify the tuning job region. asia-east1
  asia-east2 ... southamerica-east1 us-...". Our copy of the page was cut after ``us-``: the
  us-* regions below are us-central1 (the page's own example) and the Vertex AI regions of the
  United States [I].
- Multi-regions ``us`` / ``eu``: "Data residency" (https://docs.cloud.google.com/vertex-ai/
  generative-ai/docs/learn/data-residency) lists "Tuning for Gemini 2.5 Flash / Flash-Lite /
  Pro" under both the US and the EU multi-region, and "Tuning for Gemini 2.0 Flash / Flash-Lite"
  under the US one; the Gemini 3 family tunes in us-central1 and europe-west4 and is served from
  the us/eu multi-regions, where supervised tuning is listed among the capabilities
  (docs/reference/wire-contract.md section 7 and its last section, "Hosts").
- ``global``: "The following capabilities are not available when using the global endpoint:
  Tuning" ("Deployments and endpoints", .../learn/locations).
- translation-llm-002: "The only supported region is us-central1" (Translation LLM supervised
  tuning page, .../models/translation-supervised-tuning).

Which models can be tuned further (``BaseModel.continuous_tuning``): "Use continuous tuning for
Gemini models" (https://docs.cloud.google.com/vertex-ai/generative-ai/docs/models/
gemini-use-continuous-tuning): "The following Gemini models support continuous tuning: Gemini 3.5
Flash, Gemini 3.1 Flash-Lite, Gemini 2.5 Pro, ...". Our copy of the list is cut after Gemini 2.5
Pro: Gemini 2.5 Flash and Flash-Lite are our reading [I] (the page lists the current tunable
Gemini models, newest first). The same page (its full text in our copies of the translated
pages) also says that only supervised-tuned models tuned on or after 11 July 2025 can be
continued, and that a continuous job must use the same CMEK as the pre-tuned model's job. It
says nothing of adapter sizes: a continued model keeps its adapter size in this project [I]
(an adapter of another rank cannot continue the trained one).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

Backend = Literal["vertex", "gemini-api"]
DatasetFormat = Literal["contents", "messages", "text_pairs"]

GIB = 1024**3
MAX_EPOCHS = 100
MAX_LEARNING_RATE_MULTIPLIER = 10.0
CHARS_PER_TOKEN = 4


SFT_REGIONS = (
    "asia-east1",
    "asia-east2",
    "asia-northeast1",
    "asia-northeast3",
    "asia-south1",
    "asia-southeast1",
    "australia-southeast1",
    "europe-central2",
    "europe-north1",
    "europe-southwest1",
    "europe-west1",
    "europe-west2",
    "europe-west3",
    "europe-west4",
    "europe-west6",
    "europe-west8",
    "europe-west9",
    "me-central1",
    "me-central2",
    "me-west1",
    "northamerica-northeast1",
    "southamerica-east1",
    "us-central1",
    "us-east1",  # [I] the page's list was cut after "us-"
    "us-east4",  # [I]
    "us-east5",  # [I]
    "us-south1",  # [I]
    "us-west1",  # [I]
    "us-west4",  # [I]
)
GEMINI_2_5_LOCATIONS = (*SFT_REGIONS, "us", "eu")
GEMINI_3_LOCATIONS = ("us-central1", "europe-west4", "us", "eu")


@dataclass(frozen=True)
class BaseModel:
    """What one tunable base model accepts."""

    id: str
    backend: Backend
    retired_on: str | None = None  # ISO month; None while Google offers it for tuning
    dataset_format: DatasetFormat = "contents"
    adapter_sizes: tuple[int, ...] = (1, 2, 4, 8, 16)
    default_adapter_size: int | None = None
    max_tokens_per_example: int | None = 131_072
    max_validation_examples: int = 5000
    min_examples: int = 1
    recommended_min_examples: int = 100
    max_training_examples: int | None = 10_000_000
    max_file_bytes: int = GIB
    max_input_chars: int | None = None  # Gemini API only
    max_output_chars: int | None = None  # Gemini API only
    supports_cmek: bool = True
    notes: tuple[str, ...] = field(default=())
    # Where a tuning job of this model can run (Vertex locations; empty: not location-bound,
    # the Gemini API). See the module docstring for the sources.
    tuning_locations: tuple[str, ...] = GEMINI_2_5_LOCATIONS
    # A tuned version of this model can be tuned further (continuous tuning, preTunedModel).
    continuous_tuning: bool = False

    @property
    def retired(self) -> bool:
        return self.retired_on is not None


_GEMINI_3 = {
    "supports_cmek": False,
    "continuous_tuning": True,
    "notes": ("tuning in us-central1, europe-west4 and the us/eu multi-regions only",),
    "tuning_locations": GEMINI_3_LOCATIONS,
}

VERTEX_MODELS: dict[str, BaseModel] = {
    m.id: m
    for m in (
        BaseModel("gemini-3.5-flash", "vertex", **_GEMINI_3),  # type: ignore[arg-type]
        BaseModel("gemini-3.1-flash-lite", "vertex", **_GEMINI_3),  # type: ignore[arg-type]
        BaseModel("gemini-2.5-pro", "vertex", adapter_sizes=(1, 2, 4, 8), continuous_tuning=True),
        BaseModel("gemini-2.5-flash", "vertex", continuous_tuning=True),  # [I] see above
        BaseModel("gemini-2.5-flash-lite", "vertex", continuous_tuning=True),  # [I]
        BaseModel("translation-llm-002", "vertex", tuning_locations=("us-central1",)),
        BaseModel(
            "gemini-2.0-flash-001",
            "vertex",
            retired_on="2026-02",
            tuning_locations=(*SFT_REGIONS, "us"),
        ),
        BaseModel(
            "gemini-2.0-flash-lite-001",
            "vertex",
            retired_on="2026-02",
            tuning_locations=(*SFT_REGIONS, "us"),
        ),
        BaseModel(
            "gemini-1.5-pro-002",
            "vertex",
            retired_on="2025-09",
            adapter_sizes=(1, 4),
            default_adapter_size=4,
            max_tokens_per_example=32_000,
            max_validation_examples=256,
        ),
        BaseModel(
            "gemini-1.5-flash-002",
            "vertex",
            retired_on="2025-09",
            adapter_sizes=(1, 4, 8, 16),
            default_adapter_size=8,
            max_tokens_per_example=32_000,
            max_validation_examples=256,
        ),
        BaseModel(
            "gemini-1.0-pro-002",
            "vertex",
            retired_on="2025-04",
            dataset_format="messages",
            adapter_sizes=(1, 4),
            max_tokens_per_example=None,
            max_validation_examples=256,
            min_examples=16,
        ),
    )
}

# The Gemini API (tunedModels) has offered no tunable base model since May 2025. The last ones
# are kept so that legacy definitions validate and the emulator can serve them.
_GEMINI_API_LIMITS: dict[str, Any] = {
    "retired_on": "2025-05",
    "dataset_format": "text_pairs",
    "adapter_sizes": (),
    "max_tokens_per_example": None,
    "min_examples": 1,
    "recommended_min_examples": 20,
    "max_training_examples": None,
    "max_file_bytes": 4 * 1024 * 1024,
    "max_input_chars": 40_000,
    "max_output_chars": 5_000,
    "tuning_locations": (),
}
GEMINI_API_MODELS: dict[str, BaseModel] = {
    model_id: BaseModel(model_id, "gemini-api", **_GEMINI_API_LIMITS)
    for model_id in ("models/gemini-1.5-flash-001-tuning", "models/gemini-1.0-pro-001")
}

# Gemini API tuning defaults (tuned_model.proto; the tuning concepts page).
GEMINI_API_DEFAULT_EPOCHS = 5
GEMINI_API_DEFAULT_BATCH_SIZE = 4
GEMINI_API_DEFAULT_LEARNING_RATE = 0.001


class UnknownBaseModelError(ValueError):
    """The base model is not one this backend can tune."""


def normalize_model_id(model: str, backend: Backend = "vertex") -> str:
    """`publishers/google/models/gemini-2.5-flash` and `gemini-2.5-flash` name the same model."""
    model = model.strip()
    if backend == "gemini-api":
        return model if model.startswith("models/") else f"models/{model}"
    return model.rsplit("/", 1)[-1]


def supported_ids(backend: Backend) -> list[str]:
    table = VERTEX_MODELS if backend == "vertex" else GEMINI_API_MODELS
    return sorted(m.id for m in table.values() if not m.retired)


def lookup(model: str, backend: Backend = "vertex", *, allow_retired: bool = False) -> BaseModel:
    """The catalog entry for ``model``, or UnknownBaseModelError with what to use instead."""
    table = VERTEX_MODELS if backend == "vertex" else GEMINI_API_MODELS
    entry = table.get(normalize_model_id(model, backend))
    if entry is None:
        known = ", ".join(supported_ids(backend) or sorted(table))
        raise UnknownBaseModelError(
            f"base model {model!r} cannot be tuned on the {backend} backend; "
            f"models that can be tuned: {known}"
        )
    if entry.retired and not allow_retired:
        current = ", ".join(supported_ids(backend)) or "none (use the vertex backend)"
        raise UnknownBaseModelError(
            f"base model {model!r} was retired for tuning in {entry.retired_on}; "
            f"models that can be tuned now: {current}"
        )
    return entry


def tuning_location_error(model: BaseModel, location: str) -> str | None:
    """Why ``model`` cannot be tuned in ``location``, or None when it can (or the backend is
    not location-bound)."""
    if model.backend != "vertex" or location in model.tuning_locations:
        return None
    if location == "global":
        why = "Vertex AI offers no tuning on the global endpoint"
    else:
        why = f"Google does not list {location!r} among the tuning locations of {model.id}"
    return (
        f"base model {model.id} cannot be tuned in location {location!r}: {why}. Locations "
        f"where it can: {', '.join(model.tuning_locations)} (set gemini-tuning:location)"
    )


def continuous_tuning_error(model: BaseModel) -> str | None:
    """Why a tuned version of ``model`` cannot be tuned further, or None when it can."""
    if model.continuous_tuning:
        return None
    can = ", ".join(sorted(m.id for m in VERTEX_MODELS.values() if m.continuous_tuning))
    return (
        f"Google does not list {model.id} among the models that support continuous tuning; "
        f"models that do: {can}"
    )


def estimate_tokens(chars: int) -> int:
    """Tokens billed for ``chars`` characters of text (chars / 4, rounded up) [I]."""
    return math.ceil(chars / CHARS_PER_TOKEN)


# -- where each model can be tuned: one list (BaseModel.tuning_locations, above) --------------
# Our stored copy of "Supported tuning job regions" is cut after the last non-US entry, so the
# US regions other than us-central1 in SFT_REGIONS are our reading [I]: preview accepts them
# (the service refuses a job it cannot run, before billing), and preflight says it cannot
# confirm them.
UNCONFIRMED_REGIONS = frozenset(
    {"us-east1", "us-east4", "us-east5", "us-south1", "us-west1", "us-west4"}
)


def tuning_regions(model: str) -> frozenset[str]:
    """The locations where ``model`` (a Vertex base model) is offered for tuning."""
    return frozenset(lookup(model, "vertex", allow_retired=True).tuning_locations)


def tunable_in(model: str, location: str) -> bool | None:
    """True when ``model`` is offered for tuning in ``location``; False when it is not; None
    when our copy of Google's list cannot confirm it (UNCONFIRMED_REGIONS)."""
    entry = lookup(model, "vertex", allow_retired=True)
    if tuning_location_error(entry, location) is not None:
        return False
    return None if location in UNCONFIRMED_REGIONS else True
