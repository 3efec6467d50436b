"""The provider-pool widening relies on one SDK detail; pin it so an SDK upgrade fails loudly."""

from __future__ import annotations

import importlib.util
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from gemini_tuning.resources._concurrency import PROVIDER_WORKERS, widen_provider_pool


def test_sdk_still_serves_dynamic_providers_from_a_four_worker_pool() -> None:
    spec = importlib.util.find_spec("pulumi.dynamic.__main__")
    assert spec is not None
    assert spec.origin is not None
    assert "futures.ThreadPoolExecutor(max_workers=4)" in Path(spec.origin).read_text()


def test_widened_pool_runs_more_than_four_blocking_calls_at_once() -> None:
    executor = ThreadPoolExecutor(max_workers=4)
    try:
        assert widen_provider_pool() >= 1
        assert executor._max_workers == PROVIDER_WORKERS
        running, peak, lock = [0], [0], threading.Lock()
        # Each call waits for all 12 to be running: a pool of 4 workers would break the
        # barrier (its timeout) instead of passing it.
        together = threading.Barrier(12, timeout=30)

        def blocking_call() -> None:
            with lock:
                running[0] += 1
                peak[0] = max(peak[0], running[0])
            together.wait()
            with lock:
                running[0] -= 1

        for future in [executor.submit(blocking_call) for _ in range(12)]:
            future.result()
        assert peak[0] == 12
    finally:
        executor.shutdown()
