"""Importing gemini_tuning alters no third-party module (issue 24, item 2).

Only the provider's own processes patch anything, by one explicit call (gemini_tuning/_process.py).
Each check runs in a fresh interpreter: what an import changes is process-wide.
"""

from __future__ import annotations

import json
import subprocess
import sys

# The third-party modules our code relies on, loaded before the snapshot so that a change to
# them (a replaced attribute, a widened pool, an aliased module) is seen.
THIRD_PARTY_FIRST = (
    "concurrent.futures",
    "gc",
    "grpc",
    "google.protobuf.descriptor_pool",
    "pydantic",
    "pulumi",
    "pulumi.dynamic",
    "pulumi.runtime",
    "pulumi.runtime.proto",
)
OURS = (
    "gemini_tuning",
    "gemini_tuning.resources.tuning_job",
    "gemini_tuning.resources.tuned_model",
    "gemini_tuning.resources.evaluation",
    "gemini_tuning.resources.release",
    "gemini_tuning.resources.probe",
    "gemini_tuning.backends",
    "gemini_tuning.backends.vertex",
    "gemini_tuning.backends.gemini_api",
    "gemini_tuning.catalog",
    "gemini_tuning.definitions",
    "gemini_tuning.program",
    "gemini_tuning.specs",
    "gemini_tuning.plugin",
    "gemini_tuning.plugin.sdk",
    "gemini_tuning.plugin._provider",
)

SNAPSHOT_AND_IMPORT = """
import gc, importlib, json, sys
from concurrent.futures import ThreadPoolExecutor
from google.protobuf import descriptor_pool

for name in THIRD_PARTY_FIRST:
    importlib.import_module(name)

def status_file():
    try:
        return descriptor_pool.Default().FindMessageTypeByName("google.rpc.Status").file.name
    except KeyError:
        return None

def snapshot():
    return {name: (id(module), {k: id(v) for k, v in vars(module).items()})
            for name, module in list(sys.modules.items()) if module is not None}

walks = []
real_get_objects = gc.get_objects
gc.get_objects = lambda *a, **k: walks.append(1) or real_get_objects(*a, **k)
pool = ThreadPoolExecutor(max_workers=4)  # as the dynamic-provider server's
before, status_before = snapshot(), status_file()

import gemini_tuning
for name in OURS:
    importlib.import_module(name)
for name in gemini_tuning.__all__:
    getattr(gemini_tuning, name)

after = snapshot()
replaced_modules = sorted(n for n in before if n in after and after[n][0] != before[n][0])
replaced_attributes = sorted(
    f"{n}.{k}" for n in before if n in after
    and not n.startswith(("gemini_tuning", "__main__", "__mp_main__"))
    for k, v in before[n][1].items() if after[n][1].get(k, v) != v
)
aliased = sorted(n for n, m in list(sys.modules.items())
                 if m is not None and getattr(m, "__name__", n) != n and n not in before)
unexecuted = sorted(n for n, m in list(sys.modules.items())
                    if "_gemini_tuning_lazy" in getattr(m, "__dict__", {}))
gc.get_objects = real_get_objects
print(json.dumps({
    "replaced_modules": replaced_modules,
    "replaced_attributes": replaced_attributes,
    "aliased": aliased,
    "unexecuted": unexecuted,
    "gc_walks": len(walks),
    "pool_workers": pool._max_workers,
    "status_proto": [status_before, status_file()],
    "loaded": [name in sys.modules for name in OURS],
}))
"""


def _run(code: str) -> dict[str, object]:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-1500:]
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_importing_the_package_and_its_public_modules_alters_no_third_party_module() -> None:
    setup = f"THIRD_PARTY_FIRST = {THIRD_PARTY_FIRST!r}\nOURS = {OURS!r}\n"
    result = _run(setup + SNAPSHOT_AND_IMPORT)
    assert result.pop("loaded") == [True] * len(OURS)
    # pulumi.provider (the plugin's server) registers google.rpc.Status itself when imported:
    # what must not happen is a registration replaced, or a module aliased (checked below).
    status_before, status_after = result.pop("status_proto")  # type: ignore[misc]
    assert status_before in (None, status_after), "the google.rpc.Status registration changed"
    assert result == {
        "replaced_modules": [],
        "replaced_attributes": [],
        "aliased": [],
        "unexecuted": [],
        "gc_walks": 0,
        "pool_workers": 4,
    }


def test_building_vertex_clients_outside_a_provider_process_imports_aiplatform_whole() -> None:
    code = """
import json, sys
from gemini_tuning.backends import _aiplatform
classes = _aiplatform.client_classes()
from google.cloud import aiplatform_v1
print(json.dumps({
    "unexecuted": [n for n, m in list(sys.modules.items())
                   if "_gemini_tuning_lazy" in getattr(m, "__dict__", {})],
    "whole": "DatasetServiceClient" in vars(aiplatform_v1),
    "same": classes["tuning"] is aiplatform_v1.GenAiTuningServiceClient,
}))
"""
    assert _run(code) == {"unexecuted": [], "whole": True, "same": True}


def test_the_public_api_is_the_four_resources_a_program_declares() -> None:
    import gemini_tuning

    assert gemini_tuning.__all__ == [
        "Evaluation",
        "Release",
        "TunedModel",
        "TuningJob",
        "__version__",
    ]
    assert {getattr(gemini_tuning, n).__name__ for n in gemini_tuning.__all__[:4]} == set(
        gemini_tuning.__all__[:4]
    )
    from gemini_tuning.testing import Probe

    assert Probe.__module__ == "gemini_tuning.resources.probe"
