"""Environments through the real engine (issue 6): the dev stack tunes and evaluates the two
example definitions; a second stack promotes them without tuning; gates, destroy, version bumps.

The tests share one emulator, one backend and one copy of the project (module scope) and run in
file order: dev up, promotion, a gate that fails preview, destroy of the promoting stack, and a
definition bump previewed on dev.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pulumi import automation as auto

from gemini_tuning.testing import EmulatorProcess, run_emulator
from tests.support.engine import (
    CREATE_JOB,
    Run,
    copy_project,
    emulator_project_stack,
    engine_env,
    resources_of,
)

pytestmark = [pytest.mark.engine, pytest.mark.emulator]

BUCKET = "gt-env-datasets"
MODELS = ("number-successor", "squad-qa")


class Env:
    """One project copy, one backend, one emulator; stacks created on demand."""

    def __init__(self, root: Path, pulumi_bin: Path, emu: EmulatorProcess) -> None:
        self.root = root
        self.pulumi_bin = pulumi_bin
        self.emu = emu
        self.project = copy_project(root / "project")
        self.env = engine_env(root, pulumi_bin)

    def stack(self, name: str, config: dict[str, str]) -> auto.Stack:
        return emulator_project_stack(
            self.project, self.env, self.pulumi_bin, self.emu, name, bucket=BUCKET, config=config
        )

    def dev(self) -> auto.Stack:
        return self.stack(
            "dev",
            {"gemini-tuning:models": json.dumps(list(MODELS)), "gemini-tuning:aliases": '["dev"]'},
        )

    def staging(self) -> auto.Stack:
        return self.stack(
            "staging",
            {
                "gemini-tuning:promoteFrom": "organization/gemini-tuning/dev",
                "gemini-tuning:models": json.dumps(dict.fromkeys(MODELS, 1)),
                "gemini-tuning:aliases": '["staging"]',
            },
        )

    def definition(self, name: str) -> Path:
        return self.project / "stacks" / "models" / f"{name}.yaml"

    def model(self, name: str) -> Any:
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import aiplatform_v1

        client = aiplatform_v1.ModelServiceClient(
            transport="rest",
            client_options=self.emu.client_options,
            credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
        )
        return client.get_model(name=name)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, pulumi_bin: Path) -> Iterator[Env]:
    root = tmp_path_factory.mktemp("environments")
    with run_emulator(root / "emulator", seconds_per_epoch=0.05) as emu:
        emu.storage_client().create_bucket(BUCKET)
        yield Env(root, pulumi_bin, emu)


@pytest.fixture(scope="module")
def dev_up(env: Env) -> tuple[dict[str, Any], Run]:
    run = Run()
    result = env.dev().up(**run.kwargs())
    return result.outputs["models"].value, run


def test_dev_stack_tunes_and_evaluates_both_examples(
    env: Env, dev_up: tuple[dict[str, Any], Run]
) -> None:
    models, run = dev_up
    assert sorted(models) == list(MODELS)
    assert env.emu.calls(CREATE_JOB) == 2
    expected_examples = {"squad-qa": 124, "number-successor": 15}
    for name, entry in models.items():
        assert entry["state"] == "SUCCEEDED", entry
        assert entry["version"] == 1
        assert "/tuningJobs/" in entry["job"]
        assert entry["model"].endswith("@1")
        assert "/endpoints/" in entry["endpoint"]
        assert "dev" in entry["aliases"]
        assert entry["metrics"]["examples"] == expected_examples[name]
        assert entry["baseline"]["examples"] == expected_examples[name]
        assert entry["metrics"]["errors"] == 0
        assert entry["gate_passed"] is True, entry["gate_misses"]
        # Tuning helped, on the emulator's simulated models, against the base model.
        assert entry["metrics"]["token_f1"] > entry["baseline"]["token_f1"]
        folder = env.project / entry["artifacts"]["folder"]
        assert (env.project / entry["artifacts"]["loss_curve"]).read_bytes()[:4] == b"\x89PNG"
        summary = (env.project / entry["artifacts"]["evaluation"]).read_text()
        assert f"# {name} v1" in summary
        assert "| exact_match |" in summary
        assert json.loads((folder / "evaluation.json").read_text())["metrics"]["examples"] > 0
    assert "[gemini-tuning] squad-qa-eval: tuned: exact_match" in run.text
    assert "[gemini-tuning] squad-qa-eval: baseline: exact_match" in run.text
    env.dev().preview(expect_no_changes=True, color="never")


def test_promotion_adopts_the_model_without_a_new_tuning_job(
    env: Env, dev_up: tuple[dict[str, Any], Run]
) -> None:
    dev_models, _ = dev_up
    jobs_before = env.emu.calls(CREATE_JOB)
    staging = env.staging()
    up = staging.up(color="never")
    assert env.emu.calls(CREATE_JOB) == jobs_before  # promotion tunes nothing
    promoted = up.outputs["models"].value
    for name in MODELS:
        assert promoted[name]["model"] == dev_models[name]["model"]
        assert promoted[name]["promoted_from"] == "organization/gemini-tuning/dev"
        assert promoted[name]["metrics"] == dev_models[name]["metrics"]
        aliases = list(env.model(dev_models[name]["model"]).version_aliases)
        assert {"dev", "staging"} <= set(aliases)
    assert up.outputs["environment"].value["role"] == "promotion"
    adopted = resources_of(staging, ":TunedModel")
    assert len(adopted) == 2
    assert all(r["inputs"]["adopted"] for r in adopted)
    assert not resources_of(staging, ":TuningJob")
    assert not resources_of(staging, ":Evaluation")
    staging.preview(expect_no_changes=True, color="never")


def test_a_gate_that_is_not_met_fails_preview_with_the_metric_and_the_gap(
    env: Env, dev_up: tuple[dict[str, Any], Run]
) -> None:
    dev_models, _ = dev_up
    definition = env.definition("squad-qa")
    original = definition.read_text()
    em = dev_models["squad-qa"]["metrics"]["exact_match"]
    definition.write_text(original.replace("exact_match: 0.25", "exact_match: 0.5"))
    try:
        with pytest.raises(auto.CommandError) as failed:
            env.staging().preview(color="never")
    finally:
        definition.write_text(original)
    message = str(failed.value)
    gap = 0.5 - em
    assert (
        f"cannot promote squad-qa v1 from organization/gemini-tuning/dev to staging: "
        f"evaluation gate not met: exact_match {em:.2f} < gate 0.50 (short by {gap:.2f})"
    ) in message
    assert "Traceback" not in message


def test_a_typo_in_the_stacks_models_list_names_the_stack_file_and_the_close_name(
    env: Env,
) -> None:
    typo = env.stack("typo", {"gemini-tuning:models": '["squad-qz"]'})
    with pytest.raises(auto.CommandError) as failed:
        typo.preview(color="never")
    message = str(failed.value)
    assert (
        "Pulumi.typo.yaml: gemini-tuning:models: no definition squad-qz.yaml in stacks/models "
        "(did you mean squad-qa?)"
    ) in message
    assert "Traceback" not in message


def test_a_broken_dataset_line_is_named_by_its_path_from_the_project_root(env: Env) -> None:
    """The program runs in stacks/, so the file it opens is data/...: the user knows it as
    stacks/data/..., from the repository's root."""
    data = env.project / "stacks" / "data" / "number-successor-vertex.jsonl"
    original = data.read_text()
    lines = original.splitlines(keepends=True)
    data.write_text("".join([*lines[:2], lines[2][:-3] + "\n", *lines[3:]]))
    try:
        with pytest.raises(auto.CommandError) as failed:
            env.stack("broken", {"gemini-tuning:models": '["number-successor"]'}).preview(
                color="never"
            )
    finally:
        data.write_text(original)
    message = str(failed.value)
    assert "stacks/data/number-successor-vertex.jsonl:3: $: invalid JSON at column" in message
    assert " data/number-successor-vertex.jsonl:3" not in message


