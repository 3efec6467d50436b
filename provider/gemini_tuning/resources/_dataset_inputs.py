"""Dataset inputs of a TuningJob: validated and fingerprinted in check (no tuning API call),
uploaded content-addressed in create. Local paths are relative to the project directory."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from gemini_tuning import catalog
from gemini_tuning.backends import Settings
from gemini_tuning.backends._storage import storage_client

Role = Literal["training", "validation"]
MAX_ERRORS_SHOWN = 5


SHA256_RULES = {"check": "sha256"}


@dataclass(frozen=True)
class DatasetCheck:
    """What check learned about one dataset input."""

    fingerprint: str  # "sha256:<hex>" for a local file, "gs://...#generation=N" for an object
    examples: int | None
    errors: list[str]
    warnings: list[str]
    stats: Any = None


def is_gcs(location: str) -> bool:
    return location.startswith("gs://")


def as_the_user_sees_it(location: str) -> str:
    """A local dataset path as the user knows it: relative to the project's root (the folder of
    Pulumi.yaml, above the program's directory the provider runs in), where it is inside it."""
    import os

    here = Path.cwd()
    root = next((d for d in (here, *here.parents) if (d / "Pulumi.yaml").is_file()), None)
    full = Path(location).resolve()
    if root is None or root == here or not full.is_relative_to(root):
        return location
    return os.path.relpath(full, root)


def check_local(
    location: str, model: catalog.BaseModel, role: Role, training_examples: int | None = None
) -> DatasetCheck:
    """Validate and fingerprint a local file, or reuse what an earlier check of the same,
    unchanged file under the same rules found (datasets/_cache.py)."""
    from gemini_tuning.datasets import DatasetStats, cached

    rules = {
        "check": "validate",
        "location": location,
        "model": repr(model),
        "role": role,
        "training_examples": training_examples,
    }
    found = cached(
        location,
        rules,
        lambda: _validated(location, model, role, training_examples),
        also=[(SHA256_RULES, lambda result: {"sha256": _hex(result["fingerprint"])})],
    )
    return DatasetCheck(
        fingerprint=found["fingerprint"],
        examples=found["examples"],
        errors=list(found["errors"]),
        warnings=list(found["warnings"]),
        stats=DatasetStats.from_dict(found["stats"]),
    )


def _validated(
    location: str, model: catalog.BaseModel, role: Role, training_examples: int | None
) -> dict[str, Any]:
    """Everything check reports about a local file, as JSON (what the cache stores)."""
    from gemini_tuning import datasets

    report = datasets.validate_file(
        Path(location), model=model, role=role, training_examples=training_examples
    )
    errors = [str(issue) for issue in report.errors[:MAX_ERRORS_SHOWN]]
    hidden = len(report.errors) - len(errors) + getattr(report, "errors_omitted", 0)
    if hidden > 0:
        errors.append(
            f"... and {hidden} more errors (run `gemini-tuning dataset validate {location}`)"
        )
    return {
        "fingerprint": f"sha256:{report.stats.sha256}",
        "examples": report.stats.examples,
        "errors": errors,
        "warnings": [str(issue) for issue in report.warnings[:MAX_ERRORS_SHOWN]],
        "stats": report.stats.to_dict(),
    }


def _hex(fingerprint: str) -> str:
    return fingerprint.removeprefix("sha256:")


def sha256_local(location: str) -> str:
    """A local file's sha256 (hex): what its check stored in the fingerprint cache when the file
    is unchanged since (so the upload does not hash it again), else read and hashed."""
    from gemini_tuning.datasets import cached, fingerprint_file

    found = cached(location, SHA256_RULES, lambda: {"sha256": fingerprint_file(location).sha256})
    return str(found["sha256"])


def fingerprint_local(location: str) -> tuple[str, int]:
    """A local file's "sha256:<hex>" and example count, without validating it (cached)."""
    from gemini_tuning.datasets import cached, fingerprint_file

    rules = {"check": "fingerprint"}
    found = cached(location, rules, lambda: fingerprint_file(location).to_dict())
    return f"sha256:{found['sha256']}", int(found["examples"])


def check_gcs(location: str, settings: Settings) -> DatasetCheck:
    from gemini_tuning import datasets

    try:
        found = datasets.gcs_fingerprint(location, storage_client(settings))
    except Exception as err:  # noqa: BLE001 - any storage failure is reported on the property
        return DatasetCheck(
            fingerprint="", examples=None, errors=[f"{location}: {err}"], warnings=[]
        )
    return DatasetCheck(
        fingerprint=f"{location}#generation={found.generation},{found.checksum}",
        examples=None,
        errors=[],
        warnings=[],
    )


def upload_uri(location: str, fingerprint: str, bucket: str | None, prefix: str) -> str:
    """Where the job reads the dataset: the gs:// input itself, or the content-addressed copy."""
    if is_gcs(location):
        return location
    if not bucket:
        raise ValueError(
            "local datasets need a bucket to upload to: set `pulumi config set "
            "gemini-tuning:datasetBucket NAME` (against the emulator: the bucket it created, "
            "`gemini-tuning-dev` by default, or `apiEndpoint: emulator`, which finds it) or the "
            "dataset_bucket input"
        )
    digest = fingerprint.removeprefix("sha256:")
    suffix = ".csv" if Path(location).suffix.lower() == ".csv" else ".jsonl"
    return f"gs://{bucket}/{prefix.strip('/')}/{digest}{suffix}"


class DatasetChangedError(Exception):
    """The file's content is not the one check fingerprinted."""


def upload(
    location: str, bucket: str, prefix: str, settings: Settings, expected: str | None = None
) -> str:
    """Upload a local file content-addressed (``gs://bucket/prefix/<sha256>``). Its sha256 comes
    from the fingerprint cache when the file is unchanged since check; ``expected`` (the
    "sha256:<hex>" check put in the inputs) must match it, so the job never trains on bytes
    other than those the plan showed."""
    return upload_with(location, bucket, prefix, storage_client(settings), expected)


def upload_with(
    location: str, bucket: str, prefix: str, client: Any, expected: str | None = None
) -> str:
    from gemini_tuning import datasets

    path = Path(location)
    digest = sha256_local(location)
    if expected is not None and _hex(expected) != digest:
        raise DatasetChangedError(
            f"{location} changed after it was checked (sha256:{digest[:12]}.., not the "
            f"{expected[:19]}.. the plan showed): nothing was submitted; run `pulumi up` again"
        )
    return _once(
        (bucket, prefix, digest, path.suffix.lower()),
        lambda: str(
            datasets.upload_content_addressed(
                path, bucket=bucket, prefix=prefix, client=client, sha256=digest
            )
        ),
    )


_UPLOADED: dict[tuple[str, str, str, str], str] = {}
_UPLOAD_LOCKS: dict[tuple[str, str, str, str], threading.Lock] = {}
_GUARD = threading.Lock()


def _once(key: tuple[str, str, str, str], upload: Callable[[], str]) -> str:
    """One upload per content and destination in this process: 50 jobs of one `up` that train
    on the same file wait for the first one's upload instead of each checking and writing the
    same object (content-addressed, so the same name holds the same bytes)."""
    with _GUARD:
        lock = _UPLOAD_LOCKS.setdefault(key, threading.Lock())
    with lock:
        if key not in _UPLOADED:
            _UPLOADED[key] = upload()
        return _UPLOADED[key]


def text_pairs(location: str) -> list[tuple[str, str]]:
    """The examples of a local file as (input, output) pairs, for backends that take them inline."""
    from gemini_tuning import datasets

    return list(datasets.iter_file_text_pairs(location))
