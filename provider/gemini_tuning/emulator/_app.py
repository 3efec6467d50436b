"""The HTTP app: Google-style routing (versions, custom verbs, URL-decoded segments), fault
injection, per-method request counts, and the admin surface under /emulator (never a Google
path)."""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from gemini_tuning._locations import UnknownLocationError, service_host
from gemini_tuning.emulator import _protos
from gemini_tuning.emulator._config import EmulatorConfig
from gemini_tuning.emulator._errors import STATUS_BY_HTTP, ApiError, error_body
from gemini_tuning.emulator._faults import FaultRules
from gemini_tuning.emulator._gemini_api import GeminiApiService
from gemini_tuning.emulator._preflight import PreflightService
from gemini_tuning.emulator._routes import (
    MISSING_KEY,
    RouteSpec,
    gemini_api_routes,
    has_api_key,
    match,
    preflight_routes,
    split_path,
    vertex_routes,
)
from gemini_tuning.emulator._store import Store
from gemini_tuning.emulator._vertex import Call, VertexService
from gemini_tuning.emulator._wire import wants_int_enums

log = logging.getLogger("gemini_tuning.emulator")

Handler = Callable[[Call], Any]


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
        self.fault_rules = FaultRules(config)
        self.on_reset_gcs: Callable[[], None] | None = None
        self._settings_at_start = copy.deepcopy(config.to_json())  # what reset(settings) restores

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

    def reset(self, *, gcs: bool = False, settings: bool = False) -> None:
        """Forget every resource and count; with ``gcs`` every object, with ``settings`` every
        setting changed since the start (faults, quotas, holds, ...) and the dice's state. The
        trainer's readers finish first, so no job of before the reset is written after it."""
        if not self.vertex.trainer.quiesce():
            raise RuntimeError("a trainer reader is still at work after 30 s: not reset")
        self.store.reset()
        self.vertex.forget_learned()
        self.reset_stats()
        if gcs and self.on_reset_gcs:
            self.on_reset_gcs()
        if settings:
            self.config.update(copy.deepcopy(self._settings_at_start))
            self.fault_rules = FaultRules(self.config)

    def check_host(self, host: str | None, route: RouteSpec, params: list[str]) -> None:
        """A request sent as the provider sends it, ``/_host/{host}/v1/...``: the host the real
        service would have been asked must be the one that serves the location in the path
        (_locations.py cites the hosts). Google documents no answer for a request at the
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
        answer = self.fault_rules.pick(rpc, when)
        if answer is not None:
            with self._lock:
                self.faults[f"{rpc}:{answer}" + (":after" if when == "after" else "")] += 1
        return answer


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
        emu.reset(gcs=bool(body.get("gcs")), settings=bool(body.get("settings")))
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
