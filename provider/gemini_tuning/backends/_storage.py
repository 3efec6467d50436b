"""The Cloud Storage client (google-cloud-storage), built here like every other Google client:
the dataset upload and fingerprint (resources/_dataset_inputs), the release records (_releases)
and the run artifacts (_artifacts) all get theirs from ``storage_client``. Never cached on a
provider instance (a pickled provider lands in Pulumi state)."""

from __future__ import annotations

from typing import Any

from gemini_tuning.backends._settings import Settings


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
