"""In a provider process the Vertex backend imports six aiplatform_v1 services, and the package
stays whole for others. (Anywhere else it imports the package whole, nothing lazy:
tests/unit/test_import_alters_nothing.py.)

Each case runs in a fresh interpreter: what is imported is process-wide. Each turns the lazy
import on as the provider processes do (gemini_tuning/_process.py).
"""

from __future__ import annotations

import json
import subprocess
import sys

LIGHT = """
import json, sys
from gemini_tuning.backends import _aiplatform
_aiplatform.import_services_lazily()
classes = _aiplatform.client_classes()
model = _aiplatform.model_message()
light = len([m for m in sys.modules if m.startswith("google.cloud.aiplatform_v1")])
from google.cloud import aiplatform_v1
from google.cloud.aiplatform_v1.types import TuningJob
same = (
    aiplatform_v1.Model is model
    and aiplatform_v1.GenAiTuningServiceClient is classes["tuning"]
    and aiplatform_v1.TensorboardServiceClient is classes["tensorboard"]
    and TuningJob is aiplatform_v1.TuningJob
)
dataset = aiplatform_v1.DatasetServiceClient.__name__  # a service the backend does not load
full = len([m for m in sys.modules if m.startswith("google.cloud.aiplatform_v1")])
print(json.dumps({"light": light, "full": full, "same": same, "dataset": dataset,
                  "kinds": sorted(classes)}))
"""

FULL_FIRST = """
import json
from google.cloud import aiplatform_v1
from gemini_tuning.backends import _aiplatform
_aiplatform.import_services_lazily()
print(json.dumps(_aiplatform.client_classes()["model"] is aiplatform_v1.ModelServiceClient))
"""


ONE_KIND = """
import json, sys, threading
from gemini_tuning.backends import _aiplatform, vertex
_aiplatform.import_services_lazily()
from gemini_tuning.backends._settings import Settings
settings = Settings(project="p", location="us-central1", api_endpoint="http://127.0.0.1:9")
built = []
threads = [threading.Thread(target=lambda: built.append(vertex._client(settings, "tuning")))
           for _ in range(8)]
for thread in threads: thread.start()
for thread in threads: thread.join()
loaded = lambda service: f"google.cloud.aiplatform_v1.services.{service}" in sys.modules
before = {"tuning": loaded("gen_ai_tuning_service"), "model": loaded("model_service")}
vertex._warm_clients(settings)
warmer = [t for t in threading.enumerate() if t.name == "gemini-tuning-clients"]
for thread in warmer: thread.join()
model = vertex._client(settings, "model")
credentials = model._transport._credentials is built[0]._transport._credentials
print(json.dumps({"before": before, "same": all(c is built[0] for c in built),
                  "warmed": loaded("model_service") and loaded("tensorboard_service"),
                  "shared_credentials": credentials}))
"""


def _run(code: str) -> object:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_backend_loads_a_fraction_of_the_package_and_a_later_full_import_is_whole() -> None:
    result = _run(LIGHT)
    assert isinstance(result, dict)
    assert result["kinds"] == [
        "endpoint",
        "metadata",
        "model",
        "prediction",
        "tensorboard",
        "tuning",
    ]
    assert result["light"] * 2 < result["full"], result  # measured: about 110 of 460 modules
    assert result["same"] is True
    assert result["dataset"] == "DatasetServiceClient"


def test_after_an_ordinary_import_the_same_classes_are_returned() -> None:
    assert _run(FULL_FIRST) is True


def test_a_create_builds_only_the_tuning_client_once_and_the_wait_warms_the_others() -> None:
    result = _run(ONE_KIND)
    assert result == {
        "before": {"tuning": True, "model": False},
        "same": True,
        "warmed": True,
        "shared_credentials": True,
    }
