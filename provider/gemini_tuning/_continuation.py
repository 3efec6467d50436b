"""Continuous tuning: a definition's ``continue_from: {model, version}`` -> ``preTunedModel``.

A definition may tune on top of a *released* version of a model this stack tunes (itself or
another). The release record (``_releases``: ``<store>/<model>/v<version>.json``) names the
tuned model version the job starts from; the program sends it as ``pre_tuned_model`` and no
``base_model`` (TuningJob's ``oneof source_model`` holds one of them, tuning_job.proto; Google's
continuous-tuning REST body carries ``preTunedModel {tunedModelName, checkpointId}`` only). The
format, from "Use continuous tuning for Gemini models" (https://docs.cloud.google.com/vertex-ai/
generative-ai/docs/models/gemini-use-continuous-tuning): "projects/{project}/locations/
{location}/models/{modelId}@{version_id}"; a record always names the version (``@N``), never
the moving default.

Where it lands: "For continuous tuning, tunedModelDisplayName will by default use the same
display name as the pre-tuned model. If a new display name is provided, the tuning job will
create a new model instead of a new version" (TuningJob, https://docs.cloud.google.com/vertex-ai/
docs/reference/rest/v1/projects.locations.tuningJobs). So a definition that leaves
``tuned_model_display_name`` unset gets the next version of the released model's Vertex model.

This module: the rules a record must meet (pure, ``check_record``) and the read of the record
through backends (``resolve``). Errors are ContinuationError: the definition's field and why.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gemini_tuning import catalog


class ContinuationError(ValueError):
    """``continue_from`` cannot be resolved; ``field`` is the definition field to point at."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Origin:
    """What a definition asks for and what it declares itself."""

    model: str  # the released model's definition name
    version: int
    base_model: str
    adapter_size: int | None
    location: str  # the stack's


def check_record(
    origin: Origin, record: Mapping[str, Any] | None, *, store: str, released: Sequence[int]
) -> str:
    """The tuned model version to continue (``projects/../models/M@N``), or ContinuationError.

    - no record: the version was never released by this stack (the released ones are listed);
    - no tuned model in the record (its job had none), or one named without ``@version``;
    - another base model: a continued model keeps its base model (the job tunes on the
      pre-tuned model's, PreTunedModel.base_model is output only);
    - another adapter size than the recorded one [I: catalog module docstring];
    - another location: "you must use the location of the resources you are operating on"
      (https://docs.cloud.google.com/vertex-ai/docs/general/locations).
    """
    what = f"{origin.model} v{origin.version}"
    if record is None:
        have = ", ".join(f"v{v}" for v in sorted(released)) or "none"
        raise ContinuationError(
            "continue_from.version",
            f"{what} was never released by this stack, or its record was pruned (no "
            f"{store}/{origin.model}/v{origin.version}.json; released versions: {have}). Tune "
            "and release it first (`pulumi up` with it in gemini-tuning:models), or continue a "
            "released version",
        )
    tuned = str(record.get("tuned_model") or "")
    if "/models/" not in tuned or "@" not in tuned:
        raise ContinuationError(
            "continue_from.version",
            f"the release record of {what} names no tuned model version ({tuned or 'none'}): "
            "its job produced no model",
        )
    recorded_base = catalog.normalize_model_id(str(record.get("base_model") or ""))
    if recorded_base and recorded_base != catalog.normalize_model_id(origin.base_model):
        raise ContinuationError(
            "base_model",
            f"{what} was tuned from {recorded_base}, not {origin.base_model}: a continued "
            f"model keeps its base model (set base_model: {recorded_base})",
        )
    recorded_size = (record.get("hyperparameters") or {}).get("adapter_size")
    if origin.adapter_size is not None and recorded_size not in (None, origin.adapter_size):
        raise ContinuationError(
            "hyperparameters.adapter_size",
            f"{what} was tuned with adapter size {recorded_size}: a continued model keeps its "
            f"adapter size (remove adapter_size, or set it to {recorded_size})",
        )
    where = location_of(tuned)
    if where is not None and where != origin.location:
        raise ContinuationError(
            "continue_from",
            f"{what} ({tuned}) is in {where}, this stack tunes in {origin.location}: a job "
            "continues a model in the model's own location",
        )
    return tuned


def location_of(name: str) -> str | None:
    parts = name.split("/")
    if len(parts) > 3 and parts[2] == "locations":
        return parts[3]
    return None


RecordReader = Callable[[str], Mapping[str, Any] | None]
VersionLister = Callable[[str], Sequence[int]]


def resolve(
    origin: Origin,
    store: str,
    *,
    read_record: RecordReader,
    released: VersionLister,
    own: tuple[str, int] | None = None,
) -> str:
    """Read the release record of ``origin`` in ``store`` and check it (check_record).

    ``own``: the continuing definition's (name, version). When the parent's record is gone
    (``releases prune`` deletes a record with its version) but this definition was already
    released continuing it, its own record says what it was tuned from: the same
    ``pre_tuned_model`` comes back, so nothing is re-tuned and the stack keeps working."""
    from gemini_tuning import _releases

    record = read_record(_releases.record_uri(store, origin.model, origin.version))
    if record is None and own is not None:
        tuned = _recorded_continuation(read_record(_releases.record_uri(store, *own)), origin)
        if tuned is not None:
            return tuned
    versions = released(f"{store.rstrip('/')}/{origin.model}") if record is None else ()
    return check_record(origin, record, store=store, released=versions)


def _recorded_continuation(record: Mapping[str, Any] | None, origin: Origin) -> str | None:
    """What a continuing definition's own record says it continued, if it continued
    ``origin``."""
    continued = (record or {}).get("continued_from") or {}
    if continued.get("model") != origin.model or continued.get("version") != origin.version:
        return None
    tuned = continued.get("tuned_model")
    return str(tuned) if tuned else None


def aliases_for(name: str, continued_model: str | None, aliases: Sequence[str]) -> list[str]:
    """A definition that continues *another* model lands in that model's Vertex model, where an
    alias names one version (``models/{model_id}@{version_alias}``, Model.version_aliases,
    model.proto): its aliases carry its name (``dev-squad-qa-more``) so they never take the
    other model's. Continuing itself, it keeps them (they move to the new version, as with any
    new version)."""
    if continued_model is None or continued_model == name:
        return list(aliases)
    return [f"{alias}-{name}" for alias in aliases]
