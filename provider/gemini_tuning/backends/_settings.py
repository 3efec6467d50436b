"""Where the provider's settings come from: stack config (through configure()) or the environment.

Stack config (namespace ``gemini-tuning``)     Environment fallback
  project                                       GEMINI_TUNING_PROJECT, GOOGLE_CLOUD_PROJECT
  location  (a region, us, eu or global)        GEMINI_TUNING_LOCATION (default us-central1)
  apiEndpoint   (``emulator`` = the local one)  GEMINI_TUNING_API_ENDPOINT
  storageEndpoint                               STORAGE_EMULATOR_HOST
  datasetBucket                                 GEMINI_TUNING_DATASET_BUCKET
  geminiApiKey  (a secret)                      GEMINI_API_KEY, GOOGLE_API_KEY
  requestTimeoutSeconds (default 60)            GEMINI_TUNING_REQUEST_TIMEOUT_SECONDS
  operationTimeoutSeconds (default 600)         GEMINI_TUNING_OPERATION_TIMEOUT_SECONDS
  maxConcurrentJobs (default: no bound)         (tuning jobs submitted and waited for at
                                                once per project, all its locations, one process)

Not a setting of the stack: ``GEMINI_TUNING_RECORD=DIR`` records every Vertex request and answer
of the process, redacted, into DIR (gemini_tuning/_recording.py, tests/recorded/README.md).

Without ``apiEndpoint``: a stack with a ``project`` talks to Vertex AI, each call at the host of
the location in the name of the resource it acts on (_locations.service_host: ``{region}-aiplatform
.googleapis.com``, ``aiplatform.{us,eu}.rep.googleapis.com``, ``aiplatform.googleapis.com`` for
``global``); one without a project, to the emulator. An ``apiEndpoint`` that is not on loopback
is the user's override: every call goes there. A loopback one (the emulator) gets the host the
real service would be asked appended as a path, ``{url}/_host/{host}``: the emulator strips it
and refuses a host that does not serve the location in the path (docs/guides/emulator.md).
``apiEndpoint: emulator`` reads the URLs that ``gemini-tuning emulator start`` wrote to
``$GEMINI_TUNING_EMULATOR_HOME/emulator.json`` (default ``./.state/emulator``; the provider
process runs in the project directory), and without ``datasetBucket`` uses the bucket it names
(the one the emulator created at start, ``gemini-tuning-dev`` unless ``--bucket`` said otherwise).

Endpoint safety, checked here, before any credential is fetched: a plain ``http://`` endpoint
(Vertex, Gemini API or storage) must be on loopback (127.0.0.0/8, ::1, localhost): anywhere else
Application Default Credentials or the API key would travel in clear text. The URLs read from
``emulator.json`` must be on loopback whatever their scheme (the emulator never listens
anywhere else, so anything else is a foreign or tampered file). Loopback endpoints get
anonymous credentials. Secrets live only in this process's memory: Settings never reaches a
pickled provider, state, or a log line (its repr hides the key).
"""

from __future__ import annotations

import ipaddress
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlparse

from gemini_tuning._locations import service_host

NAMESPACE = "gemini-tuning"
DEFAULT_LOCATION = "us-central1"
EMULATOR = "emulator"
DEFAULT_REQUEST_TIMEOUT = 60.0
DEFAULT_OPERATION_TIMEOUT = 600.0
EMULATOR_HOST_PREFIX = "/_host/"
EndpointMode = Literal["google", "override", "emulator"]


def is_loopback(url: str) -> bool:
    """True when ``url``'s host is this machine (127.0.0.0/8, ::1 or localhost)."""
    host = urlparse(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


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
    request_timeout_seconds: float = DEFAULT_REQUEST_TIMEOUT  # each attempt of each call
    operation_timeout_seconds: float = DEFAULT_OPERATION_TIMEOUT  # waiting for an LRO
    max_concurrent_jobs: int | None = None  # per project (all locations), in one process
    # "google": each call at the host of its resource's location; "override": every call at
    # api_endpoint; "emulator": api_endpoint + /_host/{the host Google would be asked}
    endpoint_mode: EndpointMode = "override"

    def endpoint_for(self, location: str) -> str:
        """The api_endpoint a client for resources in ``location`` uses."""
        if self.endpoint_mode == "google":
            return f"https://{service_host(location)}"
        if self.endpoint_mode == "emulator":
            return f"{self.api_endpoint}{EMULATOR_HOST_PREFIX}{service_host(location)}"
        return self.api_endpoint

    @property
    def local(self) -> bool:
        """True when the Vertex endpoint is on loopback (the emulator): anonymous credentials."""
        return is_loopback(self.api_endpoint)

    @property
    def gemini_api_local(self) -> bool:
        """True when the Gemini API endpoint is on loopback (the emulator)."""
        return is_loopback(self.gemini_api_endpoint)

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
            "start it with `gemini-tuning emulator start` (in gemini-tuning's own repository, "
            "`make demo` does it)"
        ) from err
    for key in ("url", "gcs_host"):
        url = str(found.get(key) or "")
        if (key == "url" or url) and not is_loopback(url):
            raise SettingsError(
                f"{state} names {key} {url!r}, which is not on loopback: the emulator only "
                "listens on 127.0.0.1, so this file is not one it wrote; refusing to send "
                "requests there (delete the file and run `gemini-tuning emulator start`)"
            )
    return found


