"""`pulumi import` of tuning jobs and tuned models made by hand (out of band, straight through
the Vertex API of the emulator), through the provider plugin and a Pulumi YAML program
(issue 15): the generated program previews with no changes, and the imported resources are
owned as if this stack had created them (_claims.py)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from pulumi import automation as auto

from gemini_tuning import _claims as claims
from gemini_tuning import backends
from gemini_tuning.backends import JobRequest, JobStatus
from gemini_tuning.backends.vertex import VertexBackend
from gemini_tuning.testing import EmulatorProcess
from tests.support.engine import BUCKET, Run, write_examples
from tests.support.plugin import backend, plugin_env, yaml_host_dir, yaml_stack

pytestmark = [pytest.mark.engine, pytest.mark.emulator]

JOB = "gemini-tuning:index:TuningJob"
MODEL = "gemini-tuning:index:TunedModel"


def tune_by_hand(vertex: VertexBackend, emu: EmulatorProcess, tmp: Path, name: str) -> JobStatus:
    """A job submitted without Pulumi, as a person would: no identity labels."""
    uri = emu.upload(write_examples(tmp / f"{name}.jsonl"), f"gs://{BUCKET}/by-hand/{name}.jsonl")
    request = JobRequest(
        display_name=name,
        base_model="gemini-2.5-flash",
        pre_tuned_model=None,
        training_uri=uri,
        validation_uri=None,
        labels={"team": "search"},
        epoch_count=2,
        adapter_size=4,
    )
    status = vertex.submit_job(request)
    deadline = time.monotonic() + 60
    while not (status := vertex.get_job(status.name)).succeeded:
        assert time.monotonic() < deadline, status
        time.sleep(0.1)
    return status


def test_import_a_job_and_a_model_then_no_changes_and_the_ownership_rules(
    tmp_path: Path, pulumi_bin: Path, emulator: EmulatorProcess
) -> None:
    vertex = backend(emulator)
    served = tune_by_hand(vertex, emulator, tmp_path, "served-by-hand")
    lone = tune_by_hand(vertex, emulator, tmp_path, "lone-by-hand")
    assert served.tuned_model
    assert lone.tuned_model
    project = tmp_path / "project"
    project.mkdir()
    header = "name: gt-import\nruntime: yaml\n"
    (project / "Pulumi.yaml").write_text(header + "resources: {}\n")
    stack = yaml_stack(
        project, plugin_env(tmp_path, pulumi_bin, yaml_bin=yaml_host_dir()), pulumi_bin, emulator
    )

    imported = stack.import_resources(
        resources=[
            {"type": JOB, "name": "served", "id": served.name},
            {"type": MODEL, "name": "served-model", "id": served.tuned_model},
            {"type": JOB, "name": "lone", "id": lone.name},
        ],
        protect=False,
        generate_code=True,
    )
    code = imported.generated_code
    gone = served.name.rsplit("/", 1)[0] + "/404"
    with pytest.raises(auto.errors.CommandError, match=f"{gone} does not exist: nothing to import"):
        stack.import_resources(resources=[{"type": JOB, "name": "gone", "id": gone}])
    # What the jobs were submitted with, the user's labels, not the service's own.
    assert "trainingDataset: gs://gt-datasets/by-hand/served-by-hand.jsonl" in code
    assert "epochCount: 2" in code
    assert "google-vertex-llm-tuning-job-id" not in code

    (project / "Pulumi.yaml").write_text(header + code)  # the program `pulumi import` wrote
    stack.preview(expect_no_changes=True, color="never")

    # Owned as if created: the TunedModel records this stack's claim beside its alias...
    (project / "Pulumi.yaml").write_text(
        header + code.replace("versionAliases: []", "versionAliases: [imported]")
    )
    stack.up(color="never")
    model = vertex.get_model(served.tuned_model)
    assert "imported" in model.version_aliases
    mine = claims.claim_labels("gt-import/it")
    assert mine.items() <= dict(model.labels).items()
    stack.preview(expect_no_changes=True, color="never")

    # ... and the TuningJob deletes on destroy what nobody else serves, never what another
    # stack still claims.
    other = claims.claim_labels("gt-import/staging")
    vertex.update_labels(served.tuned_model, lambda labels: {**labels, **other})
    run = Run()
    stack.destroy(**run.kwargs())
    kept = vertex.get_model(served.tuned_model)
    assert other.items() <= dict(kept.labels).items()
    assert f"{claims.CLAIM_PREFIX}{claims.stack_key('gt-import/it')}" not in kept.labels
    assert "imported" not in kept.version_aliases
    assert f"kept tuned model {served.tuned_model}" in run.text
    assert "still served by gt-import-staging" in run.text
    with pytest.raises(backends.NotFoundError):
        vertex.get_model(lone.tuned_model)
