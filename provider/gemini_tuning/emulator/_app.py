"""The HTTP app: Google-style routing (versions, custom verbs, URL-decoded segments), fault
injection, per-method request counts, and the admin surface under /emulator (never a Google
path)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from gemini_tuning.backends._hosts import UnknownLocationError, service_host
from gemini_tuning.emulator import _protos
from gemini_tuning.emulator._config import EmulatorConfig
from gemini_tuning.emulator._errors import STATUS_BY_HTTP, ApiError, error_body
from gemini_tuning.emulator._faults import FaultRules
from gemini_tuning.emulator._gemini_api import GeminiApiService
from gemini_tuning.emulator._preflight import PreflightService
from gemini_tuning.emulator._store import Store
from gemini_tuning.emulator._vertex import Call, VertexService
from gemini_tuning.emulator._wire import wants_int_enums

log = logging.getLogger("gemini_tuning.emulator")

Handler = Callable[[Call], Any]
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


class Emulator:
    """The running emulator's state: store, settings, services, counters."""

    def __init__(self, state_dir: Path, config: EmulatorConfig, gcs_host: str = "") -> None:
        state_dir.mkdir(parents=True, exist_ok=True)
        self.state_dir = state_dir
        self.config = config
        self.gcs_host = gcs_host
        self.url = ""
        self.store = Store(state_dir / "emulator.sqlite3")
        self.vertex = VertexService(self.store, config, lambda: self.gcs_host)
        self.gemini_api = GeminiApiService(self.store, config)
        self.preflight = PreflightService(config)
        self.routes = vertex_routes() + gemini_api_routes() + preflight_routes()
        self.counts: Counter[str] = Counter()
        self.hosts: Counter[str] = Counter()  # "host rpc" of each request sent via /_host/
        self.faults: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._rng = random.Random(config.seed)
        self.fault_rules = FaultRules(config)
        self.on_reset_gcs: Callable[[], None] | None = None

    def start(self) -> None:
        _protos.protos()  # the message types, loaded before the first request needs them
        self.vertex.trainer.start()

    def stop(self) -> None:
        self.vertex.trainer.stop()
        self.store.close()

    def count(self, rpc: str) -> None:
        with self._lock:
            self.counts[rpc] += 1

    def stats(self) -> dict[str, Any]:
        with self._lock:
            counts = dict(sorted(self.counts.items()))
            faults = dict(sorted(self.faults.items()))
            hosts = dict(sorted(self.hosts.items()))
        return {
            "requests": counts,
            "total": sum(counts.values()),
            "hosts": hosts,
            "faults": faults,
            "resources": self.store.counts(),
        }

    def reset_stats(self) -> None:
        with self._lock:
            self.counts.clear()
            self.hosts.clear()
            self.faults.clear()

    def check_host(self, host: str | None, route: RouteSpec, params: list[str]) -> None:
        """A request sent as the provider sends it, ``/_host/{host}/v1/...``: the host the real
        service would have been asked must be the one that serves the location in the path
        (backends/_hosts.py cites the hosts). Google documents no answer for a request at the
        wrong host; a clear 400 INVALID_ARGUMENT is ours [I]. Requests without the prefix
        (other clients) are not checked."""
        if host is None:
            return
        with self._lock:
            self.hosts[f"{host} {route.rpc}"] += 1
        if route.service != "vertex" or route.pattern[:3] != ("projects", "*", "locations"):
            return
        location = params[1]
        try:
            expected = service_host(location)
        except UnknownLocationError as exc:
            raise ApiError("INVALID_ARGUMENT", str(exc)) from exc
        if host != expected:
            raise ApiError(
                "INVALID_ARGUMENT",
                f"Location {location} is not served by {host}: send requests for resources in "
                f"{location} to {expected}.",
            )

    def pick_fault(self, rpc: str, when: str = "before") -> str | None:
        """The fault to answer with ("503", "timeout", "drop", ...), or None for the real one."""
        code = self._legacy_fault(rpc) if when == "before" else None
        answer = str(code) if code is not None else self.fault_rules.pick(rpc, when)
        if answer is not None:
            with self._lock:
                self.faults[f"{rpc}:{answer}" + (":after" if when == "after" else "")] += 1
        return answer

    def _legacy_fault(self, rpc: str) -> int | None:
        """rate_429, rate_503 and fail_next (with fault_methods): before the handler."""
        cfg = self.config
        if cfg.fault_methods and not any(m in rpc for m in cfg.fault_methods):
            return None
        code = cfg.take_next_failure()
        if code is None:
            with self._lock:
                roll = self._rng.random()
            if roll < cfg.rate_429:
                code = 429
            elif roll < cfg.rate_429 + cfg.rate_503:
                code = 503
        return code


