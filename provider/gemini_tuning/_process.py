"""What the provider's own processes change in third-party code, applied by one explicit call.

Importing ``gemini_tuning`` (or any of its modules) changes no other module: a Pulumi program,
the CLI, a notebook or a test that imports it keeps its libraries as they were. Only the two
processes that *serve* the resources call :func:`apply_process_patches`, once, at their start:

- ``dynamic-provider``: the Python dynamic-provider server the engine starts for a program's
  dynamic resources (``python -m pulumi.dynamic``). It runs the SDK's ``main()``, not ours; the
  earliest our code runs there is the import of ``gemini_tuning.resources`` while the first
  pickled provider is unpickled, so that package's ``__init__`` makes the call, guarded by
  :func:`in_dynamic_provider_process` (the process's ``__main__`` is ``pulumi.dynamic``).
- ``plugin``: ``pulumi-resource-gemini-tuning`` (``gemini_tuning.plugin.main``), before it
  imports the SDK's provider server.

The emulator needs none. Each patch names the object it changes and the SDK limitation behind
it; unit tests pin the SDK details each relies on (tests/unit/test_process.py), and
tests/unit/test_import_alters_nothing.py checks that an import alone changes nothing.
"""

from __future__ import annotations

import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from types import FrameType
from typing import Any, Literal

ProcessKind = Literal["dynamic-provider", "plugin"]

PROVIDER_WORKERS = 64
WORKERS_ENV = "GEMINI_TUNING_PROVIDER_WORKERS"  # e.g. 4 keeps the SDK's pool (bench baseline)
SDK_DEFAULT_WORKERS = 4
_DYNAMIC_MAIN_MODULES = ("pulumi.dynamic.__main__", "pulumi.dynamic")

_APPLIED: set[str] = set()
_LOCK = threading.Lock()


def apply_process_patches(kind: ProcessKind) -> None:
    """Apply, once per process, what the ``kind`` of provider process needs (see module doc)."""
    with _LOCK:
        if kind in _APPLIED:
            return
        _APPLIED.add(kind)
    from gemini_tuning.backends import _aiplatform

    if kind == "dynamic-provider":
        widen_dynamic_provider_pool(int(os.environ.get(WORKERS_ENV, PROVIDER_WORKERS)))
    elif kind == "plugin":
        share_one_status_proto()
    else:
        raise ValueError(f"unknown provider process kind {kind!r}")
    # Both serve creates whose first call builds a Vertex client: import only its service.
    _aiplatform.import_services_lazily()


def in_dynamic_provider_process() -> bool:
    """Is this the SDK's dynamic-provider server (``python -m pulumi.dynamic``)?"""
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    return spec is not None and spec.name in _DYNAMIC_MAIN_MODULES


def apply_if_dynamic_provider_process() -> None:
    """The dynamic-provider process's entry point into our code (``gemini_tuning.resources``);
    in any other process, nothing."""
    if in_dynamic_provider_process():
        apply_process_patches("dynamic-provider")


# --- the dynamic-provider server's 4-worker pool ------------------------------------------------
#
# SDK limitation (no upstream issue found; searched pulumi/pulumi issues for the dynamic
# provider's thread pool): ``pulumi/dynamic/__main__.py`` ``main()`` serves every dynamic
# resource of a stack from ``grpc.server(futures.ThreadPoolExecutor(max_workers=4))``, fixed, not
# tied to ``--parallel`` (the program side's pool was tied to it by pulumi/pulumi#20362; the
# provider server's was not). A create that waits for a tuning job holds a worker for hours, so
# 20 jobs would tune four at a time. The executor starts threads lazily up to ``_max_workers``,
# so raising that attribute on the live executor lets more calls run at once; waiting is
# I/O-bound, so the extra threads cost little. docs/reference/pulumi-notes.md
# ("Long-running creates") records the same SDK detail.


def widen_dynamic_provider_pool(workers: int = PROVIDER_WORKERS) -> bool:
    """Raise the worker limit of the server that the SDK's ``main()`` runs; False if not found.

    The executor is a local of ``main()`` (``server = grpc.server(ThreadPoolExecutor(...))``),
    which the process's main thread is still running (it waits there until the engine hangs
    up): it is reached through that frame, ``server._state.thread_pool`` (grpc's ``_Server``)."""
    main = sys.modules.get("__main__")
    main_code = getattr(getattr(main, "main", None), "__code__", None)
    executor = server_executor(threading.main_thread(), main_code)
    if executor is None or executor._max_workers != SDK_DEFAULT_WORKERS:
        return False
    executor._max_workers = workers
    return True


def server_executor(thread: threading.Thread, main_code: Any) -> ThreadPoolExecutor | None:
    """The executor of the ``server`` local of the frame running ``main_code`` on ``thread``."""
    frame: FrameType | None = sys._current_frames().get(thread.ident or -1)
    while frame is not None and frame.f_code is not main_code:
        frame = frame.f_back
    if frame is None:
        return None
    server = frame.f_locals.get("server")
    executor = getattr(getattr(server, "_state", None), "thread_pool", None)
    return executor if isinstance(executor, ThreadPoolExecutor) else None


# --- one google.rpc.Status for the SDK's provider server and the Google clients -----------------
#
# SDK limitation (no upstream Pulumi issue found; the same collision is reported for another
# package in connectrpc/connect-py#75): ``pulumi.provider`` imports
# ``pulumi.runtime.proto.status_pb2``, which registers ``google.rpc.Status`` in protobuf's default
# descriptor pool under the file ``google/protobuf/status.proto``; the Google API clients register
# the same message from ``google/rpc/status.proto`` (googleapis-common-protos). Whichever comes
# second fails ("duplicate symbol 'google.rpc.Status'"): the plugin's first Vertex call did.


def share_one_status_proto() -> None:
    """Let whichever status module is loaded first (else Google's) serve both module names.

    Both define the same message. Used by the plugin and by a test run, the processes that load
    both the SDK's provider server and the Google clients."""
    import importlib

    sdk_name, google_name = "pulumi.runtime.proto.status_pb2", "google.rpc.status_pb2"
    first = sys.modules.get(google_name) or sys.modules.get(sdk_name)
    if first is None:
        first = importlib.import_module(google_name)
    for name in (sdk_name, google_name):
        sys.modules.setdefault(name, first)
        package, _, attr = name.rpartition(".")
        setattr(importlib.import_module(package), attr, first)
