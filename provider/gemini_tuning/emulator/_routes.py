"""The routes the emulator serves: Google's HTTP paths (projects/*/locations/*/...), the RPC each
one maps to, and the messages of its body and answer. The app (_app) dispatches on them and the
proto loader (_protos) loads exactly the message types they name; both import this table, neither
imports the other.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

MISSING_KEY = (
    "Method doesn't allow unregistered callers (callers without established identity). "
    "Please use API Key or other form of API consumer identity to call this API."
)
_P, _L = ("projects", "*"), ("locations", "*")
_LOC = (*_P, *_L)


OPERATION = "google.longrunning.Operation"
EMPTY = "google.protobuf.Empty"
GENERATE = ("GenerateContentRequest", "")


@dataclass(frozen=True)
class RouteSpec:
    """One Google route: HTTP method, path pattern ('*' captures a segment), custom verb, and
    the messages of its HTTP body (message, request field it fills; "" for body "*") and of its
    answer, in the API version's package (see _protos)."""

    http_method: str
    pattern: tuple[str, ...]
    verb: str | None
    rpc: str  # counted in /emulator/stats, e.g. "GenAiTuningService.CreateTuningJob"
    handler: str  # method name on the service
    reply: str
    body: tuple[str, str] | None = None
    versions: tuple[str, ...] = ("v1", "v1beta1")
    stream: bool = False
    service: str = "vertex"  # the Emulator attribute that holds the handler
    api_key: bool = False  # Gemini API: an API key (or a bearer token) must be present
    raw: bool = False  # the handler's dict is the JSON answer (APIs whose protos we don't load)


def vertex_routes() -> list[RouteSpec]:
    return [
        *_tuning_routes(),
        *_metrics_routes(),
        *_model_routes(),
        *_endpoint_routes(),
        *_operation_routes(),
    ]


def _metrics_routes() -> list[RouteSpec]:
    """Where a tuning job's loss is published: its experiment (see _metrics)."""
    contexts = (*_LOC, "metadataStores", "*", "contexts")
    series = (*_LOC, "tensorboards", "*", "experiments", "*", "runs", "*", "timeSeries")
    md, tb = "MetadataService", "TensorboardService"
    return [
        RouteSpec("GET", (*contexts, "*"), None, f"{md}.GetContext", "get_context", "Context"),
        RouteSpec(
            "GET", contexts, None, f"{md}.ListContexts", "list_contexts", "ListContextsResponse"
        ),
        RouteSpec(
            "GET",
            series,
            None,
            f"{tb}.ListTensorboardTimeSeries",
            "list_time_series",
            "ListTensorboardTimeSeriesResponse",
        ),
        RouteSpec(
            "GET",
            (*series, "*"),
            "read",
            f"{tb}.ReadTensorboardTimeSeriesData",
            "read_time_series",
            "ReadTensorboardTimeSeriesDataResponse",
        ),
    ]


def _tuning_routes() -> list[RouteSpec]:
    jobs, svc = (*_LOC, "tuningJobs"), "GenAiTuningService"
    return [
        RouteSpec(
            "POST",
            jobs,
            None,
            f"{svc}.CreateTuningJob",
            "create_tuning_job",
            "TuningJob",
            ("TuningJob", "tuning_job"),
        ),
        RouteSpec(
            "GET", jobs, None, f"{svc}.ListTuningJobs", "list_tuning_jobs", "ListTuningJobsResponse"
        ),
        RouteSpec("GET", (*jobs, "*"), None, f"{svc}.GetTuningJob", "get_tuning_job", "TuningJob"),
        RouteSpec(
            "POST",
            (*jobs, "*"),
            "cancel",
            f"{svc}.CancelTuningJob",
            "cancel_tuning_job",
            EMPTY,
            ("CancelTuningJobRequest", ""),
        ),
    ]


