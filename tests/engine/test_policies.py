"""The policy pack (policies/) through the real engine: `pulumi preview --policy-pack
policies` against emulator-backed stacks (issue 14, item 4).

One emulator, one backend and one project copy, in file order: the tuning stack passes every
policy with the defaults, then fails each resource policy (one preview with a strict config) and
the per-stack ceiling; dev is applied so prod can promote from it, prod passes, then a prod
promotion without a gate fails; an inline program that promotes and tunes fails the promoting
stack rule. Each failure is asserted by its message, numbers included.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pulumi import automation as auto

from gemini_tuning.testing import EmulatorProcess, run_emulator
from tests.support.engine import (
    REPO,
    Run,
    copy_project,
    emulator_config,
    emulator_project_stack,
    engine_env,
    inline_stack,
    write_examples,
)

pytestmark = [pytest.mark.engine, pytest.mark.emulator]

PACK = str(REPO / "policies")  # the directory, as a reader types it
LAUNCHER = str(REPO / "policies" / "pack")  # the executable form: needs nothing on PATH
BUCKET = "gt-policy-data"
MODELS = ("number-successor", "squad-qa")
MODEL = "number-successor"


class Project:
    """A copy of the project on one emulator and one local backend."""

    def __init__(self, root: Path, pulumi_bin: Path, emu: EmulatorProcess) -> None:
        self.root = root
        self.emu = emu
        self.pulumi_bin = pulumi_bin
        self.project = copy_project(root / "project")
        self.env = engine_env(root, pulumi_bin, {"PATH": policy_path(pulumi_bin)})

    def stack(self, name: str, config: dict[str, str]) -> auto.Stack:
        return emulator_project_stack(
            self.project, self.env, self.pulumi_bin, self.emu, name, bucket=BUCKET, config=config
        )

    def dev(self) -> auto.Stack:
        return self.stack("dev", {"gemini-tuning:models": json.dumps(list(MODELS))})

    def prod(self) -> auto.Stack:
        return self.stack(
            "prod",
            {
                "gemini-tuning:promoteFrom": "organization/gemini-tuning/dev",
                "gemini-tuning:models": json.dumps({MODEL: 1}),
                "gemini-tuning:aliases": '["prod"]',
            },
        )

    def policy_config(self, name: str, config: dict[str, Any]) -> str:
        path = self.root / f"{name}.json"
        path.write_text(json.dumps(config))
        return str(path)


def policy_path(pulumi_bin: Path) -> str:
    """PATH with the pack's analyzer plugin first (provider/tools/env.sh does the same)."""
    dirs = [REPO / "policies" / "bin", pulumi_bin, Path(sys.executable).parent]
    return os.pathsep.join([*map(str, dirs), os.environ["PATH"]])


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, pulumi_bin: Path) -> Iterator[Project]:
    root = tmp_path_factory.mktemp("policies")
    with run_emulator(root / "emulator", seconds_per_epoch=0.05) as emu:
        emu.storage_client().create_bucket(BUCKET)
        yield Project(root, pulumi_bin, emu)


def preview(stack: auto.Stack, config: str | None = None, *, pack: str = PACK) -> tuple[Run, bool]:
    """``pulumi preview --policy-pack policies [--policy-pack-config FILE]``: what the engine
    printed, and whether the preview passed."""
    run = Run()
    configs = [config] if config else None
    try:
        stack.preview(policy_packs=[pack], policy_pack_configs=configs, **run.kwargs())
    except auto.errors.CommandError as err:
        run.output.append(str(err))
        return run, False
    return run, True


def violations(run: Run) -> list[str]:
    """The policy names the engine reported as violated (``- [mandatory]  NAME  (...)``)."""
    return sorted(set(re.findall(r"\[mandatory\]\s+([a-z-]+)\s+\(", run.text)))


@pytest.mark.parametrize("pack", [PACK, LAUNCHER], ids=["directory", "launcher"])
def test_the_tuning_stack_passes_every_policy_with_the_defaults(
    project: Project, pack: str
) -> None:
    run, passed = preview(project.dev(), pack=pack)
    assert passed, run.text
    # The pack ran (its version from PulumiPolicy.yaml) and found nothing.
    assert f"gemini-tuning@v0.1.0 (local: {pack})" in run.text
    assert violations(run) == []


