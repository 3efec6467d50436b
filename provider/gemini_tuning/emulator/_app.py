"""The HTTP app: Google-style routing (versions, custom verbs, URL-decoded segments), fault
injection, per-method request counts, and the admin surface under /emulator (never a Google
path)."""

from __future__ import annotations

import asyncio
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

from gemini_tuning.emulator._config import EmulatorConfig
from gemini_tuning.emulator._errors import STATUS_BY_HTTP, ApiError, error_body
from gemini_tuning.emulator._gemini_api import GeminiApiService
from gemini_tuning.emulator._store import Store
from gemini_tuning.emulator._vertex import Call, VertexService
from gemini_tuning.emulator._wire import encode_enums_as_ints, wants_int_enums

log = logging.getLogger("gemini_tuning.emulator")

Handler = Callable[[Call], Any]
MISSING_KEY = (
    "Method doesn't allow unregistered callers (callers without established identity). "
    "Please use API Key or other form of API consumer identity to call this API."
)
_P, _L = ("projects", "*"), ("locations", "*")
_LOC = (*_P, *_L)


@dataclass(frozen=True)
class RouteSpec:
    """One Google route: HTTP method, path pattern ('*' captures a segment), custom verb."""

    http_method: str
    pattern: tuple[str, ...]
    verb: str | None
    rpc: str  # counted in /emulator/stats, e.g. "GenAiTuningService.CreateTuningJob"
    handler: str  # method name on the service
    versions: tuple[str, ...] = ("v1", "v1beta1")
    stream: bool = False
    service: str = "vertex"  # the Emulator attribute that holds the handler
    api_key: bool = False  # Gemini API: an API key (or a bearer token) must be present


def vertex_routes() -> list[RouteSpec]:
    jobs, models, eps = (*_LOC, "tuningJobs"), (*_LOC, "models"), (*_LOC, "endpoints")
    tuning, ms, es, ps = (
        "GenAiTuningService",
        "ModelService",
        "EndpointService",
        "PredictionService",
    )
    op_versions = ("v1", "v1beta1", "ui")
    routes = [
        RouteSpec("POST", jobs, None, f"{tuning}.CreateTuningJob", "create_tuning_job"),
        RouteSpec("GET", jobs, None, f"{tuning}.ListTuningJobs", "list_tuning_jobs"),
        RouteSpec("GET", (*jobs, "*"), None, f"{tuning}.GetTuningJob", "get_tuning_job"),
        RouteSpec("POST", (*jobs, "*"), "cancel", f"{tuning}.CancelTuningJob", "cancel_tuning_job"),
        RouteSpec("GET", models, None, f"{ms}.ListModels", "list_models"),
        RouteSpec("GET", (*models, "*"), None, f"{ms}.GetModel", "get_model"),
        RouteSpec("PATCH", (*models, "*"), None, f"{ms}.UpdateModel", "update_model"),
        RouteSpec("DELETE", (*models, "*"), None, f"{ms}.DeleteModel", "delete_model"),
        RouteSpec(
            "DELETE",
            (*models, "*"),
            "deleteVersion",
            f"{ms}.DeleteModelVersion",
            "delete_model_version",
        ),
        RouteSpec(
            "GET", (*models, "*"), "listVersions", f"{ms}.ListModelVersions", "list_model_versions"
        ),
        RouteSpec(
            "POST",
            (*models, "*"),
            "mergeVersionAliases",
            f"{ms}.MergeVersionAliases",
            "merge_version_aliases",
        ),
        RouteSpec(
            "POST",
            (*models, "*"),
            "generateContent",
            f"{ps}.GenerateContent",
            "generate_model_path",
        ),
        RouteSpec("GET", eps, None, f"{es}.ListEndpoints", "list_endpoints"),
        RouteSpec("GET", (*eps, "*"), None, f"{es}.GetEndpoint", "get_endpoint"),
        RouteSpec("DELETE", (*eps, "*"), None, f"{es}.DeleteEndpoint", "delete_endpoint"),
        RouteSpec("POST", (*eps, "*"), "undeployModel", f"{es}.UndeployModel", "undeploy_model"),
        RouteSpec(
            "POST", (*eps, "*"), "generateContent", f"{ps}.GenerateContent", "generate_endpoint"
        ),
        RouteSpec(
            "POST",
            (*eps, "*"),
            "streamGenerateContent",
            f"{ps}.StreamGenerateContent",
            "generate_endpoint",
            stream=True,
        ),
        RouteSpec(
            "POST",
            (*_LOC, "publishers", "*", "models", "*"),
            "generateContent",
            f"{ps}.GenerateContent",
            "generate_publisher",
        ),
        RouteSpec(
            "POST",
            (*_LOC, "publishers", "*", "models", "*"),
            "streamGenerateContent",
            f"{ps}.StreamGenerateContent",
            "generate_publisher",
            stream=True,
        ),
    ]
    for prefix in ((*_LOC,), (*_LOC, "*", "*")):
        ops = (*prefix, "operations")
        routes += [
            RouteSpec(
                "GET", (*ops, "*"), None, "Operations.GetOperation", "get_operation", op_versions
            ),
            RouteSpec(
                "GET", ops, None, "Operations.ListOperations", "list_operations", op_versions
            ),
            RouteSpec(
                "DELETE",
                (*ops, "*"),
                None,
                "Operations.DeleteOperation",
                "delete_operation",
                op_versions,
            ),
            RouteSpec(
                "POST",
                (*ops, "*"),
                "cancel",
                "Operations.CancelOperation",
                "cancel_operation",
                op_versions,
            ),
            RouteSpec(
                "POST",
                (*ops, "*"),
                "wait",
                "Operations.WaitOperation",
                "wait_operation",
                op_versions,
            ),
        ]
    return routes


