"""Read-only questions about a project, for `gemini-tuning preflight` (``_preflight.py``): is the
project there, is an API enabled, which permissions does the caller hold, where is a bucket and
who may read it, what is a quota. Each answer is a plain value; a refusal is a
``ProjectReadError`` carrying the service's code and words, so the checks hold no Google type.

The clients are the official ones over REST at the services' global hosts (the emulator: all at
its one endpoint): Resource Manager v3, Service Usage v1, Cloud Quotas v1 (the ``preflight``
extra) and Cloud Storage. Nothing here writes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from gemini_tuning.backends._settings import Settings
from gemini_tuning.backends._storage import storage_client
from gemini_tuning.backends._types import BackendError

# The client libraries preflight needs beyond the provider's own, by module: the `preflight`
# extra of the package installs them.
CLIENTS = {
    "google.cloud.resourcemanager_v3": "google-cloud-resource-manager",
    "google.cloud.service_usage_v1": "google-cloud-service-usage",
    "google.cloud.cloudquotas_v1": "google-cloud-quotas",
}


class ProjectReadError(BackendError):
    """A read was refused or failed; ``str()`` is the service's code and message."""


class CredentialsMissingError(BackendError):
    """No Application Default Credentials; ``str()`` is google.auth's first line."""


@dataclass(frozen=True)
class BucketFacts:
    name: str
    location: str
    data_locations: tuple[str, ...]


@dataclass(frozen=True)
class QuotaFacts:
    """One QuotaInfo (cloudquotas v1): its identity and the value per set of dimensions."""

    quota_id: str
    metric: str
    display_name: str
    is_concurrent: bool
    values: tuple[tuple[dict[str, str], int], ...]


def missing_clients() -> list[str]:
    """The packages of CLIENTS that are not installed."""
    import importlib.util

    def absent(module: str) -> bool:
        try:
            return importlib.util.find_spec(module) is None
        except ModuleNotFoundError:
            return True

    return [package for module, package in CLIENTS.items() if absent(module)]


@contextlib.contextmanager
def _reading() -> Iterator[None]:
    from google.api_core import exceptions

    try:
        yield
    except exceptions.GoogleAPICallError as err:
        message = getattr(err, "message", None) or str(err)
        code = getattr(err, "code", None)
        raise ProjectReadError(
            f"{code} {message}".strip() if code is not None else message
        ) from err


class ProjectReader:
    """The reads of one preflight, with the stack's settings and credentials."""

    def __init__(self, settings: Settings) -> None:
        from google.auth.exceptions import DefaultCredentialsError

        self.settings = settings
        try:
            self._credentials = settings.credentials()
        except DefaultCredentialsError as err:
            raise CredentialsMissingError(str(err).splitlines()[0]) from err
        self._storage: Any = None

    @property
    def caller_email(self) -> str | None:
        """The service account the credentials carry, or None (a user's credentials)."""
        email = getattr(self._credentials, "service_account_email", None)
        return email if isinstance(email, str) and "@" in email else None

    def _options(self, host: str) -> dict[str, str]:
        return {"api_endpoint": self.settings.api_endpoint if self.settings.local else host}

    def _client(self, module: str, cls: str, host: str) -> Any:
        import importlib

        client_class = getattr(importlib.import_module(module), cls)
        return client_class(
            transport="rest", credentials=self._credentials, client_options=self._options(host)
        )

    def _projects(self) -> Any:
        return self._client(
            "google.cloud.resourcemanager_v3",
            "ProjectsClient",
            "cloudresourcemanager.googleapis.com",
        )

    def _storage_client(self) -> Any:
        if self._storage is None:
            self._storage = storage_client(self.settings)
        return self._storage

    def _bucket(self, name: str) -> Any:
        return self._storage_client().bucket(name)

    def project_number(self, project: str) -> str:
        # v3 names a project by number in its example; the ID is taken too [I: docs silent]
        with _reading():
            found = self._projects().get_project(name=f"projects/{project}")
        return str(found.name).rsplit("/", 1)[-1]

    def service_state(self, project_number: str, service: str) -> str:
        """ "ENABLED", "DISABLED" or "STATE_UNSPECIFIED" (Service Usage services.get)."""
        usage = self._client(
            "google.cloud.service_usage_v1", "ServiceUsageClient", "serviceusage.googleapis.com"
        )
        with _reading():
            found = usage.get_service(
                request={"name": f"projects/{project_number}/services/{service}"}
            )
        return str(getattr(found.state, "name", found.state))

    def granted_permissions(self, project: str, wanted: Sequence[str]) -> set[str]:
        with _reading():
            answer = self._projects().test_iam_permissions(
                resource=f"projects/{project}", permissions=list(wanted)
            )
        return set(answer.permissions)

    def bucket(self, name: str) -> BucketFacts:
        with _reading():
            found = self._storage_client().get_bucket(name)
        return BucketFacts(
            name=name,
            location=str(found.location or ""),
            data_locations=tuple(found.data_locations or ()),
        )

    def granted_bucket_permissions(self, bucket: str, wanted: Sequence[str]) -> set[str]:
        with _reading():
            return set(self._bucket(bucket).test_iam_permissions(list(wanted)))

    def bucket_policy(self, bucket: str) -> dict[str, Any]:
        """The bucket's IAM policy (version 3) as the JSON API spells it."""
        with _reading():
            policy = self._bucket(bucket).get_iam_policy(requested_policy_version=3)
        return dict(policy.to_api_repr())

    def quotas(self, project: str, service: str) -> list[QuotaFacts]:
        """The QuotaInfos of ``service`` in ``project`` (Cloud Quotas quotaInfos.list)."""
        client = self._client(
            "google.cloud.cloudquotas_v1", "CloudQuotasClient", "cloudquotas.googleapis.com"
        )
        parent = f"projects/{project}/locations/global/services/{service}"
        with _reading():
            infos = list(client.list_quota_infos(parent=parent))
        return [
            QuotaFacts(
                quota_id=str(info.quota_id),
                metric=str(info.metric),
                display_name=str(info.quota_display_name),
                is_concurrent=bool(info.is_concurrent),
                values=tuple(
                    (dict(dims.dimensions), int(dims.details.value))
                    for dims in info.dimensions_infos
                ),
            )
            for info in infos
        ]
