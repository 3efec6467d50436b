"""TuningJob and TunedModel on the gemini-api backend, through the real engine, against the
emulator's Gemini API `tunedModels` surface (issue 7)."""

from __future__ import annotations

import itertools
import json
import re
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pulumi
import pytest
from pulumi import automation as auto

from gemini_tuning.backends import NotFoundError, Settings
from gemini_tuning.backends.gemini_api import GeminiApiBackend
from gemini_tuning.testing import EmulatorProcess
from tests.support.engine import REPO, Run, emulator_config, inline_stack, resources_of

pytestmark = [pytest.mark.engine, pytest.mark.emulator]

API_KEY = "AIzaSy-test-key-9f8e7d6c5b4a"  # set as a config secret; must never leak
BASE_MODEL = "models/gemini-1.5-flash-001-tuning"
CREATE = "ModelService.CreateTunedModel"
EXAMPLE = REPO / "stacks" / "data" / "number-successor.jsonl"


def job_program(data: Path, **overrides: Any) -> Callable[[], None]:
    def program() -> None:
        from gemini_tuning import TuningJob

        inputs: dict[str, Any] = {
            "backend": "gemini-api",
            "base_model": BASE_MODEL,
            "training_dataset": str(data),
            "epoch_count": 5,
            "batch_size": 2,
            "learning_rate": 0.001,
            "tuned_model_display_name": "number generator model",
            "description": "the next number, in words or digits",
            "poll_interval_seconds": 0.2,
        }
        inputs.update(overrides)
        job = TuningJob("numbers", **inputs)
        pulumi.export(
            "job",
            {
                k: getattr(job, k)
                for k in (
                    "job_name",
                    "job_state",
                    "tuned_model",
                    "effective_epoch_count",
                    "epochs_completed",
                    "loss_per_epoch",
                    "description",
                    "training_dataset_examples",
                )
            },
        )

    return program


def gemini_config(emu: EmulatorProcess, endpoint: str | None = None) -> dict[str, str]:
    return {**emulator_config(emu), "gemini-tuning:geminiApiEndpoint": endpoint or emu.url}


@contextmanager
def gemini_stack(
    tmp: Path,
    pulumi_bin: Path,
    emu: EmulatorProcess,
    program: Callable[[], None],
    endpoint: str | None = None,
) -> Iterator[auto.Stack]:
    with inline_stack(
        tmp / "engine", pulumi_bin, program, config=gemini_config(emu, endpoint)
    ) as stack:
        stack.set_config("gemini-tuning:geminiApiKey", auto.ConfigValue(API_KEY, secret=True))
        yield stack


def assert_key_kept_secret(stack: auto.Stack, engine_dir: Path) -> None:
    """The key is in no file of the state backend or workspace (only ciphertext is stored), and
    even decrypted (`stack export --show-secrets`, which the Automation API runs) it is only the
    stack config the engine keeps in its default dynamic provider, never a resource's input or
    output."""
    files = [p for p in engine_dir.rglob("*") if p.is_file()]
    assert any(p.suffix == ".json" and "backend" in p.parts for p in files)
    for path in files:
        assert API_KEY.encode() not in path.read_bytes(), path
    resources = (stack.export_stack().deployment or {}).get("resources", [])
    holders = [r["type"] for r in resources if API_KEY in json.dumps(r)]
    assert set(holders) <= {"pulumi:providers:pulumi-python"}, holders
    ours = [r for r in resources if "pulumi-python:dynamic" in r["type"]]
    assert ours
    assert all(API_KEY not in json.dumps(r) for r in ours)


def backend(emu: EmulatorProcess) -> GeminiApiBackend:
    settings = Settings(
        project=emu.project,
        location=emu.location,
        api_endpoint=emu.url,
        gemini_api_endpoint=emu.url,
        gemini_api_key="test-side-key",
    )
    return GeminiApiBackend(settings)


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return Path(shutil.copy(EXAMPLE, tmp_path / "number-successor.jsonl"))


