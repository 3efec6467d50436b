"""Release records: what a tuning stack released, durable and readable from any stack.

A tuning stack with a bucket (``releaseBucket``, default ``datasetBucket``) writes one JSON
object per model version it tunes (the Release resource)::

    gs://BUCKET/gemini-tuning/releases/<project>/<stack>/<model>/v<version>.json

holding the model version, its job and endpoint, the evaluation (metrics, baseline, and the
fingerprint of the evaluation set that produced them), the dataset fingerprints, the hash of the
definition file and, when the job's loss stopped improving before its last epoch, the epoch advice
(``advice``: gemini_tuning._advice.EpochAdvice.as_dict(); absent in older records). Why an object
in the bucket, not the tuning stack's outputs or the Model Registry: the outputs of a stack hold
only what it carries *now* (a replaced version leaves its state), and Vertex labels cannot hold
metrics (63 lowercase characters). A bucket object outlives every stack, any stack or person with
read access can fetch it, and it is written once per version. The promoting stack finds the store
in its source's ``environment.release_store`` output, reads the record of the version it asks for,
checks its gate against exactly that record, and checks in the Model Registry that the version
still exists.

This module: the record's shape and paths, the promotion decision and the prune plan (pure),
and the few storage calls (read, write, list, delete) through backends/_storage.py.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gemini_tuning import _claims as claims
from gemini_tuning._advice import EpochAdvice
from gemini_tuning.backends import ModelStatus, Settings
from gemini_tuning.backends import _storage as storage

SCHEMA = 1
PREFIX = "gemini-tuning/releases"


class PromotionError(ValueError):
    """The asked-for version cannot be promoted; the message says why and what to do."""


# -- paths and records -----------------------------------------------------------------------


def store_uri(bucket: str, project: str, stack: str) -> str:
    return f"gs://{bucket}/{PREFIX}/{project}/{stack}"


def record_uri(store: str, model: str, version: int) -> str:
    return f"{store.rstrip('/')}/{model}/v{int(version)}.json"


def record_bytes(record: Mapping[str, Any]) -> bytes:
    return (json.dumps(_plain(record), indent=2, sort_keys=True) + "\n").encode()


def digest(record: Mapping[str, Any]) -> str:
    return hashlib.sha256(record_bytes(record)).hexdigest()


def definition_hash(text: bytes) -> str:
    return "sha256:" + hashlib.sha256(text).hexdigest()


def _plain(value: Any) -> Any:
    """Pulumi hands integers back as floats; a record says what was meant."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


# -- promotion -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    """What a promoting stack reads of its source stack."""

    name: str  # e.g. organization/gemini-tuning/dev
    models: Mapping[str, Any]
    environment: Mapping[str, Any]

    @property
    def store(self) -> str | None:
        value = self.environment.get("release_store")
        return str(value) if value else None

    @property
    def is_promotion(self) -> bool:
        return self.environment.get("role") == "promotion"


RecordReader = Callable[[str], Mapping[str, Any] | None]
ModelLookup = Callable[[str], ModelStatus | None]


