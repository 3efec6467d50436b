"""The recorder (gemini_tuning/_recording.py): what it writes, what it never writes, and that
the shipped recording is what `python -m tests.recorded.make` makes."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import requests

from gemini_tuning import _recording
from gemini_tuning._recording import REDACTED, Recorder, Redactor
from tests.recorded import make
from tests.recorded.replay import load

HERE = Path(__file__).resolve().parent
JOB = "projects/my-proj/locations/us-central1/tuningJobs/8821"
JOB_REDACTED = "projects/PROJECT/locations/us-central1/tuningJobs"
MODEL = "projects/123456789012/locations/us-central1/models/5551234@2"


def _answered(
    method: str, url: str, *, body: Any = None, answer: Any = None, status: int = 200, **kw: Any
) -> requests.Response:
    """A response as the clients' session hands it to the hook (no network)."""
    request = requests.Request(method, url, json=body, **kw).prepare()
    response = requests.Response()
    response.request = request
    response.status_code = status
    response._content = json.dumps(answer).encode() if answer is not None else b""
    return response


def test_projects_buckets_and_ids_become_placeholders_the_same_id_the_same_one() -> None:
    redactor = Redactor(projects=("my-proj",), buckets=("team-data",))
    out = redactor.json(
        {
            "name": JOB,
            "model": MODEL,
            "again": "projects/123456789012/locations/us-central1/models/5551234",
            "uri": "gs://team-data/train.jsonl",
            "message": "bucket team-data of project my-proj is not readable",
            "base": f"{JOB.rsplit('/', 2)[0]}/publishers/google/models/gemini-2.5-flash",
        }
    )
    job_id, model_id = redactor.id("8821"), redactor.id("5551234")
    assert job_id != model_id
    assert out["name"] == f"projects/PROJECT/locations/us-central1/tuningJobs/{job_id}"
    assert out["model"] == f"projects/PROJECT/locations/us-central1/models/{model_id}@2"
    assert out["again"] == f"projects/PROJECT/locations/us-central1/models/{model_id}"
    assert Redactor().id("8821") == job_id  # in any process's recording
    assert out["uri"] == "gs://BUCKET/train.jsonl"
    assert out["message"] == "bucket BUCKET of project PROJECT is not readable"
    assert out["base"].endswith("/publishers/google/models/gemini-2.5-flash")


def test_user_text_is_redacted_with_its_json_type_and_bare_ids_follow_their_placeholder() -> None:
    redactor = Redactor()
    redactor.json({"name": "projects/p1/locations/l/endpoints/77123/x/deployed991"})
    out = redactor.json(
        {
            "contents": [{"role": "user", "parts": [{"text": "my secret prompt"}]}],
            "displayName": "Alice's model",
            "description": "for the board",
            "deployedModels": [{"id": "4455667", "model": "m"}],
            "trafficSplit": {"4455667": 100},
            "etag": "abc123",
            "labels": {"team": "search"},
            "versionId": "1",
        }
    )
    assert out["contents"][0]["parts"][0]["text"] == REDACTED
    assert out["displayName"] == out["description"] == REDACTED
    dm_id = out["deployedModels"][0]["id"]
    assert dm_id.startswith("ID_")
    assert out["trafficSplit"] == {dm_id: 100}
    assert out["etag"].startswith("ID_")
    assert out["labels"] == {"team": "search"}
    assert out["versionId"] == "1"


def test_an_id_seen_before_is_replaced_inside_a_list_filter_too() -> None:
    """DeleteTuningJob has no RPC, so a job's endpoints are found by a label filter naming the
    job id: left raw, the replay would ask for the recorded job, not the one it made."""
    redactor = Redactor(projects=("my-project",))
    job = redactor.string(
        "projects/my-project/locations/us-central1/tuningJobs/6470568535812941714"
    )
    placeholder = job.rsplit("/", 1)[1]
    assert placeholder.startswith("ID_")
    query = 'labels.google-vertex-llm-tuning-job-id="6470568535812941714"'
    assert redactor.string(query) == f'labels.google-vertex-llm-tuning-job-id="{placeholder}"'