def test_up_waits_with_percent_outputs_and_clean_preview(
    tmp_path: Path, pulumi_bin: Path, emulator: EmulatorProcess, data: Path
) -> None:
    emulator.configure(seconds_per_epoch=0.6)  # slow enough that RUNNING polls are seen
    run = Run()
    with gemini_stack(tmp_path, pulumi_bin, emulator, job_program(data)) as stack:
        job = stack.up(**run.kwargs()).outputs["job"].value
        assert job["job_state"] == "SUCCEEDED"
        assert re.fullmatch(r"tunedModels/numbers-[0-9a-f]{16}-1", job["job_name"])
        assert job["tuned_model"] == job["job_name"]
        assert job["effective_epoch_count"] == 5
        assert job["epochs_completed"] == 5
        assert job["description"] == "the next number, in words or digits"  # intact
        assert job["training_dataset_examples"] == 15
        losses = job["loss_per_epoch"]
        assert len(losses) == 5
        assert all(a > b for a, b in itertools.pairwise(losses))
        assert re.search(r"numbers: RUNNING epoch \d/5 \d+% \(tunedModels/", run.text), run.text
        assert "numbers: SUCCEEDED epoch 5/5 100%" in run.text
        assert "15 examples; at least 20 are recommended" in run.text  # a warning, not a failure
        assert "no tunable base model" not in run.text  # the emulator is not the real service
        assert emulator.calls(CREATE) == 1

        assert backend(emulator).generate(job["tuned_model"], "ninety nine", None) == "one hundred"

        stack.preview(expect_no_changes=True, **run.kwargs())
        stack.refresh(**run.kwargs())
        stack.preview(expect_no_changes=True, **run.kwargs())
        assert emulator.calls(CREATE) == 1

        assert_key_kept_secret(stack, tmp_path / "engine")
        assert API_KEY not in run.text
        assert API_KEY not in json.dumps(job)
    log = emulator.state_dir / "emulator.log"
    assert not log.exists() or API_KEY not in log.read_text()


def test_epoch_change_replaces_and_destroy_deletes_the_tuned_model(
    tmp_path: Path, pulumi_bin: Path, emulator: EmulatorProcess, data: Path
) -> None:
    run = Run()
    with gemini_stack(tmp_path, pulumi_bin, emulator, job_program(data)) as stack:
        first = stack.up(**run.kwargs()).outputs["job"].value
        stack.workspace.program = job_program(data, epoch_count=3)
        preview = stack.preview(diff=True, **run.kwargs())
        assert preview.change_summary.get("replace") == 1
        assert "replace: epoch_count changed (5 -> 3)" in run.text
        second = stack.up(**run.kwargs()).outputs["job"].value
        assert second["effective_epoch_count"] == 3
        assert len(second["loss_per_epoch"]) == 3
        assert second["tuned_model"] != first["tuned_model"]
        assert emulator.calls(CREATE) == 2
        client = backend(emulator)
        with pytest.raises(NotFoundError):
            client.get_model(first["tuned_model"])  # the replaced model was deleted
        assert client.get_model(second["tuned_model"]).name == second["tuned_model"]

        stack.destroy(**run.kwargs())
        with pytest.raises(NotFoundError):
            client.get_model(second["tuned_model"])
        assert f"deleted tuned model {second['tuned_model']}" in run.text
        assert resources_of(stack, "vertex:TuningJob") == []
        assert API_KEY not in run.text


def test_a_lost_create_answer_adopts_the_model_it_made(
    tmp_path: Path, pulumi_bin: Path, emulator: EmulatorProcess, data: Path
) -> None:
    """Issue 22 item 10: the create reaches the service but its answer is lost (503 after the
    effect); the retried create names the same tunedModelId, answers ALREADY_EXISTS, and the
    `up` adopts that model: it succeeds with one tuned model, not a failure or a second one."""
    emulator.add_fault("503", method="CreateTunedModel", when="after", next=1)
    with gemini_stack(tmp_path, pulumi_bin, emulator, job_program(data)) as stack:
        job = stack.up(color="never").outputs["job"].value
        assert job["job_state"] == "SUCCEEDED"
        assert re.fullmatch(r"tunedModels/numbers-[0-9a-f]{16}-1", job["job_name"])
        assert emulator.calls(CREATE) == 2  # the lost one, and the retry answered 409
        listed = [m.name for m in backend(emulator)._list()]
        assert [n for n in listed if n.startswith("tunedModels/numbers-")] == [job["job_name"]]
        stack.destroy(color="never")


