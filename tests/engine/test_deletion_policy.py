"""``deletion_policy`` through the real engine (issue 22, item 7): ``prevent`` refuses a replace
at preview naming the definition's file:line, refuses a destroy and a removal from the stack
(nothing deleted), and is lifted by a ``pulumi up`` that changes only the policy; ``abandon``
destroys into an empty stack that leaves the model and its endpoint in the service, one line
per model, and a later ``up`` adopts them again instead of tuning twice.

One emulator, one backend and one copy of the project (module scope); each test has its own
stack and its own definition file in the copy's ``stacks/models``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pulumi import automation as auto

from gemini_tuning.testing import EmulatorProcess, run_emulator
from tests.support.engine import CREATE_JOB, Run, copy_project, emulator_project_stack, engine_env

pytestmark = [pytest.mark.engine, pytest.mark.emulator]

BUCKET = "gt-policy-datasets"
POLICY_LINE = 8  # the line of `deletion_policy:` in DEFINITION


DEFINITION = """\
# yaml-language-server: $schema=../schema/model-definition.schema.json
version: 1
base_model: gemini-2.5-flash
datasets:
  training: ../data/number-successor-vertex.jsonl
hyperparameters:
  epoch_count: 2
deletion_policy: {policy}
"""
EVALUATION = """\
evaluation:
  dataset: ../data/number-successor-vertex-eval.jsonl
  baseline: false
"""


class Env:
    def __init__(self, root: Path, pulumi_bin: Path, emu: EmulatorProcess) -> None:
        self.pulumi_bin = pulumi_bin
        self.emu = emu
        self.project = copy_project(root / "project")
        self.env = engine_env(root, pulumi_bin)

    def definition(self, name: str) -> Path:
        return self.project / "stacks" / "models" / f"{name}.yaml"

    def write(self, name: str, policy: str, *, epochs: int = 2, evaluated: bool = False) -> None:
        text = DEFINITION.format(policy=policy).replace("epoch_count: 2", f"epoch_count: {epochs}")
        text += EVALUATION if evaluated else ""
        assert text.splitlines()[POLICY_LINE - 1].startswith("deletion_policy:")
        self.definition(name).write_text(text)

    def stack(self, name: str, models: list[str]) -> auto.Stack:
        config = {"gemini-tuning:models": json.dumps(models), "gemini-tuning:aliases": '["dev"]'}
        return emulator_project_stack(
            self.project, self.env, self.pulumi_bin, self.emu, name, bucket=BUCKET, config=config
        )

    def clients(self) -> tuple[Any, Any]:
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import aiplatform_v1

        opts: dict[str, Any] = {
            "client_options": self.emu.client_options,
            "credentials": AnonymousCredentials(),  # type: ignore[no-untyped-call]
            "transport": "rest",
        }
        return aiplatform_v1.ModelServiceClient(**opts), aiplatform_v1.EndpointServiceClient(**opts)

    def assert_still_served(self, model: str, endpoint: str, *, aliased: bool) -> None:
        """The version and its endpoint exist, the endpoint still serves the model, and the
        stack's alias is on it (``aliased``) or not."""
        models, endpoints = self.clients()
        assert models.get_model(name=model).name.split("@")[0] == model.split("@", maxsplit=1)[0]
        deployed = [d.model for d in endpoints.get_endpoint(name=endpoint).deployed_models]
        assert any(d.split("@")[0] == model.split("@", maxsplit=1)[0] for d in deployed), deployed
        assert ("dev" in models.get_model(name=model).version_aliases) is aliased


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, pulumi_bin: Path) -> Iterator[Env]:
    root = tmp_path_factory.mktemp("deletion-policy")
    with run_emulator(root / "emulator", seconds_per_epoch=0.05) as emu:
        emu.storage_client().create_bucket(BUCKET)
        yield Env(root, pulumi_bin, emu)


def _protected(stack: auto.Stack) -> dict[str, bool]:
    deployment = stack.export_stack().deployment or {}
    return {
        str(r["urn"]).rsplit("::", 1)[1]: bool(r.get("protect"))
        for r in deployment.get("resources") or []
        if str(r.get("type", "")).startswith("pulumi-python:dynamic")
    }