def test_destroying_the_promoting_stack_leaves_the_model_in_place(
    env: Env, dev_up: tuple[dict[str, Any], Run]
) -> None:
    dev_models, _ = dev_up
    staging = env.staging()
    staging.destroy(color="never")
    for name in MODELS:
        model = env.model(dev_models[name]["model"])  # raises NotFound if it was deleted
        assert "staging" not in model.version_aliases
        assert "dev" in model.version_aliases
    staging.workspace.remove_stack("staging")


def test_bumping_version_and_a_hyperparameter_shows_exactly_one_replace(
    env: Env, dev_up: tuple[dict[str, Any], Run]
) -> None:
    definition = env.definition("squad-qa")
    original = definition.read_text()
    bumped = original.replace("version: 1", "version: 2").replace(
        "epoch_count: 3", "epoch_count: 4"
    )
    assert bumped != original
    definition.write_text(bumped)
    run = Run()
    try:
        preview = env.dev().preview(diff=True, **run.kwargs())
    finally:
        definition.write_text(original)
    summary = preview.change_summary
    assert summary.get(auto.OpType.REPLACE, 0) == 1, summary
    assert "replace: epoch_count changed (3 -> 4)" in run.text
    # The model moves its aliases in place and the evaluation re-runs in place: no replace there.
    assert summary.get(auto.OpType.UPDATE, 0) >= 1
    assert summary.get(auto.OpType.CREATE, 0) == 0
    assert summary.get(auto.OpType.DELETE, 0) == 0


def test_destroying_dev_deletes_its_run_artifacts_here_and_in_the_bucket(
    env: Env, dev_up: tuple[dict[str, Any], Run]
) -> None:
    """The loss curves and evaluation summaries are RunArtifacts resources: the engine owns them,
    so a destroy leaves no file of the run locally or in the bucket (a person's own file in the
    folder stays)."""
    models, _ = dev_up
    client = env.emu.storage_client()
    links = {name: models[name]["artifacts"] for name in MODELS}
    for link in links.values():
        assert link["bucket_folder"].startswith(f"gs://{BUCKET}/"), link
        assert (env.project / link["loss_curve"]).is_file()
    prefix = "gemini-tuning/artifacts/"
    uploaded = [b.name for b in client.list_blobs(BUCKET, prefix=prefix)]
    assert len(uploaded) >= 2 * len(MODELS), uploaded
    mine = env.project / links["squad-qa"]["folder"] / "notes.md"
    mine.write_text("a person's notes\n")
    run = Run()
    env.dev().destroy(**run.kwargs())
    assert [b.name for b in client.list_blobs(BUCKET, prefix=prefix)] == []
    assert not (env.project / links["number-successor"]["folder"]).exists()
    assert sorted(p.name for p in mine.parent.iterdir()) == ["notes.md"]
