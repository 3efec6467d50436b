"""Running the emulator: the Vertex app on uvicorn and gcp-storage-emulator beside it, both on
loopback only. `serve()` blocks until SIGINT/SIGTERM; it writes `emulator.json` in the state
directory once both answer, and removes it on the way out."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gemini_tuning.emulator._app import Emulator, create_app, with_abort
from gemini_tuning.emulator._config import (
    DEFAULT_BUCKET,
    DEFAULT_PROJECT,
    EmulatorConfig,
    project_number,
)
from gemini_tuning.emulator._home import (
    DEFAULT_STATE_DIR,
    ENV_HOME,
    INFO_FILE,
    LOOPBACK,
    check_host,
    default_state_dir,
)

log = logging.getLogger("gemini_tuning.emulator")

__all__ = [
    "DEFAULT_STATE_DIR",
    "ENV_HOME",
    "INFO_FILE",
    "LOOPBACK",
    "GcsEmulator",
    "ServeOptions",
    "check_host",
    "default_state_dir",
    "serve",
]


def bind(port: int) -> socket.socket:
    """A listening loopback socket (port 0 = a free port)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted connections inherit it: an answer's headers and body go out as two writes, and
    # with Nagle's algorithm the body waited for the client's delayed ACK (40 ms per call).
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((LOOPBACK, port))
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


@dataclass
class ServeOptions:
    state_dir: Path
    port: int = 0
    gcs_port: int = 0
    host: str = LOOPBACK
    bucket: str | None = DEFAULT_BUCKET


# Projects whose Vertex AI service agents may read the bucket created at start: the emulator's
# own and the one an emulator stack without a project uses (backends/_settings.py).
AGENT_PROJECTS = (DEFAULT_PROJECT, "local-project")


def grant_service_agents(storage: Any, bucket: str) -> None:
    """Give the bucket created at start the binding the IAM set-up (docs/guides/cloud-setup.md)
    gives a real one (the Vertex AI service agents: roles/storage.objectViewer), unless it has a
    policy already
    (a restart keeps what a test or a user set)."""
    if storage.get_bucket_iam_policy(bucket) is not None:
        return
    members = [
        f"serviceAccount:service-{project_number(p)}@{agent}.iam.gserviceaccount.com"
        for p in AGENT_PROJECTS
        for agent in ("gcp-sa-aiplatform", "gcp-sa-vertex-tune")
    ]
    storage.set_bucket_iam_policy(
        bucket,
        {
            "kind": "storage#policy",
            "resourceId": f"projects/_/buckets/{bucket}",
            "version": 1,
            "etag": "CAE=",
            "bindings": [{"role": "roles/storage.objectViewer", "members": members}],
        },
    )


MULTI_REGIONS = ("US", "EU", "ASIA")


def keep_bucket_location() -> None:
    """Make gcp-storage-emulator keep the ``location`` a bucket is created with.

    It records every new bucket as the US multi-region whatever was asked, which is kinder than
    Google for any check of where the data is (preflight's bucket-location): a bucket made in
    europe-west4 would read as US. Its bucket-insert handler is wrapped once, in this process:
    the asked location (upper case, as the JSON API answers it) and its type are stored."""
    from http import HTTPStatus

    from gcp_storage_emulator import server
    from gcp_storage_emulator.handlers import buckets

    original = buckets.insert
    if getattr(original, "_keeps_location", False):
        return

    def insert(request: Any, response: Any, storage: Any, *args: Any, **kwargs: Any) -> None:
        original(request, response, storage, *args, **kwargs)
        data = request.data or {}
        name, asked = data.get("name"), str(data.get("location") or "").upper()
        bucket = storage.buckets.get(name) if name else None
        if response.status != HTTPStatus.OK or not asked or bucket is None:
            return
        bucket["location"] = asked
        bucket["locationType"] = "multi-region" if asked in MULTI_REGIONS else "region"
        storage.create_bucket(name, bucket)  # stored as its patch handler stores a change
        response.json(bucket)

    insert._keeps_location = True  # type: ignore[attr-defined]
    for _pattern, handlers in server.HANDLERS:
        for method, handler in list(handlers.items()):
            if handler is original:
                handlers[method] = insert
    buckets.insert = insert


class GcsEmulator:
    """gcp-storage-emulator (its own thread), with its data under the state directory."""

    def __init__(self, data_dir: Path, port: int, bucket: str | None = None) -> None:
        from gcp_storage_emulator.server import create_server

        keep_bucket_location()
        data_dir.mkdir(parents=True, exist_ok=True)
        # Its HTTPServer binds itself; with port 0 we pick one first.
        self.port = port or free_port()
        self._server: Any = create_server(
            LOOPBACK, self.port, in_memory=False, data_dir=str(data_dir), default_bucket=bucket
        )
        if bucket:
            grant_service_agents(self._server._storage, bucket)

    @property
    def host(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def start(self) -> None:
        self._server.start()

    def stop(self) -> None:
        self._server.stop()

    def wipe(self) -> None:
        self._server.wipe()


def serve(options: ServeOptions, config: EmulatorConfig) -> int:
    """Run in the foreground until interrupted. Returns an exit code."""
    import uvicorn

    check_host(options.host)
    state_dir = options.state_dir.resolve()
    state_dir.mkdir(parents=True, exist_ok=True)
    sock = bind(options.port)
    port = int(sock.getsockname()[1])
    gcs = GcsEmulator(state_dir / "gcs", options.gcs_port, options.bucket)
    gcs.start()
    emu = Emulator(state_dir, config, gcs.host)
    emu.url = f"http://{LOOPBACK}:{port}"
    emu.on_reset_gcs = gcs.wipe
    emu.start()
    app = with_abort(create_app(emu))
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    )
    info = state_dir / INFO_FILE

    async def announce() -> None:
        import asyncio

        while not server.started:
            await asyncio.sleep(0.02)
        data = {"url": emu.url, "gcs_host": gcs.host, "pid": os.getpid()}
        if options.bucket:  # created at start: `apiEndpoint: emulator` stacks default to it
            data["bucket"] = options.bucket
        tmp = info.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2) + "\n")
        tmp.replace(info)
        print(f"emulator listening on {emu.url} (GCS emulator on {gcs.host})", flush=True)

    async def main() -> None:
        import asyncio

        task = asyncio.create_task(announce())
        try:
            await server.serve(sockets=[sock])
        finally:
            task.cancel()

    import asyncio

    try:
        asyncio.run(main())
    finally:
        with contextlib.suppress(FileNotFoundError, ValueError):
            current = json.loads(info.read_text())
            if current.get("pid") == os.getpid():
                info.unlink()
        emu.stop()
        gcs.stop()
        sock.close()
    return 0
