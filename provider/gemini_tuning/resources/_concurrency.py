"""Let one dynamic-provider process wait for many tuning jobs at once.

The Python dynamic-provider server (``python -m pulumi.dynamic``) serves every resource of a
stack from one ``ThreadPoolExecutor(max_workers=4)``. A create that waits for a tuning job holds
a worker for hours, so a stack of 20 jobs would tune them four at a time. The executor creates
its threads lazily up to ``_max_workers``, so raising that attribute on the live executor lets
more calls run at once; waiting is I/O-bound, so the extra threads cost little.

This runs only inside the provider server process (its ``__main__`` is ``pulumi.dynamic``), once,
when our resources' module is first imported there (while unpickling the first provider).
A unit test pins the SDK detail it relies on, so an SDK upgrade that changes it fails loudly.
"""

from __future__ import annotations

import gc
import os
import sys
from concurrent.futures import ThreadPoolExecutor

PROVIDER_WORKERS = 64
WORKERS_ENV = "GEMINI_TUNING_PROVIDER_WORKERS"  # e.g. 4 keeps the SDK's pool (bench baseline)
_SDK_DEFAULT_WORKERS = 4


def in_dynamic_provider_process() -> bool:
    main = sys.modules.get("__main__")
    return getattr(main, "__spec__", None) is not None and main.__spec__.name in (  # type: ignore[union-attr]
        "pulumi.dynamic.__main__",
        "pulumi.dynamic",
    )


def widen_provider_pool(workers: int = PROVIDER_WORKERS) -> int:
    """Raise the worker limit of the provider server's executor; returns how many were widened."""
    widened = 0
    for obj in gc.get_objects():
        if isinstance(obj, ThreadPoolExecutor) and obj._max_workers == _SDK_DEFAULT_WORKERS:
            obj._max_workers = workers
            widened += 1
    return widened


def widen_if_provider_process() -> None:
    if in_dynamic_provider_process():
        widen_provider_pool(int(os.environ.get(WORKERS_ENV, PROVIDER_WORKERS)))