def choose_release(
    source: Source,
    name: str,
    version: int,
    *,
    stack: str,
    gate: Any,
    read_record: RecordReader,
    lookup_model: ModelLookup,
) -> dict[str, Any]:
    """The release a promoting stack may serve for ``name`` v``version``, or PromotionError.

    The version comes from the release record (any version the source stack's tuning ever
    released), or, for a source that records no releases, from what the source carries now.
    A source that is itself a promoting stack must serve, or have served, the version: only what
    staging carried reaches prod. The gate is checked against the record's evaluation, and the
    model version must still exist.
    """
    prefix = f"cannot promote {name} v{version} from {source.name} to {stack}"
    entry = source.models.get(name) if isinstance(source.models, Mapping) else None
    carries = entry is not None and _as_int(entry.get("version")) == version
    record = read_record(record_uri(source.store, name, version)) if source.store else None
    if record is None:
        if not carries or entry is None:
            raise PromotionError(f"{prefix}: {_not_found(source, name, version, entry)}")
        if entry.get("state") != "SUCCEEDED":
            raise PromotionError(
                f"{prefix}: its tuning job is {entry.get('state')} (no tuned model yet)"
            )
        record = _record_from_entry(entry)
    model_name = str(record.get("tuned_model") or "")
    if not model_name:
        raise PromotionError(f"{prefix}: its tuning job has no tuned model (yet)")
    model = lookup_model(model_name)
    if model is None:
        raise PromotionError(
            f"{prefix}: its model {model_name} no longer exists (deleted or pruned); "
            f"promote a version that exists (`gemini-tuning releases list`)"
        )
    if source.is_promotion and not carries and not claims.has_served(model.labels, source.name):
        raise PromotionError(
            f"{prefix}: {source.name} never served v{version}; promote it there first"
        )
    evaluation = record.get("evaluation") or {}
    misses = gate.misses(evaluation.get("metrics")) if gate is not None else []
    if misses:
        raise PromotionError(f"{prefix}: evaluation gate not met: " + "; ".join(misses))
    return {
        "model": model_name,
        "endpoint": record.get("endpoint"),
        "state": "SUCCEEDED",
        "job": record.get("job"),
        "metrics": evaluation.get("metrics") or {},
        "baseline": evaluation.get("baseline") or {},
        "evaluated_at": evaluation.get("evaluated_at"),
        "eval_dataset_fingerprint": evaluation.get("dataset_fingerprint"),
        "release": record_uri(source.store, name, version) if source.store else None,
        "artifacts": (entry or {}).get("artifacts") if carries else {},
    }


def _not_found(source: Source, name: str, version: int, entry: Any) -> str:
    if entry is None and not source.store:
        carried = ", ".join(sorted(source.models or {})) or "nothing"
        return f"{source.name} carries no model {name} (it carries {carried})"
    now = f"{source.name} carries {name} v{_as_int(entry.get('version'))}" if entry else ""
    if source.store:
        where = f"no release record of v{version} in {source.store}"
        return f"{now + '; ' if now else ''}{where} (`gemini-tuning releases list`)"
    return (
        f"{now}. Promote that version, or bring v{version} back to {source.name} first "
        "(it records no releases: set gemini-tuning:datasetBucket or releaseBucket there)"
    )


def _record_from_entry(entry: Mapping[str, Any]) -> dict[str, Any]:
    """A source without a release record: what it carries now stands in for the record."""
    return {
        "tuned_model": entry.get("model"),
        "endpoint": entry.get("endpoint"),
        "job": entry.get("job"),
        "evaluation": {
            "metrics": entry.get("metrics"),
            "baseline": entry.get("baseline"),
            "evaluated_at": entry.get("evaluated_at"),
        },
    }


def _as_int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


# -- listing and pruning ---------------------------------------------------------------------


def model_level_claims(versions: Sequence[ModelStatus]) -> dict[str, str]:
    """Claims (key: stack) that look written to the model rather than to one version.

    Vertex keeps model labels and version labels apart and merges them when it returns a
    version (UpdateModelRequest, model_service.proto: "Both the model labels and the version
    labels are merged when a model is returned"), so a claim written to a bare name shows on
    every version, and no read tells the two levels apart. A claim with the same value on every
    version of a model with two or more is reported: it is such a label, unless that stack
    really serves every version. A model with one version cannot tell.
    """
    if len(versions) < 2:
        return {}
    first, *others = versions
    return {
        key: value
        for key, value in first.labels.items()
        if key.startswith(claims.CLAIM_PREFIX)
        and all(other.labels.get(key) == value for other in others)
    }


