"""Fingerprints and content-addressed upload against the real gcp-storage-emulator."""

from __future__ import annotations

import hashlib
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gemini_tuning.datasets import (
    fingerprint_file,
    gcs_fingerprint,
    upload_content_addressed,
)
from gemini_tuning.testing import log_dataset_reads
from tests.support.engine import write_examples

BUCKET = "tuning-data"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def gcs_client() -> Iterator[Any]:
    from gcp_storage_emulator.server import create_server
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    port = _free_port()
    server = create_server("127.0.0.1", port, in_memory=True, default_bucket=BUCKET)
    server.start()
    previous = os.environ.get("STORAGE_EMULATOR_HOST")
    os.environ["STORAGE_EMULATOR_HOST"] = f"http://127.0.0.1:{port}"
    try:
        yield storage.Client(project="test", credentials=AnonymousCredentials())
    finally:
        server.stop()
        if previous is None:
            os.environ.pop("STORAGE_EMULATOR_HOST", None)
        else:
            os.environ["STORAGE_EMULATOR_HOST"] = previous


def _dataset(tmp_path: Path, name: str, answers: str) -> Path:
    path = tmp_path / name
    path.write_text(
        "".join(f'{{"text_input": "{i}", "output": "{a}"}}\n' for i, a in enumerate(answers))
    )
    return path


def test_fingerprint_file_hashes_and_counts(tmp_path: Path) -> None:
    path = _dataset(tmp_path, "a.jsonl", "xyz")
    fingerprint = fingerprint_file(path)
    assert fingerprint.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert (fingerprint.examples, fingerprint.bytes) == (3, path.stat().st_size)
    csv = tmp_path / "a.csv"
    csv.write_text('text_input,output\n"multi\nline",b\nc,d\n')
    assert fingerprint_file(csv).examples == 2


def test_upload_is_content_addressed_and_skipped_when_present(
    gcs_client: Any, tmp_path: Path
) -> None:
    path = _dataset(tmp_path, "train.jsonl", "abc")
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    uri = upload_content_addressed(path, bucket=BUCKET, prefix="/datasets/", client=gcs_client)
    assert uri == f"gs://{BUCKET}/datasets/{sha}.jsonl"
    blob = gcs_client.bucket(BUCKET).get_blob(f"datasets/{sha}.jsonl")
    assert blob.download_as_bytes() == path.read_bytes()
    first = gcs_fingerprint(uri, gcs_client)

    copy = _dataset(tmp_path, "same-content.jsonl", "abc")
    assert (
        upload_content_addressed(copy, bucket=BUCKET, prefix="datasets", client=gcs_client) == uri
    )
    assert gcs_fingerprint(uri, gcs_client) == first  # not rewritten: same generation


def test_changed_content_gets_a_new_object(gcs_client: Any, tmp_path: Path) -> None:
    one = upload_content_addressed(
        _dataset(tmp_path, "t.jsonl", "abc"), bucket=BUCKET, prefix="d", client=gcs_client
    )
    two = upload_content_addressed(
        _dataset(tmp_path, "t.jsonl", "abd"), bucket=BUCKET, prefix="d", client=gcs_client
    )
    assert one != two


def test_gcs_fingerprint_changes_when_the_object_is_rewritten(gcs_client: Any) -> None:
    blob = gcs_client.bucket(BUCKET).blob("user/train.jsonl")
    blob.upload_from_string(b'{"text_input": "1", "output": "2"}\n')
    uri = f"gs://{BUCKET}/user/train.jsonl"
    before = gcs_fingerprint(uri, gcs_client)
    assert before.size == 35
    assert before.checksum.startswith(("crc32c:", "md5:"))
    blob.upload_from_string(b'{"text_input": "1", "output": "3"}\n')
    after = gcs_fingerprint(uri, gcs_client)
    assert after.generation != before.generation
    assert after.checksum != before.checksum