def gemini_api_routes() -> list[RouteSpec]:
    """The Gemini API tunedModels surface (v1beta; operations also under v1, as the tutorial
    polls them there)."""
    models, ms, gs = ("tunedModels",), "ModelService", "GenerativeService"
    one, ops = (*models, "*"), (*models, "*", "operations")
    beta, both = ("v1beta",), ("v1", "v1beta")

    def r(
        method: str,
        pattern: tuple[str, ...],
        verb: str | None,
        rpc: str,
        handler: str,
        *,
        versions: tuple[str, ...] = beta,
        stream: bool = False,
    ) -> RouteSpec:
        return RouteSpec(
            method, pattern, verb, rpc, handler, versions, stream, "gemini_api", api_key=True
        )

    stream = ("streamGenerateContent", f"{gs}.StreamGenerateContent", "generate_content")
    return [
        r("POST", models, None, f"{ms}.CreateTunedModel", "create_tuned_model"),
        r("GET", models, None, f"{ms}.ListTunedModels", "list_tuned_models"),
        r("GET", one, None, f"{ms}.GetTunedModel", "get_tuned_model"),
        r("PATCH", one, None, f"{ms}.UpdateTunedModel", "update_tuned_model"),
        r("DELETE", one, None, f"{ms}.DeleteTunedModel", "delete_tuned_model"),
        r("POST", one, "generateContent", f"{gs}.GenerateContent", "generate_content"),
        r("POST", one, *stream, stream=True),
        r("POST", one, "countTokens", f"{gs}.CountTokens", "count_tokens"),
        r("GET", (*ops, "*"), None, "Operations.GetOperation", "get_operation", versions=both),
        r("GET", ops, None, "Operations.ListOperations", "list_operations", versions=both),
    ]


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
        self.routes = vertex_routes() + gemini_api_routes()
        self.counts: Counter[str] = Counter()
        self.faults: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._rng = random.Random(config.seed)
        self.on_reset_gcs: Callable[[], None] | None = None

    def start(self) -> None:
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
        return {
            "requests": counts,
            "total": sum(counts.values()),
            "faults": faults,
            "resources": self.store.counts(),
        }

    def reset_stats(self) -> None:
        with self._lock:
            self.counts.clear()
            self.faults.clear()

    def pick_fault(self, rpc: str) -> int | None:
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
        if code is not None:
            with self._lock:
                self.faults[f"{rpc}:{code}"] += 1
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
    }.get(code, f"Injected failure {code} (gemini-tuning emulator).")
    return _json(error_body(code, status, message), code)


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


def _render(route: RouteSpec, query: dict[str, str], result: Any) -> Response:
    int_enums = wants_int_enums(query.get("$alt"))
    if route.stream:
        return _stream(result, sse=query.get("alt") == "sse", int_enums=int_enums)
    if isinstance(result, list):  # generateContent: one chunk holds the whole answer
        result = _merge_chunks(result)
    return _json(encode_enums_as_ints(result) if int_enums else result)


def create_app(emu: Emulator) -> Starlette:
    async def google(request: Request) -> Response:
        raw = request.scope.get("raw_path") or request.url.path.encode()
        path = raw.decode("latin-1").split("?", 1)[0]
        try:
            route, version, params = _route(emu, request.method, path)
            emu.count(route.rpc)
            if emu.config.latency_ms > 0:
                await asyncio.sleep(emu.config.latency_ms / 1000)
            fault = emu.pick_fault(route.rpc)
            if fault is not None:
                return _fault_response(fault)
            query = dict(parse_qsl(request.url.query, keep_blank_values=True))
            if route.api_key and not has_api_key(request.headers, query):
                raise ApiError("PERMISSION_DENIED", MISSING_KEY)
            query.pop("key", None)  # the API key goes no further than this check
            call = Call(request.method, version, params, query, _parse_body(await request.body()))
            handler: Handler = getattr(getattr(emu, route.service), route.handler)

            def run() -> Any:
                if version != "ui":
                    emu.vertex.trainer.advance_all()
                return handler(call)

            result = await run_in_threadpool(run)
        except ApiError as exc:
            return _error(exc)
        except Exception:
            log.exception("%s %s failed", request.method, path)
            return _error(ApiError("INTERNAL", "Internal error in the emulator (see its log)."))
        return _render(route, query, result)

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


def _stream(chunks: list[dict[str, Any]], *, sse: bool, int_enums: bool) -> Response:
    encoded = [encode_enums_as_ints(c) if int_enums else c for c in chunks]
    if sse:

        def frames() -> Iterator[bytes]:
            for c in encoded:
                yield f"data: {json.dumps(c)}\r\n\r\n".encode()
                time.sleep(0)

        return StreamingResponse(frames(), media_type="text/event-stream")
    return JSONResponse(encoded)
