"""Test helpers."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from google import genai
from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import aiplatform_v1
from google.genai import types
from google.oauth2.credentials import Credentials

from gemini_tuning.testing import EmulatorProcess, run_emulator
from tests.support.engine import REPO, write_examples

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


def client_options(emu: EmulatorProcess) -> dict[str, Any]:
    return {
        "transport": "rest",
        "client_options": ClientOptions(api_endpoint=emu.url),
        "credentials": AnonymousCredentials(),  # type: ignore[no-untyped-call]
    }


def gapic(emu: EmulatorProcess, cls: Any) -> Any:
    return cls(**client_options(emu))


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


def genai_client(emu: EmulatorProcess, api_version: str | None = None) -> genai.Client:
    options = (
        types.HttpOptions(base_url=emu.url, api_version=api_version)
        if api_version
        else types.HttpOptions(base_url=emu.url)
    )
    return genai.Client(
        vertexai=True,
        project=emu.project,
        location=emu.location,
        credentials=Credentials(token="x"),  # type: ignore[no-untyped-call]
        http_options=options,
    )


BASE = "models/gemini-1.5-flash-001-tuning"

TUTORIAL = [json.loads(line) for line in (REPO / "stacks/data/number-successor.jsonl").open()]


TRAINING_URI = "gs://b/t.jsonl"


@contextmanager
def emulator_with_training_file(
    tmp_path_factory: pytest.TempPathFactory, seconds_per_epoch: float
) -> Iterator[EmulatorProcess]:
    with run_emulator(
        tmp_path_factory.mktemp("emu"), seconds_per_epoch=seconds_per_epoch
    ) as emulator:
        emulator.upload(write_examples(tmp_path_factory.mktemp("data") / "t.jsonl"), TRAINING_URI)
        yield emulator


def wait_genai_job(client: genai.Client, job: types.TuningJob, seconds: float = 20) -> Any:
    """The google-genai tuning job once it has ended (read again every 50 ms, at most
    ``seconds``)."""
    deadline = time.monotonic() + seconds
    while not job.has_ended:
        assert time.monotonic() < deadline, f"{job.name} still {job.state} after {seconds} s"
        time.sleep(0.05)
        job = client.tunings.get(name=str(job.name))
    return job