def test_multi_turn_example_fails_preview_at_its_line(
    tmp_path: Path, pulumi_bin: Path, emulator: EmulatorProcess
) -> None:
    lines = []
    for raw in EXAMPLE.read_text().splitlines():
        pair = json.loads(raw)
        lines.append(
            {
                "contents": [
                    {"role": "user", "parts": [{"text": pair["text_input"]}]},
                    {"role": "model", "parts": [{"text": pair["output"]}]},
                ]
            }
        )
    lines[2]["contents"] += [
        {"role": "user", "parts": [{"text": "and the next one?"}]},
        {"role": "model", "parts": [{"text": "-1"}]},
    ]
    data = tmp_path / "chat.jsonl"
    data.write_text("".join(json.dumps(line) + "\n" for line in lines))
    emulator.reset_stats()
    run = Run()
    with (
        gemini_stack(tmp_path, pulumi_bin, emulator, job_program(data)) as stack,
        pytest.raises(auto.errors.CommandError) as err,
    ):
        stack.preview(**run.kwargs())
    text = str(err.value) + run.text
    assert f"{data}:3: contents[2]: the Gemini API tunes on single-turn" in text
    assert emulator.stats()["total"] == 0  # refused before any API call


def test_refused_create_surfaces_the_service_message_verbatim(
    tmp_path: Path, pulumi_bin: Path, emulator: EmulatorProcess, data: Path
) -> None:
    emulator.configure(gemini_api_tuning_retired=True)  # as the real service since May 2025
    with (
        gemini_stack(tmp_path, pulumi_bin, emulator, job_program(data)) as stack,
        pytest.raises(auto.errors.CommandError) as err,
    ):
        stack.up(color="never")
    assert (
        f"{BASE_MODEL} is not found for API version v1beta, or is not supported for "
        "createTunedModel. Call ListModels to see the list of available models and their "
        "supported methods."
    ) in str(err.value)
    assert API_KEY not in str(err.value)


def test_preview_against_the_real_gemini_api_says_vertex_is_the_supported_path(
    tmp_path: Path, pulumi_bin: Path, emulator: EmulatorProcess, data: Path
) -> None:
    """Preview never calls the service, so this runs offline against the real endpoint name."""
    real = "https://generativelanguage.googleapis.com"
    run = Run()
    with gemini_stack(tmp_path, pulumi_bin, emulator, job_program(data), endpoint=real) as stack:
        stack.preview(**run.kwargs())
    assert (
        "Google has offered no tunable base model in the Gemini API since May 2025" in run.text
    ), run.text
    assert "Vertex AI (backend: vertex) is the supported path" in run.text
    assert API_KEY not in run.text


def model_program(model: str, **overrides: Any) -> Callable[[], None]:
    def program() -> None:
        from gemini_tuning import TunedModel

        inputs: dict[str, Any] = {"backend": "gemini-api", "model": model}
        inputs.update(overrides)
        managed = TunedModel("numbers-model", **inputs)
        pulumi.export("model_name", managed.model_name)

    return program


def test_tuned_model_manages_by_name_updates_and_never_deletes(
    tmp_path: Path, pulumi_bin: Path, emulator: EmulatorProcess, data: Path
) -> None:
    """A tuned model made outside Pulumi (here by the backend directly) is managed by name; only
    a TuningJob deletes a model, and promotion (adopted) is refused: no claim could be seen."""
    from gemini_tuning.backends import JobRequest
    from gemini_tuning.datasets import iter_file_text_pairs

    client = backend(emulator)
    request = JobRequest(
        display_name="made by hand",
        base_model=BASE_MODEL,
        pre_tuned_model=None,
        training_uri=str(data),
        validation_uri=None,
        labels={},
        inline_examples=list(iter_file_text_pairs(data)),
    )
    name = client.submit_job(request).name
    run = Run()
    with gemini_stack(tmp_path, pulumi_bin, emulator, model_program(name, adopted=True)) as stack:
        with pytest.raises(auto.errors.CommandError) as refused:
            stack.preview(color="never")
        assert "promotion is for Vertex models only" in str(refused.value)

        program = model_program(name, display_name="number successor", description="v1")
        stack.workspace.program = program
        up = stack.up(**run.kwargs())
        assert up.outputs["model_name"].value == name
        model = client.get_model(name)
        assert (model.display_name, model.description) == ("number successor", "v1")

        stack.workspace.program = model_program(
            name, display_name="number successor", description="v2"
        )
        up = stack.up(**run.kwargs())
        assert up.summary.resource_changes.get("update") == 1
        assert client.get_model(name).description == "v2"
        stack.preview(expect_no_changes=True, **run.kwargs())

        stack.destroy(**run.kwargs())
        assert client.get_model(name).name == name  # only its TuningJob deletes a model
        assert "left model" in run.text
    assert API_KEY not in run.text
