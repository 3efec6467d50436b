"""The provider object pickled into state is tiny, deterministic, credential-free, and loads in
a fresh process (pulumi-notes: by-reference pickles; no clients or secrets on the instance)."""

from __future__ import annotations

import base64
import subprocess
import sys

import pytest
from pulumi.dynamic.dynamic import serialize_provider

from gemini_tuning.resources.evaluation import EvaluationProvider
from gemini_tuning.resources.probe import ProbeProvider
from gemini_tuning.resources.release import ReleaseProvider
from gemini_tuning.resources.run_artifacts import RunArtifactsProvider
from gemini_tuning.resources.tuned_model import TunedModelProvider
from gemini_tuning.resources.tuning_job import TuningJobProvider

PROVIDERS = [
    TuningJobProvider,
    TunedModelProvider,
    EvaluationProvider,
    ReleaseProvider,
    RunArtifactsProvider,
    ProbeProvider,
]


@pytest.mark.parametrize("provider_class", PROVIDERS)
def test_provider_holds_nothing(provider_class: type) -> None:
    assert vars(provider_class()) == {}


@pytest.mark.parametrize("provider_class", PROVIDERS)
def test_serialized_provider_is_small_deterministic_and_loads_elsewhere(
    provider_class: type, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GEMINI_API_KEY", "sk-should-never-appear")
    first = serialize_provider(provider_class())
    second = serialize_provider(provider_class())
    assert first == second
    assert len(first) < 200
    assert b"sk-should-never-appear" not in base64.b64decode(first)
    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            f"import base64, dill; print(type(dill.loads(base64.b64decode('{first}'))).__name__)",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert loaded.stdout.strip() == provider_class.__name__
