"""The provider processes' patches (gemini_tuning/_process.py): the SDK details each relies on are
pinned, so an SDK upgrade that changes them fails here, and each patch reaches its object."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc

from gemini_tuning import _process


def test_sdk_still_serves_dynamic_providers_from_a_four_worker_pool_local_to_main() -> None:
    spec = importlib.util.find_spec("pulumi.dynamic.__main__")
    assert spec is not None
    assert spec.origin is not None
    source = Path(spec.origin).read_text()
    assert "def main():" in source
    assert "server = grpc.server(\n        futures.ThreadPoolExecutor(max_workers=4)," in source
    assert source.rstrip().endswith("main()")


def test_grpc_server_keeps_its_executor_where_the_patch_finds_it() -> None:
    executor = ThreadPoolExecutor(max_workers=4)
    try:
        server = grpc.server(executor)
        assert server._state.thread_pool is executor  # type: ignore[attr-defined]
    finally:
        executor.shutdown()


# A stand-in for `python -m pulumi.dynamic`: this script is __main__, its main() builds the server
# as the SDK's does and blocks in the main thread while a worker thread "unpickles the provider"
# (applies the patch) and then twelve calls that each wait for all twelve run on the server's pool.
SERVE_LIKE_THE_SDK = """
import json, threading
from concurrent import futures
import grpc
from gemini_tuning import _process

def main():
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    other = futures.ThreadPoolExecutor(max_workers=4)  # any other pool of the process
    found = {}
    def unpickle_first_provider():
        found["widened"] = _process.widen_dynamic_provider_pool(12)
    worker = threading.Thread(target=unpickle_first_provider)
    worker.start()
    worker.join()
    pool = server._state.thread_pool
    together = threading.Barrier(12, timeout=30)  # 4 workers would break it, not pass it
    for future in [pool.submit(together.wait) for _ in range(12)]:
        future.result()
    print(json.dumps({**found, "server": pool._max_workers, "other": other._max_workers}))

main()
"""


def test_the_server_pool_of_main_is_widened_and_runs_twelve_blocking_calls_at_once(
    tmp_path: Path,
) -> None:
    script = tmp_path / "serve.py"
    script.write_text(SERVE_LIKE_THE_SDK)
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, check=False, timeout=120
    )
    assert done.returncode == 0, done.stderr[-800:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {
        "widened": True,
        "server": 12,
        "other": 4,
    }


def test_outside_the_dynamic_provider_process_nothing_is_applied() -> None:
    code = (
        "import json, gemini_tuning.resources as r; from gemini_tuning import _process as p; "
        "from gemini_tuning.backends import _aiplatform as a; "
        "print(json.dumps([p.in_dynamic_provider_process(), sorted(p._APPLIED), "
        "a._LAZY['enabled']]))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(done.stdout) == [False, [], False]


def test_without_a_server_in_main_nothing_is_widened() -> None:
    executor = ThreadPoolExecutor(max_workers=_process.SDK_DEFAULT_WORKERS)
    try:
        assert _process.widen_dynamic_provider_pool() is False
        assert executor._max_workers == _process.SDK_DEFAULT_WORKERS
    finally:
        executor.shutdown()
