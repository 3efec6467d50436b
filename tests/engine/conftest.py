"""Fixtures for engine tests that run against the local emulator."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gemini_tuning.testing import EmulatorProcess, run_emulator
from tests.support.engine import BUCKET


@pytest.fixture(scope="session")
def _shared_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorProcess]:
    with run_emulator(tmp_path_factory.mktemp("emulator"), seconds_per_epoch=0.05) as emu:
        yield emu


@pytest.fixture
def emulator(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[EmulatorProcess]:
    """The emulator as it starts, with the dataset bucket: one process for the session, fully
    reset before each test (resources, objects, settings, counts; emulator/_app.py `reset`).
    A test marked ``private_emulator`` (it kills processes) gets one of its own instead."""
    if request.node.get_closest_marker("private_emulator"):
        with run_emulator(tmp_path / "emulator", seconds_per_epoch=0.05) as emu:
            emu.storage_client().create_bucket(BUCKET)
            yield emu
        return
    emu = request.getfixturevalue("_shared_emulator")
    emu.reset(gcs=True, settings=True)
    emu.storage_client().create_bucket(BUCKET)
    yield emu
