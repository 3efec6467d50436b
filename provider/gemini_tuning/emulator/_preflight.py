"""What `gemini-tuning preflight` reads, served as Google serves it (JSON over REST):

- Resource Manager v3 ``GET /v3/projects/{project}`` (a Project: ``name`` is
  ``projects/{number}``) and ``POST /v3/projects/{project}:testIamPermissions`` (the subset of
  the asked permissions the caller holds; https://cloud.google.com/resource-manager/reference/rest/v3/projects/testIamPermissions).
  The emulator holds every permission except ``denied_permissions``.
- Service Usage v1 ``GET /v1/{projects/P}/services/{service}`` (a Service with ``state``
  ENABLED or DISABLED; https://cloud.google.com/service-usage/docs/reference/rest/v1/services/get).
  Every service is enabled except ``disabled_services``.
- Cloud Quotas v1 ``GET /v1/projects/P/locations/global/services/{service}/quotaInfos`` and
  ``.../quotaInfos/{id}`` (QuotaInfo; https://cloud.google.com/docs/quotas/reference/rest/v1/projects.locations.services.quotaInfos/list).
  For aiplatform.googleapis.com it lists one concurrent quota about tuning jobs whose value is
  ``max_running_jobs`` (the same limit the emulator enforces on create), and none while that is
  unset (the emulator enforces none). Google documents no ID for that quota; the emulator's ID
  ``GenAiTuningConcurrentJobsPerProject`` is its own [I].

Only the fields preflight reads and their neighbours are written; every name is the proto's
JSON name.
"""

from __future__ import annotations

from typing import Any

from gemini_tuning.emulator._config import EmulatorConfig, project_number
from gemini_tuning.emulator._errors import ApiError
from gemini_tuning.emulator._vertex import QUOTA_METRIC, Call

VERTEX_API = "aiplatform.googleapis.com"
TUNING_QUOTA_ID = "GenAiTuningConcurrentJobsPerProject"  # [I] see the module docstring


class PreflightService:
    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config

    def _require(self, permission: str, resource: str) -> None:
        """403 when ``denied_permissions`` holds what the method needs (its REST reference
        names it). Google's wording for Resource Manager (as its errors are quoted in public
        issues); the same for the others [I]."""
        if permission in self.config.denied_permissions:
            raise ApiError(
                "PERMISSION_DENIED",
                f"Permission '{permission}' denied on resource '{resource}' (or it may not exist).",
            )

    def get_project(self, call: Call) -> dict[str, Any]:
        project = call.params[0]
        self._require(
            "resourcemanager.projects.get",
            f"//cloudresourcemanager.googleapis.com/projects/{project}",
        )
        number = project_number(project)
        return {
            "name": f"projects/{number}",
            "projectId": project if not project.isdigit() else f"project-{number}",
            "state": "ACTIVE",
            "displayName": project,
        }

    def test_iam_permissions(self, call: Call) -> dict[str, Any]:
        asked = call.body.get("permissions") or []
        if not isinstance(asked, list):
            raise ApiError("INVALID_ARGUMENT", "permissions must be a list of strings.")
        denied = set(self.config.denied_permissions)
        held = [str(p) for p in asked if str(p) not in denied]
        return {"permissions": held} if held else {}

    def get_service(self, call: Call) -> dict[str, Any]:
        kind, parent, service = call.params
        self._require("serviceusage.services.get", f"//serviceusage.googleapis.com/{kind}/{parent}")
        if kind != "projects":
            raise ApiError("NOT_FOUND", f"{kind}/{parent} is not an emulated consumer.")
        number = project_number(parent)
        disabled = service in self.config.disabled_services
        return {
            "name": f"projects/{number}/services/{service}",
            "parent": f"projects/{number}",
            "config": {"name": service},
            "state": "DISABLED" if disabled else "ENABLED",
        }

    def list_quota_infos(self, call: Call) -> dict[str, Any]:
        project, location, service = call.params
        infos = self._infos(project, location, service)
        return {"quotaInfos": infos} if infos else {}

    def get_quota_info(self, call: Call) -> dict[str, Any]:
        project, location, service, quota_id = call.params
        for info in self._infos(project, location, service):
            if info["quotaId"] == quota_id:
                return info
        raise ApiError("NOT_FOUND", f"QuotaInfo {quota_id} of {service} was not found.")

    def _infos(self, project: str, location: str, service: str) -> list[dict[str, Any]]:
        self._require(
            "cloudquotas.quotas.get",
            f"//cloudquotas.googleapis.com/projects/{project}/locations/{location}/services/"
            f"{service}",
        )
        if location != "global":
            raise ApiError("INVALID_ARGUMENT", "The location of a QuotaInfo must be global.")
        limit = self.config.max_running_jobs
        if service != VERTEX_API or limit is None:
            return []
        return [
            {
                "name": f"projects/{project_number(project)}/locations/global/services/"
                f"{service}/quotaInfos/{TUNING_QUOTA_ID}",
                "quotaId": TUNING_QUOTA_ID,
                "metric": QUOTA_METRIC,  # the metric the 429 on create names
                "service": service,
                "isPrecise": True,
                "containerType": "PROJECT",
                "dimensions": [],
                "quotaDisplayName": "Concurrent tuning jobs per project",
                "metricDisplayName": "Concurrent tuning jobs",
                "isFixed": False,
                "isConcurrent": True,
                "dimensionsInfos": [
                    {
                        "dimensions": {},
                        "details": {"value": str(limit)},
                        "applicableLocations": ["global"],
                    }
                ],
            }
        ]