def _json(payload: Any, status: int = 200) -> Response:
    return Response(
        json.dumps(payload, separators=(",", ":")),
        status_code=status,
        media_type="application/json; charset=UTF-8",
    )


def _error(exc: ApiError) -> Response:
    return _json(exc.body(), exc.http_code)


def _fault_response(code: int) -> Response:
    status = STATUS_BY_HTTP.get(code, "UNAVAILABLE")
    message = {
        429: "Quota exceeded (injected by the gemini-tuning emulator).",
        503: "The service is currently unavailable (injected by the gemini-tuning emulator).",
        504: "Deadline expired before operation could complete (injected by the gemini-tuning "
        "emulator).",
    }.get(code, f"Injected failure {code} (gemini-tuning emulator).")
    return _json(error_body(code, status, message), code)


class _Dropped(Response):
    """No answer at all: the connection is closed under the client (a reset, a lost proxy).

    uvicorn's send callable carries the connection's transport; without it (another server),
    the response is cut off after its headers, which the client sees as a broken connection."""

    def __init__(self) -> None:
        super().__init__(status_code=200)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        abort = scope.get("gemini_tuning.abort")
        if abort is not None:
            abort()
            await asyncio.sleep(0.01)  # let the server see the connection go before it answers
            return
        headers = [(b"content-type", b"application/json"), (b"content-length", b"1000")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"{", "more_body": True})


async def _faulted(emu: Emulator, answer: str) -> Response:
    if answer == "drop":
        return _Dropped()
    if answer == "timeout":
        await asyncio.sleep(emu.config.hang_seconds)
        return _fault_response(504)
    return _fault_response(int(answer))


def with_abort(app: Any) -> Any:
    """The ASGI app, with a way to drop the current connection in its scope."""

    async def outer(scope: Any, receive: Any, send: Any) -> None:
        transport = getattr(getattr(send, "__self__", None), "transport", None)
        if scope.get("type") == "http" and transport is not None:
            scope["gemini_tuning.abort"] = transport.abort
        await app(scope, receive, send)

    return outer


HOST_PREFIX = "/_host/"


def split_host(path: str) -> tuple[str | None, str]:
    """(the host named by a ``/_host/{host}`` prefix or None, the path without it)."""
    if not path.startswith(HOST_PREFIX):
        return None, path
    host, _, rest = path[len(HOST_PREFIX) :].partition("/")
    return host, f"/{rest}"


def _route(emu: Emulator, method: str, path: str) -> tuple[RouteSpec, str, list[str]]:
    """The matched route, API version and captured params; ApiError when nothing matches."""
    segments, verb = split_path(path)
    version = segments[0] if segments else ""
    found = match(emu.routes, method, version, segments[1:], verb)
    if isinstance(found, tuple):
        return found[0], version, found[1]
    emu.count("unmatched")
    if found is False:
        raise ApiError("UNIMPLEMENTED", f"{method} {path} is not supported.")
    raise ApiError("NOT_FOUND", f"{method} {path} is not an emulated API method.")


def _parse_body(raw: bytes) -> dict[str, Any]:
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise ApiError("INVALID_ARGUMENT", "Invalid JSON payload received.") from exc
    if not isinstance(body, dict):
        raise ApiError("INVALID_ARGUMENT", "The request body must be a JSON object.")
    return body


def _request_body(route: RouteSpec, version: str, raw: bytes) -> dict[str, Any]:
    """The JSON body, checked against the route's request message (unknown fields are 400)."""
    body = _parse_body(raw)
    if route.body is None:
        return body
    message, field = route.body
    package = _protos.package_for(route.service, version)
    return _protos.parse_request(body, _protos.full_name(package, message), field)


