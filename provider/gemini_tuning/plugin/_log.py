"""Progress lines from the plugin to the engine's Log service, tagged with the resource's URN.

A provider plugin's stdout and stderr reach only the engine's debug log (the engine shows them
for its own dynamic-provider plugins alone), so ``say()`` lines go through ``Engine.Log``, as
the engine's diagnostics for that resource. If the engine cannot be reached they fall back to
stderr.
"""

from __future__ import annotations

import contextvars
import sys
from collections.abc import Callable
from typing import Any, TypeVar

from gemini_tuning.resources import _wait

T = TypeVar("T")
_URN: contextvars.ContextVar[str] = contextvars.ContextVar("gemini_tuning_urn", default="")


def connect(engine_address: str) -> None:
    """Send every ``say()`` line of this process to the engine at ``engine_address``."""
    import grpc
    from pulumi.runtime.proto import engine_pb2, engine_pb2_grpc

    stub = engine_pb2_grpc.EngineStub(grpc.insecure_channel(engine_address))

    def log(line: str) -> None:
        try:
            stub.Log(engine_pb2.LogRequest(severity=engine_pb2.INFO, message=line, urn=_URN.get()))
        except grpc.RpcError:
            print(line, file=sys.stderr, flush=True)

    _wait.set_sink(log)


def with_urn(urn: str, method: Callable[..., T], *args: Any) -> T:
    """``method(*args)`` with its progress lines attached to ``urn``."""
    token = _URN.set(urn)
    try:
        return method(*args)
    finally:
        _URN.reset(token)