def _model_routes() -> list[RouteSpec]:
    models, ms, ps = (*_LOC, "models"), "ModelService", "PredictionService"
    one = (*models, "*")
    return [
        RouteSpec("GET", models, None, f"{ms}.ListModels", "list_models", "ListModelsResponse"),
        RouteSpec("GET", one, None, f"{ms}.GetModel", "get_model", "Model"),
        RouteSpec(
            "PATCH", one, None, f"{ms}.UpdateModel", "update_model", "Model", ("Model", "model")
        ),
        RouteSpec("DELETE", one, None, f"{ms}.DeleteModel", "delete_model", OPERATION),
        RouteSpec(
            "DELETE",
            one,
            "deleteVersion",
            f"{ms}.DeleteModelVersion",
            "delete_model_version",
            OPERATION,
        ),
        RouteSpec(
            "GET",
            one,
            "listVersions",
            f"{ms}.ListModelVersions",
            "list_model_versions",
            "ListModelVersionsResponse",
        ),
        RouteSpec(
            "POST",
            one,
            "mergeVersionAliases",
            f"{ms}.MergeVersionAliases",
            "merge_version_aliases",
            "Model",
            ("MergeVersionAliasesRequest", ""),
        ),
        RouteSpec(
            "POST",
            one,
            "generateContent",
            f"{ps}.GenerateContent",
            "generate_model_path",
            "GenerateContentResponse",
            GENERATE,
        ),
    ]


def _endpoint_routes() -> list[RouteSpec]:
    eps, es, ps = (*_LOC, "endpoints"), "EndpointService", "PredictionService"
    one, publisher = (*eps, "*"), (*_LOC, "publishers", "*", "models", "*")
    reply = "GenerateContentResponse"
    routes = [
        RouteSpec(
            "GET", eps, None, f"{es}.ListEndpoints", "list_endpoints", "ListEndpointsResponse"
        ),
        RouteSpec("GET", one, None, f"{es}.GetEndpoint", "get_endpoint", "Endpoint"),
        RouteSpec("DELETE", one, None, f"{es}.DeleteEndpoint", "delete_endpoint", OPERATION),
        RouteSpec(
            "POST",
            one,
            "undeployModel",
            f"{es}.UndeployModel",
            "undeploy_model",
            OPERATION,
            ("UndeployModelRequest", ""),
        ),
    ]
    for pattern, handler in ((one, "generate_endpoint"), (publisher, "generate_publisher")):
        routes += [
            RouteSpec(
                "POST",
                pattern,
                "generateContent",
                f"{ps}.GenerateContent",
                handler,
                reply,
                GENERATE,
            ),
            RouteSpec(
                "POST",
                pattern,
                "streamGenerateContent",
                f"{ps}.StreamGenerateContent",
                handler,
                reply,
                GENERATE,
                stream=True,
            ),
        ]
    return routes


def _operation_routes() -> list[RouteSpec]:
    versions = ("v1", "v1beta1", "ui")
    listed = "google.longrunning.ListOperationsResponse"
    routes = []
    for prefix in ((*_LOC,), (*_LOC, "*", "*")):
        ops = (*prefix, "operations")
        one = (*ops, "*")
        routes += [
            RouteSpec("GET", one, None, "Operations.GetOperation", "get_operation", OPERATION),
            RouteSpec("GET", ops, None, "Operations.ListOperations", "list_operations", listed),
            RouteSpec("DELETE", one, None, "Operations.DeleteOperation", "delete_operation", EMPTY),
            RouteSpec(
                "POST", one, "cancel", "Operations.CancelOperation", "cancel_operation", EMPTY
            ),
            RouteSpec("POST", one, "wait", "Operations.WaitOperation", "wait_operation", OPERATION),
        ]
    return [dataclasses.replace(r, versions=versions) for r in routes]