def test_gcs_fingerprint_of_a_missing_object(gcs_client: Any) -> None:
    with pytest.raises(FileNotFoundError):
        gcs_fingerprint(f"gs://{BUCKET}/nope.jsonl", gcs_client)
    with pytest.raises(ValueError, match="gs://"):
        gcs_fingerprint("/local/path.jsonl", gcs_client)


def _checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str) -> tuple[Path, str]:
    """A dataset checked (validated and fingerprinted) with the fingerprint cache on, in a
    directory of this test; the racy margin is 0 so the entry is trusted right away."""
    from gemini_tuning import catalog
    from gemini_tuning.datasets import _cache
    from gemini_tuning.resources import _dataset_inputs as inputs

    monkeypatch.setenv(_cache.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.setattr(_cache, "RACY_MARGIN_NS", 0)
    data = write_examples(tmp_path / name, count=20)
    past = time.time_ns() - 5_000_000_000  # the write is seconds older than the read, by fiat
    os.utime(data, ns=(past, past))
    check = inputs.check_local(str(data), catalog.lookup("gemini-2.5-flash"), "training")
    return data, check.fingerprint


def test_the_upload_reuses_the_checked_digest_and_the_object_holds_those_bytes(
    gcs_client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gemini_tuning.resources import _dataset_inputs as inputs

    data, fingerprint = _checked(tmp_path, monkeypatch, "reuse.jsonl")
    reads = tmp_path / "reads.log"
    log_dataset_reads(reads)
    try:
        uri = inputs.upload_with(str(data), BUCKET, "d", gcs_client, expected=fingerprint)
    finally:
        log_dataset_reads(None)
    assert not reads.exists()  # the digest came from the check's cache entry: no hash pass
    digest = fingerprint.removeprefix("sha256:")
    assert uri == f"gs://{BUCKET}/d/{digest}.jsonl"
    stored = gcs_client.bucket(BUCKET).blob(f"d/{digest}.jsonl").download_as_bytes()
    assert hashlib.sha256(stored).hexdigest() == digest == fingerprint_file(data).sha256


def test_a_file_changed_after_its_check_is_not_uploaded(
    gcs_client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gemini_tuning.resources import _dataset_inputs as inputs

    data, fingerprint = _checked(tmp_path, monkeypatch, "changed.jsonl")
    st = os.stat(data)
    data.write_text(data.read_text().replace("city 3.", "town 3.", 1))
    os.utime(data, ns=(st.st_atime_ns, st.st_mtime_ns))  # same size, same mtime: ctime differs
    with pytest.raises(inputs.DatasetChangedError, match="changed after it was checked"):
        inputs.upload_with(str(data), BUCKET, "d", gcs_client, expected=fingerprint)
    names = {blob.name for blob in gcs_client.list_blobs(BUCKET, prefix="d/")}
    assert f"d/{fingerprint_file(data).sha256}.jsonl" not in names


def test_jobs_of_one_up_training_on_one_file_upload_it_once(
    gcs_client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from gemini_tuning import datasets
    from gemini_tuning.resources import _dataset_inputs as inputs

    data = _dataset(tmp_path, "shared.jsonl", f"once {time.time_ns()}")  # content no test shares
    real = datasets.upload_content_addressed
    calls: list[Path] = []

    def counted(path: Path, **kwargs: Any) -> str:
        calls.append(path)
        return str(real(path, **kwargs))

    monkeypatch.setattr(datasets, "upload_content_addressed", counted)
    with ThreadPoolExecutor(max_workers=8) as pool:
        uris = set(
            pool.map(lambda _: inputs.upload_with(str(data), BUCKET, "d", gcs_client), range(8))
        )
    assert len(uris) == 1
    assert len(calls) == 1
    name = next(iter(uris)).removeprefix(f"gs://{BUCKET}/")
    assert gcs_client.bucket(BUCKET).blob(name).download_as_bytes() == data.read_bytes()