def _render(route: RouteSpec, version: str, query: dict[str, str], result: Any) -> Response:
    """The answer written through the route's response message (names or ints for enums)."""
    if route.raw:
        return _json(result)
    message = _protos.full_name(_protos.package_for(route.service, version), route.reply)
    int_enums = wants_int_enums(query.get("$alt"))

    def write(doc: Any) -> Any:
        return _protos.render(doc, message, int_enums=int_enums)

    if route.stream:
        return _stream([write(c) for c in result], sse=query.get("alt") == "sse")
    if isinstance(result, list):  # generateContent: one chunk holds the whole answer
        result = _merge_chunks(result)
    return _json(write(result))


def create_app(emu: Emulator) -> Starlette:
    async def google(request: Request) -> Response:
        raw = request.scope.get("raw_path") or request.url.path.encode()
        host, path = split_host(raw.decode("latin-1").split("?", 1)[0])
        try:
            route, version, params = _route(emu, request.method, path)
            emu.count(route.rpc)
            emu.check_host(host, route, params)
            if emu.config.latency_ms > 0:
                await asyncio.sleep(emu.config.latency_ms / 1000)
            fault = emu.pick_fault(route.rpc)
            if fault is not None:
                return await _faulted(emu, fault)
            query = dict(parse_qsl(request.url.query, keep_blank_values=True))
            if route.api_key and not has_api_key(request.headers, query):
                raise ApiError("PERMISSION_DENIED", MISSING_KEY)
            query.pop("key", None)  # the API key goes no further than this check
            raw_body = await request.body()
            handler: Handler = getattr(getattr(emu, route.service), route.handler)

            def run() -> Response:
                body = _request_body(route, version, raw_body)
                if version != "ui":
                    emu.vertex.trainer.advance_all()
                result = handler(Call(request.method, version, params, query, body))
                return _render(route, version, query, result)

            response = await run_in_threadpool(run)
            lost = emu.pick_fault(route.rpc, "after")
            if lost is not None:  # the effect is stored; its answer is lost
                return await _faulted(emu, lost)
        except ApiError as exc:
            return _error(exc)
        except Exception:
            log.exception("%s %s failed", request.method, path)
            return _error(ApiError("INTERNAL", "Internal error in the emulator (see its log)."))
        return response

    async def health(request: Request) -> Response:
        return _json({"ok": True, "url": emu.url, "gcs_host": emu.gcs_host})

    async def stats(request: Request) -> Response:
        if request.method == "POST":
            emu.reset_stats()
        return _json(emu.stats())

    async def reset(request: Request) -> Response:
        body = await _admin_body(request)
        emu.store.reset()
        emu.reset_stats()
        if body.get("gcs") and emu.on_reset_gcs:
            emu.on_reset_gcs()
        return _json({"ok": True})

    async def config(request: Request) -> Response:
        if request.method == "POST":
            try:
                emu.config.update(await _admin_body(request))
            except (ValueError, TypeError) as exc:
                return _json({"error": str(exc)}, 400)
        return _json(emu.config.to_json())

    async def job(request: Request) -> Response:
        try:
            return _json(emu.vertex.job_metrics(request.path_params["job"]))
        except ApiError as exc:
            return _error(exc)

    methods = ["GET", "POST", "PATCH", "DELETE", "PUT"]
    return Starlette(
        routes=[
            Route("/emulator/health", health),
            Route("/emulator/stats", stats, methods=["GET", "POST"]),
            Route("/emulator/reset", reset, methods=["POST"]),
            Route("/emulator/config", config, methods=["GET", "POST"]),
            Route("/emulator/tuningJobs/{job}", job),
            Route("/{path:path}", google, methods=methods),
        ]
    )


async def _admin_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    data = json.loads(raw) if raw.strip() else {}
    return data if isinstance(data, dict) else {}


def _merge_chunks(chunks: list[dict[str, Any]]) -> dict[str, Any]:
    out = json.loads(json.dumps(chunks[-1]))
    for n, cand in enumerate(out["candidates"]):
        text = "".join(c["candidates"][n]["content"]["parts"][0]["text"] for c in chunks)
        cand["content"]["parts"] = [{"text": text}]
    return dict(out)


def _stream(encoded: list[Any], *, sse: bool) -> Response:
    if sse:

        def frames() -> Iterator[bytes]:
            for c in encoded:
                yield f"data: {json.dumps(c)}\r\n\r\n".encode()
                time.sleep(0)

        return StreamingResponse(frames(), media_type="text/event-stream")
    return JSONResponse(encoded)