def gemini_api_routes() -> list[RouteSpec]:
    """The Gemini API tunedModels surface (v1beta; operations also under v1, as the tutorial
    polls them there)."""
    models, ms, gs = ("tunedModels",), "ModelService", "GenerativeService"
    one, ops = (*models, "*"), (*models, "*", "operations")
    tuned, generate = ("TunedModel", "tuned_model"), "GenerateContentResponse"
    table: list[tuple[str, tuple[str, ...], str | None, str, str, str, tuple[str, str] | None]] = [
        ("POST", models, None, f"{ms}.CreateTunedModel", "create_tuned_model", OPERATION, tuned),
        ("GET", models, None, f"{ms}.ListTunedModels", "list_tuned_models",
         "ListTunedModelsResponse", None),
        ("GET", one, None, f"{ms}.GetTunedModel", "get_tuned_model", "TunedModel", None),
        ("PATCH", one, None, f"{ms}.UpdateTunedModel", "update_tuned_model", "TunedModel", tuned),
        ("DELETE", one, None, f"{ms}.DeleteTunedModel", "delete_tuned_model", EMPTY, None),
        ("POST", one, "generateContent", f"{gs}.GenerateContent", "generate_content", generate,
         GENERATE),
        ("POST", one, "streamGenerateContent", f"{gs}.StreamGenerateContent", "generate_content",
         generate, GENERATE),
        ("POST", one, "countTokens", f"{gs}.CountTokens", "count_tokens", "CountTokensResponse",
         ("CountTokensRequest", "")),
        ("GET", (*ops, "*"), None, "Operations.GetOperation", "get_operation", OPERATION, None),
        ("GET", ops, None, "Operations.ListOperations", "list_operations",
         "google.longrunning.ListOperationsResponse", None),
    ]  # fmt: skip
    return [
        RouteSpec(
            method,
            pattern,
            verb,
            rpc,
            handler,
            reply,
            body,
            versions=("v1", "v1beta") if rpc.startswith("Operations.") else ("v1beta",),
            stream=verb == "streamGenerateContent",
            service="gemini_api",
            api_key=True,
        )
        for method, pattern, verb, rpc, handler, reply, body in table
    ]


def preflight_routes() -> list[RouteSpec]:
    """What `gemini-tuning preflight` reads: Resource Manager v3, Service Usage v1, Cloud
    Quotas v1 (see _preflight.py)."""
    quotas = ("projects", "*", "locations", "*", "services", "*", "quotaInfos")
    table = [
        ("GET", ("projects", "*"), None, "Projects.GetProject", "get_project", ("v3",)),
        ("POST", ("projects", "*"), "testIamPermissions", "Projects.TestIamPermissions",
         "test_iam_permissions", ("v3",)),
        ("GET", ("*", "*", "services", "*"), None, "ServiceUsage.GetService", "get_service",
         ("v1",)),
        ("GET", quotas, None, "CloudQuotas.ListQuotaInfos", "list_quota_infos", ("v1",)),
        ("GET", (*quotas, "*"), None, "CloudQuotas.GetQuotaInfo", "get_quota_info", ("v1",)),
    ]  # fmt: skip
    return [
        RouteSpec(method, pattern, verb, rpc, handler, "", None, versions=versions,
                  service="preflight", raw=True)
        for method, pattern, verb, rpc, handler, versions in table
    ]  # fmt: skip


def has_api_key(headers: Any, query: dict[str, str]) -> bool:
    """An API key in `x-goog-api-key` or `?key=`, or an OAuth bearer token. Never logged."""
    bearer = str(headers.get("authorization") or "").lower().startswith("bearer ")
    return bool(headers.get("x-goog-api-key") or query.get("key") or bearer)


def split_path(raw_path: str) -> tuple[list[str], str | None]:
    """URL-decoded segments, and the custom verb split off the last one."""
    segments = [unquote(s) for s in raw_path.strip("/").split("/") if s]
    verb = None
    if segments and ":" in segments[-1]:
        segments[-1], verb = segments[-1].split(":", 1)
    return segments, verb


def match(
    routes: list[RouteSpec], method: str, version: str, segments: list[str], verb: str | None
) -> tuple[RouteSpec, list[str]] | bool | None:
    """(route, captured params); None if nothing matches; False if only the method differs."""
    path_seen = False
    for route in routes:
        if version not in route.versions or route.verb != verb:
            continue
        if len(route.pattern) != len(segments):
            continue
        params: list[str] = []
        for pat, seg in zip(route.pattern, segments, strict=True):
            if pat == "*":
                if not seg:
                    break
                params.append(seg)
            elif pat != seg:
                break
        else:
            path_seen = True
            if route.http_method == method:
                return route, params
    return False if path_seen else None
