"""The backends' tests share one way to start the emulator with a training file in its bucket."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from gemini_tuning.testing import EmulatorProcess, run_emulator
from tests.engine.conftest import write_examples

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
