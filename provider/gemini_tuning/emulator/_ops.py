"""google.longrunning.Operation documents, rendered with the @types the calling client expects.

Every emulated operation's effect happens when it is created; the operation itself reports
`done` on its first poll (so gapic's `operation.result()` returns without sleeping, and the poll
path is still exercised). The API version of the request that created it (`v1` or `v1beta1`) is
recorded and decides the `google.cloud.aiplatform.{v1|v1beta1}.X` type names: the poller parses
strictly and rejects a mismatched version.
"""

from __future__ import annotations

import random
import time
from typing import Any

from gemini_tuning.emulator._errors import rpc_status
from gemini_tuning.emulator._store import Resource, Store
from gemini_tuning.emulator._wire import timestamp

EMPTY = "google.protobuf.Empty"


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
    response: dict[str, Any] | None = None,
    polls_until_done: int = 1,
) -> Resource:
    """Record an operation under ``parent`` (a location or a resource name)."""
    now = time.time()
    name = f"{parent}/operations/{new_id()}"
    res = Resource(
        name=name,
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
            "done": polls_until_done <= 0,
            "polls_left": polls_until_done,
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


def poll(store: Store, res: Resource) -> Resource:
    """A GET of the operation: counts down to done."""
    i = res.internal
    if not i["done"]:
        i["polls_left"] = int(i["polls_left"]) - 1
        if i["polls_left"] <= 0:
            i["done"] = True
            i["update_time"] = time.time()
        store.put(res)
    return res


def finish(store: Store, res: Resource, *, cancelled: bool = False) -> Resource:
    i = res.internal
    if not i["done"]:
        i["done"] = True
        i["update_time"] = time.time()
        if cancelled:
            i["error"] = rpc_status("CANCELLED", "Operation was cancelled.")
        store.put(res)
    return res
