"""Cloud Storage (google-cloud-storage), built here like every other Google client: the dataset
upload and fingerprint (resources/_dataset_inputs), the release records (_releases), the run
artifacts (_artifacts), the sweeper and preflight all get their client from ``storage_client``,
and the records and artifacts make their object calls through the functions below. A client is
never cached on a provider instance (a pickled provider lands in Pulumi state)."""

from __future__ import annotations

import contextlib
from typing import Any

from gemini_tuning.backends._settings import Settings
from gemini_tuning.backends._types import BackendError


def storage_client(settings: Settings) -> Any:
    """A client for the stack's project: the emulator's GCS endpoint (with its local
    credentials) when one is set, else Google's with the ambient credentials."""
    from google.cloud import storage  # type: ignore[attr-defined]

    if settings.storage_endpoint:
        return storage.Client(
            project=settings.project,
            credentials=settings.credentials() if settings.local else None,
            client_options={"api_endpoint": settings.storage_endpoint},
        )
    return storage.Client(project=settings.project, credentials=settings.credentials())


# The object calls the release records (_releases) and the run artifacts (_artifacts) make. Each
# takes a client from ``storage_client`` (one per batch of calls) and a bucket and object name.


def write_object(client: Any, bucket: str, name: str, data: bytes, content_type: str) -> None:
    client.bucket(bucket).blob(name).upload_from_string(data, content_type=content_type)


def upload_file(client: Any, bucket: str, name: str, path: str, content_type: str) -> None:
    client.bucket(bucket).blob(name).upload_from_filename(path, content_type=content_type)


def read_object(client: Any, bucket: str, name: str) -> bytes | None:
    """The object's bytes, or None when there is no such object; BackendError ("403 ...", the
    service's code and message) when the service refuses the read."""
    from google.api_core import exceptions

    try:
        return bytes(client.bucket(bucket).blob(name).download_as_bytes())
    except exceptions.NotFound:
        return None
    except exceptions.GoogleAPICallError as err:
        raise BackendError(f"{err.code} {err.message}") from err


def read_objects(client: Any, bucket: str, prefix: str, suffix: str) -> list[tuple[str, bytes]]:
    """(gs:// URI, bytes) of every object under ``prefix`` whose name ends with ``suffix``."""
    return [
        (f"gs://{bucket}/{blob.name}", bytes(blob.download_as_bytes()))
        for blob in client.list_blobs(bucket, prefix=prefix)
        if blob.name.endswith(suffix)
    ]


def delete_object(client: Any, bucket: str, name: str) -> None:
    """Delete the object; one already gone is no error."""
    from google.api_core import exceptions

    with contextlib.suppress(exceptions.NotFound):
        client.bucket(bucket).blob(name).delete()


def exists(client: Any, bucket: str, name: str) -> bool:
    """True when the object exists, or, for a name ending in '/', when anything is under it."""
    if name.endswith("/"):
        return next(iter(client.list_blobs(bucket, prefix=name, max_results=1)), None) is not None
    return bool(client.bucket(bucket).blob(name).exists())


def delete_objects(client: Any, bucket: str, name: str) -> list[str]:
    """Delete the object, or everything under a name ending in '/'; the names deleted (one
    already gone is skipped, no error)."""
    from google.api_core import exceptions

    blobs = (
        list(client.list_blobs(bucket, prefix=name))
        if name.endswith("/")
        else [client.bucket(bucket).blob(name)]
    )
    done = []
    for blob in blobs:
        try:
            blob.delete()
        except exceptions.NotFound:
            continue
        done.append(str(blob.name))
    return done
