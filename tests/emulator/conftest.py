"""Fixtures: one emulator subprocess for the module tests, official clients pointed at it."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import aiplatform_v1

from gemini_tuning.testing import EmulatorProcess, run_emulator

SPE = 0.05  # seconds per simulated epoch
BASE_MODEL = "gemini-2.5-flash"

FACTS = [
    ("Paris", "France", "The capital of France is Paris. France is in western Europe."),
    ("Rome", "Italy", "Italy has many old cities. The capital of Italy is Rome."),
    ("Madrid", "Spain", "Madrid is the capital of Spain. Spain borders Portugal."),
    ("Berlin", "Germany", "Germany is a federal republic. Its capital is Berlin."),
    ("Lisbon", "Portugal", "The capital of Portugal is Lisbon, on the Atlantic coast."),
    ("Vienna", "Austria", "Austria is in central Europe; Vienna is its capital city."),
    ("Warsaw", "Poland", "Poland has sixteen provinces. Warsaw is the capital of Poland."),
    ("Athens", "Greece", "Athens, the capital of Greece, is one of the oldest cities."),
    ("Dublin", "Ireland", "The capital of Ireland is Dublin. Ireland is an island nation."),
    ("Oslo", "Norway", "Norway is famous for fjords. Its capital is Oslo."),
    ("Prague", "Czechia", "Prague is the capital of Czechia and lies on the Vltava."),
    ("Bern", "Switzerland", "Switzerland has four national languages. Bern is its capital."),
]


def squad_prompt(country: str, context: str) -> str:
    return f"Context: {context}\nQuestion: What is the capital of {country}?"


def dataset_lines() -> list[str]:
    return [
        json.dumps(
            {
                "contents": [
                    {"role": "user", "parts": [{"text": squad_prompt(country, ctx)}]},
                    {"role": "model", "parts": [{"text": answer}]},
                ]
            }
        )
        for answer, country, ctx in FACTS
    ]


@pytest.fixture(scope="session")
def emu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorProcess]:
    with run_emulator(tmp_path_factory.mktemp("emulator"), seconds_per_epoch=SPE) as e:
        yield e


@pytest.fixture(scope="session")
def train_uri(emu: EmulatorProcess) -> str:
    return emu.upload(("\n".join(dataset_lines()) + "\n").encode(), "gs://data/train.jsonl")


def _opts(emu: EmulatorProcess) -> dict[str, Any]:
    return {
        "transport": "rest",
        "client_options": ClientOptions(api_endpoint=emu.url),
        "credentials": AnonymousCredentials(),  # type: ignore[no-untyped-call]
    }


@pytest.fixture
def tuning(emu: EmulatorProcess) -> aiplatform_v1.GenAiTuningServiceClient:
    return aiplatform_v1.GenAiTuningServiceClient(**_opts(emu))


@pytest.fixture
def models(emu: EmulatorProcess) -> aiplatform_v1.ModelServiceClient:
    return aiplatform_v1.ModelServiceClient(**_opts(emu))


@pytest.fixture
def endpoints(emu: EmulatorProcess) -> aiplatform_v1.EndpointServiceClient:
    return aiplatform_v1.EndpointServiceClient(**_opts(emu))


@pytest.fixture
def prediction(emu: EmulatorProcess) -> aiplatform_v1.PredictionServiceClient:
    return aiplatform_v1.PredictionServiceClient(**_opts(emu))


def gapic(emu: EmulatorProcess, cls: Any) -> Any:
    return cls(**_opts(emu))


TERMINAL = {
    aiplatform_v1.JobState.JOB_STATE_SUCCEEDED,
    aiplatform_v1.JobState.JOB_STATE_FAILED,
    aiplatform_v1.JobState.JOB_STATE_CANCELLED,
}


def wait_job(
    client: aiplatform_v1.GenAiTuningServiceClient,
    name: str,
    timeout: float = 20.0,
    until: Callable[[aiplatform_v1.TuningJob], bool] | None = None,
) -> aiplatform_v1.TuningJob:
    done = until or (lambda j: j.state in TERMINAL)
    deadline = time.monotonic() + timeout
    while True:
        job = client.get_tuning_job(name=name)
        if done(job):
            return job
        if time.monotonic() > deadline:
            raise AssertionError(f"job {name} still {job.state.name} after {timeout}s")
        time.sleep(0.05)


def new_job(
    client: aiplatform_v1.GenAiTuningServiceClient,
    emu: EmulatorProcess,
    train_uri: str,
    *,
    labels: dict[str, str] | None = None,
    base_model: str = BASE_MODEL,
    epochs: int = 3,
    **spec: Any,
) -> aiplatform_v1.TuningJob:
    job = aiplatform_v1.TuningJob(
        base_model=base_model,
        supervised_tuning_spec=aiplatform_v1.SupervisedTuningSpec(
            training_dataset_uri=train_uri,
            hyper_parameters=aiplatform_v1.SupervisedHyperParameters(epoch_count=epochs),
            **spec,
        ),
        tuned_model_display_name="capitals",
        labels=labels or {},
    )
    return client.create_tuning_job(parent=emu.parent, tuning_job=job)


def error_status(exc: Any) -> str:
    """The canonical status string of a REST error raised by api-core."""
    return str(exc.response.json()["error"]["status"])


__all__ = ["FACTS", "Path"]