def test_gemini_api_names_and_examples_are_redacted() -> None:
    redactor = Redactor()
    path, query = redactor.url(
        "https://generativelanguage.googleapis.com/v1beta/tunedModels?tunedModelId=capitals-ab12-1"
    )
    answer = redactor.json(
        {
            "name": "tunedModels/capitals-ab12-1/operations/op-7",
            "tuningTask": {"trainingData": {"examples": {"examples": [
                {"textInput": "what is 2+2", "output": "4"},
            ]}}},
        }
    )  # fmt: skip
    model_id = query["tunedModelId"]
    assert path == "/v1beta/tunedModels"
    assert model_id.startswith("ID_")
    assert answer["name"].startswith(f"tunedModels/{model_id}/operations/")
    assert answer["tuningTask"]["trainingData"]["examples"]["examples"] == [
        {"textInput": REDACTED, "output": REDACTED}
    ]


def test_no_credential_reaches_the_recording(tmp_path: Path) -> None:
    recorder = Recorder(tmp_path / "r.json", Redactor(projects=("my-proj",)), made_against="x")
    recorder.record(
        _answered(
            "POST",
            f"https://us-central1-aiplatform.googleapis.com/v1/{JOB}:cancel",
            params={"key": "AIzaSECRETKEY", "$alt": "json;enum-encoding=int"},
            headers={"Authorization": "Bearer ya29.SECRETTOKEN", "x-goog-api-key": "AIzaHEADER"},
            body={},
            answer={},
        ),
        timeout=30,
    )
    written = (tmp_path / "r.json").read_text()
    for secret in ("SECRET", "AIza", "ya29", "Bearer", "googleapis.com", "my-proj", "8821"):
        assert secret not in written
    (exchange,) = json.loads(written)["exchanges"]
    job_id = Redactor().id("8821")
    assert (
        exchange["path"] == f"/v1/projects/PROJECT/locations/us-central1/tuningJobs/{job_id}:cancel"
    )
    assert exchange["query"] == {"$alt": "json;enum-encoding=int"}


def test_a_recording_that_fails_never_fails_the_call(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("")
    recorder = Recorder(blocked / "r.json", Redactor(), made_against="x")  # cannot be made
    assert recorder.record(_answered("GET", "http://127.0.0.1:1/v1/x", answer={})) is None
    assert recorder.record(_answered("GET", "http://127.0.0.1:1/v1/y", answer={})) is None
    assert capsys.readouterr().err.count("recording to") == 1


def test_without_the_variable_nothing_is_recorded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(_recording.ENV, raising=False)
    assert _recording.recorder(project="p", bucket=None, made_against="x") is None


def _steps(recording: dict[str, Any]) -> list[tuple[str, str, int]]:
    """The distinct calls in the order each first came: how many polls a job took (and so
    how often a poll pair such as model + operations repeats) depends on timing."""
    steps: list[tuple[str, str, int]] = []
    for ex in recording["exchanges"]:
        step = (ex["method"], ex["path"].split("/ID_")[0], ex["status"])
        if step not in steps:
            steps.append(step)
    return steps


@pytest.mark.emulator
@pytest.mark.parametrize("which", sorted(make.OUTPUTS))
def test_make_records_the_provider_backend_as_shipped(tmp_path: Path, which: str) -> None:
    made = load(make.make(tmp_path / "made.json", which))
    shipped = load(make.OUTPUTS[which])
    assert made["made_against"] == shipped["made_against"] == "emulator"
    assert _steps(made) == _steps(shipped)
    methods = {(m, s) for m, _, s in _steps(made)}
    assert {("POST", 200), ("DELETE", 200), ("GET", 404)} <= methods
    assert "recording-api-key" not in make.OUTPUTS[which].read_text()


def test_the_record_option_sets_the_variable_the_provider_processes_inherit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gemini_tuning import cli

    monkeypatch.setenv(_recording.ENV, "before")  # restored (unset) after the test
    monkeypatch.chdir(tmp_path)
    cli.main(["--record", "recs", "emulator", "status", "--state-dir", str(tmp_path / "emu")])
    assert os.environ[_recording.ENV] == str(tmp_path / "recs")