def test_prevent_refuses_replace_destroy_and_removal_until_the_policy_changes(env: Env) -> None:
    env.write("guarded", "prevent", evaluated=True)
    stack = env.stack("guarded", ["guarded"])
    model = stack.up(color="never").outputs["models"].value["guarded"]
    # The job and the model are protected; the evaluation (a measurement) and the release
    # record (its delete keeps the object) and the run's files are not: their deletes touch no
    # model, endpoint or record in the service.
    assert _protected(stack) == {
        "guarded": True,
        "guarded-model": True,
        "guarded-eval": False,
        "guarded-artifacts": False,
        "guarded-release": False,
    }
    jobs = env.emu.calls(CREATE_JOB)

    # A hyperparameter change would re-tune (a replace): refused at preview, at file:line.
    env.write("guarded", "prevent", epochs=3, evaluated=True)
    with pytest.raises(auto.CommandError) as refused:
        stack.preview(color="never")
    message = str(refused.value)
    assert f"deletion_policy: prevent (stacks/models/guarded.yaml:{POLICY_LINE})" in message
    assert "refuses this change: epoch_count changed (2 -> 3)" in message
    assert "set deletion_policy: delete there and run `pulumi up`" in message
    env.write("guarded", "prevent", evaluated=True)

    # `pulumi destroy`: refused by the engine (protect) at its preview; nothing is deleted.
    run = Run()
    with pytest.raises(auto.CommandError):
        stack.preview_destroy(**run.kwargs())
    assert "cannot be deleted\nbecause it is protected" in run.text
    assert len(_protected(stack)) == 5
    # Without its preview (`--skip-preview`, as the Automation API runs it) the engine removes
    # what is not protected from the state (the release record stays in the bucket) and
    # refuses the rest.
    run = Run()
    with pytest.raises(auto.CommandError):
        stack.destroy(**run.kwargs())
    assert "cannot be deleted\nbecause it is protected" in run.text
    assert _protected(stack) == {"guarded": True, "guarded-model": True}
    env.assert_still_served(model["model"], model["endpoint"], aliased=True)

    # Taking the model out of the stack is a delete too: refused at preview.
    stack.set_config("gemini-tuning:models", auto.ConfigValue("[]"))
    run = Run()
    with pytest.raises(auto.CommandError):
        stack.preview(**run.kwargs())
    assert "cannot be deleted\nbecause it is protected" in run.text
    stack.set_config("gemini-tuning:models", auto.ConfigValue('["guarded"]'))

    # The way out: an `up` that changes only the policy (no API call beyond reads), then destroy.
    env.write("guarded", "delete", evaluated=True)
    run = Run()
    stack.up(**run.kwargs())
    assert 'store: deletion_policy changed ("prevent" -> "delete")' in run.text
    assert not any(_protected(stack).values())
    stack.destroy(color="never")
    assert env.emu.calls(CREATE_JOB) == jobs
    from google.api_core.exceptions import NotFound

    models, _ = env.clients()
    with pytest.raises(NotFound):
        models.get_model(name=model["model"])


def test_abandon_destroys_into_an_empty_stack_and_leaves_model_and_endpoint(env: Env) -> None:
    env.write("kept", "abandon")
    stack = env.stack("kept", ["kept"])
    model = stack.up(color="never").outputs["models"].value["kept"]
    jobs = env.emu.calls(CREATE_JOB)

    run = Run()
    stack.destroy(**run.kwargs())  # rc 0, or this raises
    assert _protected(stack) == {}  # no resource left in the state
    # The TunedModel took its alias and claim away (a claim no stack tracks would keep the
    # version from `releases prune` forever); the model and endpoint stay, still serving.
    env.assert_still_served(model["model"], model["endpoint"], aliased=False)
    lines = [m for m in run.diagnostics if "abandoned by deletion_policy" in m]
    assert len(lines) == 1, run.diagnostics
    assert len(lines[0].strip().splitlines()) == 1
    assert f"deletion_policy: abandon (stacks/models/kept.yaml:{POLICY_LINE})" in lines[0]
    assert model["model"] in lines[0]
    assert model["endpoint"] in lines[0]
    assert "`pulumi up` with the same declaration adopts them again" in lines[0]

    # As the line says: the same declaration adopts the job and its model, and pays nothing.
    again = stack.up(color="never").outputs["models"].value["kept"]
    assert again["model"] == model["model"]
    assert env.emu.calls(CREATE_JOB) == jobs