def test_each_resource_policy_fails_with_its_numbers(project: Project) -> None:
    strict = project.policy_config(
        "strict",
        {
            "cost-ceiling-per-model": {"maxUsd": 0.001},
            "allowed-base-models": {"models": ["gemini-2.5-pro"]},
            "allowed-regions": {"regions": ["europe-west4"]},
            "required-labels": {"labels": ["team", "cost-center"]},
        },
    )
    run, passed = preview(project.dev(), strict)
    assert not passed
    assert violations(run) == [
        "allowed-base-models",
        "allowed-regions",
        "cost-ceiling-per-model",
        "required-labels",
    ]
    text = run.text
    assert (
        "number-successor: estimated tuning cost $0.001225 (245 training tokens = 49 tokens x 5 "
        "epochs of gemini-2.5-flash at $5 per 1M tokens) is over the per-model ceiling $0.001 "
        "(policy config cost-ceiling-per-model.maxUsd)"
    ) in text
    assert (
        "squad-qa: estimated tuning cost $1.38 (276,522 training tokens = 92,174 tokens x 3 "
        "epochs of gemini-2.5-flash at $5 per 1M tokens) is over the per-model ceiling $0.001"
    ) in text
    for model in MODELS:
        assert (
            f"{model}: base model gemini-2.5-flash is not allowed (allowed: gemini-2.5-pro; "
            "policy config allowed-base-models.models)"
        ) in text
        assert (
            f"{model}: region {project.emu.location} (stack config gemini-tuning:location) is "
            "not allowed (allowed: europe-west4; policy config allowed-regions.regions)"
        ) in text
        assert f"{model}: missing required label(s) cost-center (it has model-version" in text
    assert "team" not in re.findall(r"missing required label\(s\) ([a-z-, ]+) \(", text)


def test_the_stack_ceiling_counts_every_job(project: Project) -> None:
    # Each job is under the per-model ceiling ($1.50); the stack's total is over its own.
    ceiling = project.policy_config(
        "stack-ceiling",
        {"cost-ceiling-per-model": {"maxUsd": 1.5}, "cost-ceiling-per-stack": {"maxUsd": 1}},
    )
    run, passed = preview(project.dev(), ceiling)
    assert not passed
    assert violations(run) == ["cost-ceiling-per-stack"]
    assert (
        "stack dev: its tuning jobs are estimated at $1.38 in all (number-successor $0.001225, "
        "squad-qa $1.38), over the per-stack ceiling $1.00 "
        "(policy config cost-ceiling-per-stack.maxUsd)"
    ) in run.text


def test_a_prod_promotion_with_a_gate_passes(project: Project) -> None:
    project.dev().up(color="never")  # the release records prod promotes from
    run, passed = preview(project.prod())
    assert passed, run.text
    assert violations(run) == []


def test_a_prod_promotion_without_a_gate_fails(project: Project) -> None:
    definition = project.project / "stacks" / "models" / f"{MODEL}.yaml"
    original = definition.read_text()
    definition.write_text(original.split("evaluation:")[0])  # this checkout drops the gate
    try:
        run, passed = preview(project.prod())
    finally:
        definition.write_text(original)
    assert not passed
    assert violations(run) == ["prod-promotions-carry-a-gate"]
    assert (
        f"{MODEL}-model: the promotion v1 from organization/gemini-tuning/dev into prod carries "
        "no evaluation gate; give the definition an `evaluation:` with a `gate:` (exact_match, "
        "token_f1) so only a version whose recorded evaluation meets it reaches this stack "
        "(policy config prod-promotions-carry-a-gate.stacks)"
    ) in run.text


def promoting_and_tuning(train: Path) -> Callable[[], None]:
    def program() -> None:
        from gemini_tuning import TunedModel, TuningJob

        TunedModel(
            "qa-model",
            model="projects/p/locations/us-central1/models/1@1",
            adopted=True,
            version_aliases=["staging"],
            promotion={"from": "organization/gt-it/dev", "version": 1, "gate": {"token_f1": 0.5}},
        )
        TuningJob(
            "qa",
            base_model="gemini-2.5-flash",
            training_dataset=str(train),
            epoch_count=2,
            labels={"team": "search"},
        )

    return program


def test_a_promoting_stack_that_tunes_fails(
    project: Project, tmp_path: Path, pulumi_bin: Path
) -> None:
    train = write_examples(tmp_path / "train.jsonl")
    config = {
        **emulator_config(project.emu),
        "gemini-tuning:datasetBucket": BUCKET,
        "gemini-tuning:promoteFrom": "organization/gt-it/dev",
    }
    program = promoting_and_tuning(train)
    env = {"PATH": policy_path(pulumi_bin)}
    with inline_stack(
        tmp_path, pulumi_bin, program, stack="staging", env=env, config=config
    ) as stack:
        run, passed = preview(stack)
    assert not passed
    assert violations(run) == ["promoting-stack-creates-no-tuning-job"]
    assert (
        "stack staging is a promoting stack (gemini-tuning:promoteFrom is organization/gt-it/dev; "
        "it adopts qa-model) but declares tuning job(s) qa: a promoting stack serves versions "
        "another stack tuned and released, and never tunes (or pays) again"
    ) in run.text
