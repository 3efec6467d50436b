"""Every recording under tests/recorded/ replayed against the emulator: each live answer must
have the recorded shape (README.md here). And the check is shown to bite: a copy of a recording
edited to expect a field the emulator does not return, or another JSON type, fails."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gemini_tuning.testing import EmulatorProcess, run_emulator
from tests.recorded.replay import Replayer, ReplayError, load

HERE = Path(__file__).resolve().parent
RECORDINGS = sorted(HERE.glob("*.json"))
LIFECYCLE = HERE / "emulator-lifecycle.json"

pytestmark = pytest.mark.emulator


@pytest.fixture(scope="module")
def emu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorProcess]:
    with run_emulator(tmp_path_factory.mktemp("replay"), seconds_per_epoch=0.02) as emulator:
        yield emulator


@pytest.fixture
def replayer(emu: EmulatorProcess) -> Replayer:
    return Replayer(emu, poll_timeout=20.0)


def test_the_shipped_recording_is_here() -> None:
    assert LIFECYCLE in RECORDINGS


@pytest.mark.parametrize("path", RECORDINGS, ids=[p.name for p in RECORDINGS])
def test_the_emulator_answers_as_recorded(replayer: Replayer, path: Path) -> None:
    problems = replayer.run(load(path))
    assert not problems, "\n".join(problems)


def _first(recording: dict[str, Any], method: str, path_end: str, status: int = 200) -> Any:
    """The recorded answer of the first ``method`` exchange whose path ends with ``path_end``."""
    for exchange in recording["exchanges"]:
        if (
            exchange["method"] == method
            and exchange["path"].endswith(path_end)
            and exchange["status"] == status
        ):
            return exchange["response"]
    raise AssertionError(f"no {method} …{path_end} in the recording")


def _model_get(recording: dict[str, Any]) -> dict[str, Any]:
    for exchange in recording["exchanges"]:
        if (exchange["method"], exchange["status"]) == ("GET", 200) and "/models/" in exchange[
            "path"
        ]:
            answer: dict[str, Any] = exchange["response"]
            return answer
    raise AssertionError("no model read in the recording")


def test_a_field_the_emulator_no_longer_returns_fails_the_replay(replayer: Replayer) -> None:
    edited = copy.deepcopy(load(LIFECYCLE))
    _model_get(edited)["artifactUri"] = "gs://BUCKET/model"  # the emulator returns none
    problems = replayer.run(edited)
    assert any(".artifactUri: missing" in p for p in problems), problems


def test_a_changed_json_type_fails_the_replay(replayer: Replayer) -> None:
    edited = copy.deepcopy(load(LIFECYCLE))
    _model_get(edited)["versionAliases"] = "default"  # an array in the emulator's answer
    problems = replayer.run(edited)
    assert any(".versionAliases: array where the recording has string" in p for p in problems), (
        problems
    )


def test_a_changed_enum_value_fails_the_replay(replayer: Replayer) -> None:
    edited = copy.deepcopy(load(LIFECYCLE))
    create = _first(edited, "POST", "/tuningJobs")
    create["supervisedTuningSpec"]["hyperParameters"]["adapterSize"] = 3  # EIGHT, not FOUR
    problems = replayer.run(edited)
    assert any(".adapterSize: 2 where the recording has 3" in p for p in problems), problems


def test_a_changed_error_message_fails_the_replay(replayer: Replayer) -> None:
    edited = copy.deepcopy(load(LIFECYCLE))
    error = _first(edited, "GET", "@1", status=404)["error"]
    error["message"] = error["message"].replace("not found", "does not exist")
    problems = replayer.run(edited)
    assert any("error message" in p for p in problems), problems


def test_an_id_no_answer_named_cannot_be_replayed(replayer: Replayer) -> None:
    edited = copy.deepcopy(load(LIFECYCLE))
    edited["exchanges"] = [e for e in edited["exchanges"] if e["method"] != "POST"][:3]
    with pytest.raises(ReplayError, match="no earlier answer named"):
        replayer.run(edited)
