"""Reading a job's datasets from GCS (the gcp-storage-emulator) and validating them.

Validation and parsing are `gemini_tuning.datasets` (`validate_lines`, `iter_text_pairs`), the
same code that checks datasets at `pulumi preview`: the emulator has no rules of its own (format,
per-example token limits, example counts, file size all come from there and from the catalog).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from gemini_tuning import catalog, datasets

Role = Literal["training", "validation"]


class DatasetError(Exception):
    """The dataset makes the job fail with INVALID_ARGUMENT (code 3) and this message."""


@dataclass
class DatasetResult:
    examples: int = 0
    total_chars: int = 0
    billable_chars: int = 0
    estimated_tokens: int = 0
    input_tokens: dict[str, float] = field(default_factory=dict)
    output_tokens: dict[str, float] = field(default_factory=dict)
    turns: dict[str, float] = field(default_factory=dict)
    pairs: list[tuple[str, str]] = field(default_factory=list)


def split_gs_uri(uri: str) -> tuple[str, str]:
    bucket, _, blob = uri.removeprefix("gs://").partition("/")
    if not uri.startswith("gs://") or not bucket or not blob:
        raise DatasetError(f"Invalid Cloud Storage URI {uri!r}: expected gs://bucket/object")
    return bucket, blob


def read_gcs(gcs_host: str, uri: str) -> bytes:
    """The bytes of ``uri``, read with google-cloud-storage from the GCS emulator."""
    from google.api_core import exceptions as gexc
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage  # type: ignore[attr-defined,unused-ignore]

    bucket, blob = split_gs_uri(uri)
    client = storage.Client(
        project="emulator",
        credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
        client_options={"api_endpoint": gcs_host},
    )
    try:
        data: bytes = client.bucket(bucket).blob(blob).download_as_bytes()
    except gexc.NotFound as exc:
        raise DatasetError(f"{uri}: file: the dataset file does not exist.") from exc
    return data


def _dist(value: datasets.Distribution) -> dict[str, float]:
    if not value.count:
        return {}
    keys = ("sum", "min", "max", "mean", "median", "p5", "p95")
    return {k: float(getattr(value, k)) for k in keys}


def validate(
    data: bytes,
    *,
    uri: str,
    model: catalog.BaseModel,
    role: Role,
    training_examples: int | None = None,
    max_errors: int = 5,
) -> DatasetResult:
    """Validate ``data`` as the ``role`` dataset of ``model``; DatasetError names file and line."""
    lines = data.splitlines(keepends=True)
    report = datasets.validate_lines(
        lines, source=uri, model=model, role=role, training_examples=training_examples
    )
    if not report.ok:
        errors = [str(e) for e in report.errors]
        shown = "; ".join(errors[:max_errors])
        more = report.error_count - min(len(errors), max_errors)
        tail = f" (and {more} more)" if more > 0 else ""
        raise DatasetError(f"The {role} dataset is invalid: {shown}{tail}")
    stats = report.stats
    result = DatasetResult(
        examples=stats.examples,
        total_chars=stats.total_chars,
        billable_chars=stats.billable_chars,
        estimated_tokens=stats.estimated_tokens,
        input_tokens=_dist(stats.input_tokens),
        output_tokens=_dist(stats.output_tokens),
        turns=_dist(stats.turns_per_example),
    )
    if role in {"training", "validation"}:  # the learner trains on one, is checked on the other
        result.pairs = [(p, a) for p, a in datasets.iter_text_pairs(lines, stats.format)]
    return result