def check_endpoint(url: str, what: str) -> str:
    """``url`` if it is safe to send credentials to, else SettingsError saying why."""
    scheme = urlparse(url).scheme
    if scheme not in ("http", "https"):
        raise SettingsError(f"{what} {url!r} must be an https:// URL (or a host name)")
    if scheme == "http" and not is_loopback(url):
        raise SettingsError(
            f"{what} {url!r} is plain http:// to a host that is not loopback: credentials would "
            "travel in clear text. Use https://, or the emulator on 127.0.0.1"
        )
    return url.rstrip("/")


def _with_scheme(endpoint: str) -> str:
    return endpoint if "://" in endpoint else f"https://{endpoint}"


def resolve(config: Mapping[str, Any] | Callable[[str], Any] | None = None) -> Settings:
    """Settings from stack config values (``get(key)`` without namespace) over the environment.
    Raises SettingsError for a missing or unsafe setting, before any credential is fetched."""
    get = _getter(config)
    env = os.environ.get
    project = get("project") or env("GEMINI_TUNING_PROJECT") or env("GOOGLE_CLOUD_PROJECT")
    location = configured_location(get)
    endpoint = get("apiEndpoint") or env("GEMINI_TUNING_API_ENDPOINT")
    mode: EndpointMode = "override"
    if not endpoint:
        if project:
            endpoint, mode = service_host(_known_location(location)), "google"
        else:
            endpoint = EMULATOR
    storage = get("storageEndpoint") or env("STORAGE_EMULATOR_HOST")
    gemini_endpoint = get("geminiApiEndpoint") or env("GEMINI_TUNING_GEMINI_API_ENDPOINT")
    bucket = get("datasetBucket") or env("GEMINI_TUNING_DATASET_BUCKET")
    if endpoint == EMULATOR:
        urls = _emulator_urls()
        endpoint = urls["url"]
        storage = storage or urls.get("gcs_host")
        gemini_endpoint = gemini_endpoint or urls["url"]
        bucket = bucket or urls.get("bucket")  # the bucket the emulator created at start
    endpoint = check_endpoint(_with_scheme(endpoint), "apiEndpoint")
    if storage:
        storage = check_endpoint(_with_scheme(storage), "storageEndpoint")
    gemini_endpoint = check_endpoint(
        _with_scheme(gemini_endpoint or Settings.gemini_api_endpoint), "geminiApiEndpoint"
    )
    if not project:
        if not is_loopback(endpoint):
            raise SettingsError(
                "no Google Cloud project: set `pulumi config set gemini-tuning:project ID` "
                "or GOOGLE_CLOUD_PROJECT"
            )
        project = "local-project"
    if mode == "override" and is_loopback(endpoint):
        mode = "emulator"
        _known_location(location)
    return Settings(
        project=project,
        location=location,
        api_endpoint=endpoint,
        storage_endpoint=storage,
        dataset_bucket=bucket,
        gemini_api_key=get("geminiApiKey") or env("GEMINI_API_KEY") or env("GOOGLE_API_KEY"),
        gemini_api_endpoint=gemini_endpoint,
        request_timeout_seconds=_seconds(get, "requestTimeoutSeconds", DEFAULT_REQUEST_TIMEOUT),
        operation_timeout_seconds=_seconds(
            get, "operationTimeoutSeconds", DEFAULT_OPERATION_TIMEOUT
        ),
        max_concurrent_jobs=_count(get("maxConcurrentJobs")),
        endpoint_mode=mode,
    )


def configured_location(get: Callable[[str], Any]) -> str:
    """The stack's location: ``get("location")`` (a key without namespace), then
    GEMINI_TUNING_LOCATION, then us-central1."""
    return str(get("location") or os.environ.get("GEMINI_TUNING_LOCATION") or DEFAULT_LOCATION)


def _known_location(location: str) -> str:
    try:
        service_host(location)
    except ValueError as err:
        raise SettingsError(f"gemini-tuning:location: {err}") from err
    return location


def _count(raw: Any) -> int | None:
    if raw in (None, ""):
        return None
    try:
        value = int(raw)
    except (TypeError, ValueError):
        value = 0
    if value < 1 or str(raw).strip() != str(value):
        raise SettingsError(
            f"gemini-tuning:maxConcurrentJobs must be a whole number >= 1, got {raw!r}"
        )
    return value


def _seconds(get: Callable[[str], Any], key: str, default: float) -> float:
    env_key = "GEMINI_TUNING_" + "".join(f"_{c}" if c.isupper() else c.upper() for c in key)
    raw = get(key) or os.environ.get(env_key)
    if raw in (None, ""):
        return default
    try:
        value = float(raw)
    except (TypeError, ValueError):
        value = -1.0
    if value <= 0:
        raise SettingsError(f"gemini-tuning:{key} must be a number of seconds > 0, got {raw!r}")
    return value


def _getter(config: Mapping[str, Any] | Callable[[str], Any] | None) -> Callable[[str], Any]:
    if config is None:
        return lambda _key: None
    if callable(config):
        return lambda key: config(f"{NAMESPACE}:{key}")
    return lambda key: config.get(f"{NAMESPACE}:{key}")
