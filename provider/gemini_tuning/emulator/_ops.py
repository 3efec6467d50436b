"""google.longrunning.Operation documents, rendered with the @types the calling client expects.

By default an operation's effect happens when it is created and the operation reports `done` on
its first poll (so gapic's `operation.result()` returns without sleeping, and the poll path is
still exercised). Slow operations (settings `lro_polls` > 1, `lro_seconds` > 0 or
`lro_never_done`) report done only from their N-th poll on and not before T seconds, or never;
their effect (a delete, an undeploy) is stored with them and lands when they are done, as a
resource being deleted is still there until its operation ends. The API version of the request
that created an operation (`v1` or `v1beta1`) is recorded and decides the
`google.cloud.aiplatform.{v1|v1beta1}.X` type names: the poller parses strictly and rejects a
mismatched version.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

from gemini_tuning.emulator._config import EmulatorConfig
from gemini_tuning.emulator._errors import rpc_status
from gemini_tuning.emulator._store import Resource, Store
from gemini_tuning.emulator._wire import timestamp

EMPTY = "google.protobuf.Empty"
Effect = dict[str, Any]  # what a done operation does: {"delete": [names]}, {"undeploy": {...}}
Apply = Callable[[Effect], None]


def new_id(rng: random.Random | None = None) -> str:
    """A numeric resource ID like Vertex's (19 digits, no leading zero)."""
    r = rng or random
    return str(r.randint(10**18, 9 * 10**18))


def create(
    store: Store,
    parent: str,
    *,
    api: str,
    metadata_type: str,
    response_type: str,
    config: EmulatorConfig,
    effect: Effect | None = None,
    apply: Apply | None = None,
    response: dict[str, Any] | None = None,
) -> Resource:
    """Record an operation under ``parent`` (a location or a resource name). Its ``effect`` is
    applied now, or when it is done if operations are slow."""
    now = time.time()
    slow = config.slow_operations
    if effect is not None and apply is not None and not slow:
        apply(effect)
    res = Resource(
        name=f"{parent}/operations/{new_id()}",
        kind="operation",
        parent=parent,
        data={},
        internal={
            "api": api if api in ("v1", "v1beta1") else "v1",
            "metadata_type": metadata_type,
            "response_type": response_type,
            "response": response or {},
            "create_time": now,
            "update_time": now,
            "done": config.lro_polls <= 0 and not slow,
            "polls": 0,
            "polls_needed": config.lro_polls,
            "ready_at": now + config.lro_seconds,
            "never": config.lro_never_done,
            "effect": effect if slow else None,
            "error": None,
        },
    )
    return store.put(res)


def _type_url(api: str, type_name: str) -> str:
    if type_name.startswith("google.protobuf.") or type_name.startswith("google."):
        return f"type.googleapis.com/{type_name}"
    return f"type.googleapis.com/google.cloud.aiplatform.{api}.{type_name}"


def render(res: Resource) -> dict[str, Any]:
    """The Operation JSON: no key beyond what the poller's strict parser knows."""
    i = res.internal
    api = i["api"]
    out: dict[str, Any] = {
        "name": res.name,
        "metadata": {
            "@type": _type_url(api, i["metadata_type"]),
            "genericMetadata": {
                "createTime": timestamp(i["create_time"]),
                "updateTime": timestamp(i["update_time"]),
            },
        },
    }
    if i["done"]:
        out["done"] = True
        if i.get("error"):
            out["error"] = {**i["error"], "details": []}
        else:
            out["response"] = {"@type": _type_url(api, i["response_type"]), **i["response"]}
    return out


def poll(store: Store, res: Resource, apply: Apply) -> Resource:
    """A GET (or :wait) of the operation: counts toward done; the effect lands at done."""
    i = res.internal
    if not i["done"]:
        i["polls"] = int(i.get("polls", 0)) + 1
        ready = i["polls"] >= int(i.get("polls_needed", 1)) and time.time() >= i.get("ready_at", 0)
        if ready and not i.get("never"):
            _done(res, apply)
        store.put(res)
    return res


def _done(res: Resource, apply: Apply | None) -> None:
    i = res.internal
    i["done"] = True
    i["update_time"] = time.time()
    effect, i["effect"] = i.get("effect"), None
    if effect and apply is not None:
        apply(effect)


def cancel(store: Store, res: Resource) -> Resource:
    """:cancel finishes a running operation with error CANCELLED; its effect never lands."""
    i = res.internal
    if not i["done"]:
        i["effect"] = None
        _done(res, None)
        i["error"] = rpc_status("CANCELLED", "Operation was cancelled.")
        store.put(res)
    return res
