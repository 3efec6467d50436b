"""Fingerprints of local files and GCS objects, and content-addressed upload to GCS.

The fingerprint is what a TuningJob diffs: a local file by its sha256 and example count, a
``gs://`` object by its generation and checksum (any rewrite of the object changes both).
All GCS access goes through a google-cloud-storage ``Client`` the caller passes in.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, NamedTuple

CHUNK_BYTES = 1 << 20


@dataclass(frozen=True)
class DatasetFingerprint:
    """What identifies a local dataset's content."""

    sha256: str
    examples: int
    bytes: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def fingerprint_file(path: str | Path) -> DatasetFingerprint:
    """sha256 and example count of a local file in one pass, without validating it.

    Examples are the non-blank lines of a JSONL file, or the rows after the header of a CSV.
    """
    path = Path(path)
    if path.suffix.lower() == ".csv":
        return _fingerprint_csv(path)
    hasher = hashlib.sha256()
    examples = nbytes = 0
    with path.open("rb") as handle:
        for line in handle:
            hasher.update(line)
            nbytes += len(line)
            if not line.isspace():
                examples += 1
    return DatasetFingerprint(hasher.hexdigest(), examples, nbytes)


def _fingerprint_csv(path: Path) -> DatasetFingerprint:
    import csv

    hasher = hashlib.sha256()
    nbytes = 0
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK_BYTES), b""):
            hasher.update(chunk)
            nbytes += len(chunk)
    with path.open(encoding="utf-8-sig", errors="replace", newline="") as text:
        rows = sum(1 for row in csv.reader(text) if row)
    return DatasetFingerprint(hasher.hexdigest(), max(0, rows - 1), nbytes)


def parse_gcs_uri(uri: str) -> tuple[str, str]:
    """``gs://bucket/name`` -> (bucket, name); ValueError for anything else."""
    if not uri.startswith("gs://"):
        raise ValueError(f"not a gs:// URI: {uri!r}")
    bucket, _, name = uri[len("gs://") :].partition("/")
    if not bucket or not name:
        raise ValueError(f"a gs:// URI names a bucket and an object: {uri!r}")
    return bucket, name


def content_addressed_name(sha256: str, prefix: str, suffix: str = ".jsonl") -> str:
    prefix = prefix.strip("/")
    return f"{prefix}/{sha256}{suffix}" if prefix else f"{sha256}{suffix}"


def upload_content_addressed(
    path: str | Path, *, bucket: str, prefix: str, client: Any, sha256: str | None = None
) -> str:
    """Upload ``path`` as ``gs://BUCKET/PREFIX/<sha256>.jsonl`` unless that object exists.

    The object name is the content's hash, so an existing object already holds these bytes and
    re-running is free. CSV files keep a ``.csv`` suffix. Returns the URI. ``sha256``: the
    content's hash when the caller knows it (the fingerprint cache), else the file is hashed.
    A file whose size, mtime or ctime changes while it uploads is not left under a name that
    is not its hash: the object is deleted and FileChangedError raised.
    """
    path = Path(path)
    before = _identity(path)
    digest = sha256 or fingerprint_file(path).sha256
    suffix = ".csv" if path.suffix.lower() == ".csv" else ".jsonl"
    name = content_addressed_name(digest, prefix, suffix)
    blob = client.bucket(bucket).blob(name)
    if not blob.exists():
        content_type = "text/csv" if suffix == ".csv" else "application/jsonl"
        blob.upload_from_filename(str(path), content_type=content_type)
        if _identity(path) != before:
            blob.delete()
            raise FileChangedError(f"{path} changed while it was uploaded; nothing was kept")
    return f"gs://{bucket}/{name}"


class FileChangedError(Exception):
    """A dataset file changed while it was hashed or uploaded."""


def _identity(path: Path) -> tuple[int, int, int, int]:
    st = path.stat()
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)


class GcsFingerprint(NamedTuple):
    """What identifies a GCS object's content: generation, checksum ("crc32c:..."/"md5:...")."""

    generation: int
    checksum: str
    size: int


def gcs_fingerprint(uri: str, client: Any) -> GcsFingerprint:
    """The object's generation, checksum and size, from its metadata (no download).

    Raises FileNotFoundError when the object does not exist.
    """
    bucket, name = parse_gcs_uri(uri)
    blob = client.bucket(bucket).get_blob(name)
    if blob is None:
        raise FileNotFoundError(f"{uri}: no such object")
    if blob.crc32c:
        checksum = f"crc32c:{blob.crc32c}"
    elif blob.md5_hash:
        checksum = f"md5:{blob.md5_hash}"
    else:
        checksum = ""
    return GcsFingerprint(int(blob.generation or 0), checksum, int(blob.size or 0))
