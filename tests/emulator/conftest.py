"""Fixtures: one emulator subprocess for the module tests, official clients pointed at it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from google.cloud import aiplatform_v1

from gemini_tuning.testing import EmulatorProcess, run_emulator
from tests.support.emulator import (
    FACTS,
    SPE,
    client_options,
    dataset_lines,
)


@pytest.fixture(scope="session")
def emu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorProcess]:
    with run_emulator(tmp_path_factory.mktemp("emulator"), seconds_per_epoch=SPE) as e:
        yield e


@pytest.fixture(scope="session")
def train_uri(emu: EmulatorProcess) -> str:
    return emu.upload(("\n".join(dataset_lines()) + "\n").encode(), "gs://data/train.jsonl")


@pytest.fixture
def tuning(emu: EmulatorProcess) -> aiplatform_v1.GenAiTuningServiceClient:
    return aiplatform_v1.GenAiTuningServiceClient(**client_options(emu))


@pytest.fixture
def models(emu: EmulatorProcess) -> aiplatform_v1.ModelServiceClient:
    return aiplatform_v1.ModelServiceClient(**client_options(emu))


@pytest.fixture
def endpoints(emu: EmulatorProcess) -> aiplatform_v1.EndpointServiceClient:
    return aiplatform_v1.EndpointServiceClient(**client_options(emu))


@pytest.fixture
def prediction(emu: EmulatorProcess) -> aiplatform_v1.PredictionServiceClient:
    return aiplatform_v1.PredictionServiceClient(**client_options(emu))


__all__ = ["FACTS", "Path"]
