"""Where the provider's settings come from: stack config (through configure()) or the environment.

Stack config (namespace ``gemini-tuning``)     Environment fallback
  project                                       GEMINI_TUNING_PROJECT, GOOGLE_CLOUD_PROJECT
  location                                      GEMINI_TUNING_LOCATION (default us-central1)
  apiEndpoint   (``emulator`` = the local one)  GEMINI_TUNING_API_ENDPOINT
  storageEndpoint                               STORAGE_EMULATOR_HOST
  datasetBucket                                 GEMINI_TUNING_DATASET_BUCKET
  geminiApiKey  (a secret)                      GEMINI_API_KEY, GOOGLE_API_KEY

``apiEndpoint: emulator`` reads the URLs that ``gemini-tuning emulator start`` wrote to
``$GEMINI_TUNING_EMULATOR_HOME/emulator.json`` (default ``./.state/emulator``; the provider
process runs in the project directory). Secrets live only in this process's memory: Settings
never reaches a pickled provider, state, or a log line (its repr hides the key).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

NAMESPACE = "gemini-tuning"
DEFAULT_LOCATION = "us-central1"
EMULATOR = "emulator"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


class SettingsError(ValueError):
    """A setting is missing or wrong; the message says which and how to set it."""


@dataclass(frozen=True)
class Settings:
    project: str
    location: str
    api_endpoint: str
    storage_endpoint: str | None = None
    dataset_bucket: str | None = None
    gemini_api_key: str | None = field(default=None, repr=False)
    gemini_api_endpoint: str = "https://generativelanguage.googleapis.com"

    @property
    def local(self) -> bool:
        """True when every endpoint is on loopback (the emulator): anonymous credentials."""
        return urlparse(self.api_endpoint).hostname in LOOPBACK_HOSTS

    @property
    def gemini_api_local(self) -> bool:
        """True when the Gemini API endpoint is on loopback (the emulator)."""
        return urlparse(self.gemini_api_endpoint).hostname in LOOPBACK_HOSTS

    def credentials(self) -> Any:
        if self.local:
            from google.auth.credentials import AnonymousCredentials

            return AnonymousCredentials()  # type: ignore[no-untyped-call]
        import google.auth

        credentials, _ = google.auth.default(
            scopes=["https://www.googleapis.com/auth/cloud-platform"]
        )
        return credentials


def emulator_home() -> Path:
    return Path(os.environ.get("GEMINI_TUNING_EMULATOR_HOME", ".state/emulator")).resolve()


def _emulator_urls() -> dict[str, str]:
    state = emulator_home() / "emulator.json"
    try:
        found: dict[str, str] = json.loads(state.read_text())
    except (OSError, ValueError) as err:
        raise SettingsError(
            f"apiEndpoint is 'emulator' but no running emulator was found ({state}: {err}); "
            "start it with `gemini-tuning emulator start` (make demo does this for you)"
        ) from err
    return found


def resolve(config: Mapping[str, Any] | Callable[[str], Any] | None = None) -> Settings:
    """Settings from stack config values (``get(key)`` without namespace) over the environment."""
    get = _getter(config)
    env = os.environ.get
    endpoint = get("apiEndpoint") or env("GEMINI_TUNING_API_ENDPOINT") or EMULATOR
    storage = get("storageEndpoint") or env("STORAGE_EMULATOR_HOST")
    gemini_endpoint = get("geminiApiEndpoint") or env("GEMINI_TUNING_GEMINI_API_ENDPOINT")
    if endpoint == EMULATOR:
        urls = _emulator_urls()
        endpoint = urls["url"]
        storage = storage or urls.get("gcs_host")
        gemini_endpoint = gemini_endpoint or urls["url"]
    elif "://" not in endpoint:
        endpoint = f"https://{endpoint}"
    project = get("project") or env("GEMINI_TUNING_PROJECT") or env("GOOGLE_CLOUD_PROJECT")
    if not project:
        if urlparse(endpoint).hostname not in LOOPBACK_HOSTS:
            raise SettingsError(
                "no Google Cloud project: set `pulumi config set gemini-tuning:project ID` "
                "or GOOGLE_CLOUD_PROJECT"
            )
        project = "local-project"
    return Settings(
        project=project,
        location=get("location") or env("GEMINI_TUNING_LOCATION") or DEFAULT_LOCATION,
        api_endpoint=endpoint.rstrip("/"),
        storage_endpoint=storage,
        dataset_bucket=get("datasetBucket") or env("GEMINI_TUNING_DATASET_BUCKET"),
        gemini_api_key=get("geminiApiKey") or env("GEMINI_API_KEY") or env("GOOGLE_API_KEY"),
        gemini_api_endpoint=(gemini_endpoint or Settings.gemini_api_endpoint).rstrip("/"),
    )


def _getter(config: Mapping[str, Any] | Callable[[str], Any] | None) -> Callable[[str], Any]:
    if config is None:
        return lambda _key: None
    if callable(config):
        return lambda key: config(f"{NAMESPACE}:{key}")
    return lambda key: config.get(f"{NAMESPACE}:{key}")
