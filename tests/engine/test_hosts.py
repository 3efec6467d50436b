"""The host of every call, through the real engine (issue 22 items 1 and 8): a stack in the
`us` jurisdiction reaches only `aiplatform.us.rep.googleapis.com` (the emulator sees the host the
provider would have asked); preview counts the jobs an update starts against the per-project
limit; a definition whose base model Google does not tune in the stack's location fails preview
at its file and line."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pulumi
import pytest
from pulumi import automation as auto

from gemini_tuning.testing import EmulatorProcess, run_emulator
from tests.support.engine import (
    Run,
    copy_project,
    emulator_config,
    emulator_project_stack,
    engine_env,
    inline_stack,
    job_inputs,
    write_examples,
)

pytestmark = [pytest.mark.engine, pytest.mark.emulator]

US_HOST = "aiplatform.us.rep.googleapis.com"


def two_jobs(data: Path) -> Callable[[], None]:
    def program() -> None:
        from gemini_tuning import TunedModel, TuningJob

        for name in ("qa", "qb"):
            job = TuningJob(name, **job_inputs(data, epoch_count=1))
            TunedModel(f"{name}-model", model=job.tuned_model, endpoint=job.tuned_model_endpoint)
            pulumi.export(name, job.tuned_model)

    return program


def test_a_us_stack_calls_only_the_us_jurisdiction_host(
    tmp_path: Path, pulumi_bin: Path, emulator: EmulatorProcess
) -> None:
    data = write_examples(tmp_path / "train.jsonl")
    config = {
        **emulator_config(emulator),
        "gemini-tuning:location": "us",
        "gemini-tuning:maxConcurrentJobs": "1",
    }
    with inline_stack(tmp_path / "engine", pulumi_bin, two_jobs(data), config=config) as stack:
        preview = Run()
        stack.preview(**preview.kwargs())
        started = re.findall(
            rf"(q[ab]): this update starts tuning job (\d) in project {emulator.project} "
            r"\(the limit counts every location of the project: gemini-tuning:"
            r"maxConcurrentJobs 1 at once(; this one waits in the queue)?",
            "\n".join(preview.diagnostics),
        )
        # The engine checks resources concurrently: which one is first is not fixed.
        assert sorted((n, bool(queued)) for _, n, queued in started) == [
            ("1", False),
            ("2", True),
        ], preview.text
        assert sorted(name for name, _, _ in started) == ["qa", "qb"]
        emulator.reset_stats()
        up = stack.up(**Run().kwargs())
        for name in ("qa", "qb"):
            assert "/locations/us/models/" in up.outputs[name].value
        stack.destroy(**Run().kwargs())  # undeploy and delete: long-running operations too
        stats = emulator.stats()
    hosts: dict[str, int] = stats["hosts"]
    assert hosts.get(f"{US_HOST} GenAiTuningService.CreateTuningJob") == 2
    assert any(key.startswith(f"{US_HOST} ModelService.") for key in hosts), hosts
    assert [key for key in hosts if not key.startswith(f"{US_HOST} ")] == []
    assert sum(hosts.values()) == stats["total"], (hosts, stats["requests"])


def test_a_definition_google_does_not_tune_in_the_location_fails_preview_at_its_line(
    tmp_path: Path, pulumi_bin: Path
) -> None:
    project = copy_project(tmp_path / "project")
    definition = project / "stacks" / "models" / "squad-qa.yaml"
    text = definition.read_text().replace("gemini-2.5-flash", "gemini-3.5-flash")
    definition.write_text(text)
    line = next(n for n, row in enumerate(text.splitlines(), 1) if row.startswith("base_model:"))
    with run_emulator(tmp_path / "emulator") as emu:
        emu.storage_client().create_bucket("gt-hosts")
        stack = emulator_project_stack(
            project,
            engine_env(tmp_path, pulumi_bin),
            pulumi_bin,
            emu,
            "dev",
            bucket="gt-hosts",
            config={
                "gemini-tuning:models": json.dumps(["squad-qa"]),
                "gemini-tuning:location": "asia-east1",
            },
        )
        with pytest.raises(auto.CommandError) as failed:
            stack.preview(color="never")
        created = emu.calls("GenAiTuningService.CreateTuningJob")
    message = str(failed.value)
    assert (
        f"squad-qa.yaml:{line}: base_model: base model gemini-3.5-flash cannot be tuned in "
        "location 'asia-east1'" in message
    ), message
    assert "us-central1, europe-west4, us, eu" in message
    assert "Traceback" not in message
    assert created == 0