@dataclass(frozen=True)
class ReleaseView:
    """One record with what the Model Registry says of its version now."""

    uri: str
    record: Mapping[str, Any]
    model: ModelStatus | None  # None: the version is gone
    current: bool  # the tuning stack carries it now
    own_aliases: tuple[str, ...] = ()  # the tuning stack's aliases: not a claim by another
    model_level: Mapping[str, str] = field(default_factory=dict)  # see model_level_claims

    @property
    def notes(self) -> list[str]:
        """What is wrong with the claims, for a person to fix."""
        if self.model is None or not self.model_level:
            return []
        stacks = ", ".join(sorted(self.model_level.values()))
        return [
            f"claim at model level: {stacks} (on every version of the model: a label written "
            "to the bare model name; remove it there, unless that stack serves every version)"
        ]

    @property
    def claims(self) -> list[str]:
        if self.model is None:
            return []
        tuning = str(self.record.get("tuning_stack") or "")
        aliases = [a for a in self.model.version_aliases if a not in self.own_aliases]
        return claims.claimants(self.model.labels, aliases, except_stack=tuning)

    @property
    def status(self) -> str:
        if self.model is None:
            return "gone"
        if self.current:
            return "current"
        return "claimed" if self.claims else "retained"

    def to_dict(self) -> dict[str, Any]:
        evaluation = self.record.get("evaluation") or {}
        return {
            "model": self.record.get("model"),
            "version": self.record.get("version"),
            "tuned_model": self.record.get("tuned_model"),
            "status": self.status,
            "aliases": list(self.model.version_aliases) if self.model else [],
            "claims": self.claims,
            "notes": self.notes,
            "metrics": evaluation.get("metrics") or {},
            # Where the job's loss stopped improving (gemini_tuning._advice); older records, and
            # jobs whose loss improved to the last epoch, have none.
            "advice": _advice_of(self.record),
            "created": self.model.create_time if self.model else None,
            "record": self.uri,
        }


def _advice_of(record: Mapping[str, Any]) -> dict[str, Any] | None:
    found = EpochAdvice.from_dict(record.get("advice"))
    return found.as_dict() if found is not None else None


@dataclass(frozen=True)
class PrunePlan:
    delete_versions: list[ReleaseView] = field(default_factory=list)
    delete_records: list[ReleaseView] = field(default_factory=list)  # their model is gone
    kept: list[tuple[ReleaseView, str]] = field(default_factory=list)


def plan_prune(views: Sequence[ReleaseView], keep: int) -> PrunePlan:
    """Delete unclaimed retained versions beyond the newest ``keep`` per model; never one that
    the tuning stack carries now or that any stack claims. Records of gone models go too."""
    plan = PrunePlan()
    retained_seen: dict[str, int] = {}
    ordered = sorted(views, key=lambda v: (str(v.record.get("model")), -_version(v)))
    for view in ordered:
        if view.status == "gone":
            plan.delete_records.append(view)
        elif view.status == "current":
            plan.kept.append((view, "the tuning stack carries it"))
        elif view.status == "claimed":
            plan.kept.append((view, "served by " + ", ".join(view.claims)))
        else:
            model = str(view.record.get("model"))
            retained_seen[model] = retained_seen.get(model, 0) + 1
            if retained_seen[model] <= keep:
                plan.kept.append((view, f"--keep {keep}"))
            else:
                plan.delete_versions.append(view)
    return plan


def _version(view: ReleaseView) -> int:
    return _as_int(view.record.get("version")) or 0


# -- storage ---------------------------------------------------------------------------------


def _client(settings: Settings) -> Any:
    from gemini_tuning.backends._storage import storage_client

    return storage_client(settings)


def _split(uri: str) -> tuple[str, str]:
    from gemini_tuning.datasets import parse_gcs_uri

    return parse_gcs_uri(uri)


def write_record(settings: Settings, uri: str, record: Mapping[str, Any]) -> None:
    bucket, name = _split(uri)
    storage.write_object(
        _client(settings), bucket, name, record_bytes(record), content_type="application/json"
    )


def read_record(settings: Settings, uri: str) -> dict[str, Any] | None:
    bucket, name = _split(uri)
    data = storage.read_object(_client(settings), bucket, name)
    if data is None:
        return None
    found: dict[str, Any] = json.loads(data)
    return found


def list_records(settings: Settings, store: str) -> list[tuple[str, dict[str, Any]]]:
    bucket, _, prefix = store.removeprefix("gs://").partition("/")
    prefix = prefix.rstrip("/") + "/"
    objects = storage.read_objects(_client(settings), bucket, prefix, suffix=".json")
    return [(uri, json.loads(data)) for uri, data in objects]


def delete_record(settings: Settings, uri: str) -> None:
    bucket, name = _split(uri)
    storage.delete_object(_client(settings), bucket, name)
