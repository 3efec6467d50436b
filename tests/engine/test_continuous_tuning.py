"""Continuous tuning through the real engine (issue 25 item 5).

The walkthrough, on one emulator, one local backend and one project copy, in file order: dev
tunes ``base`` v1 and records its release; a definition that continues an unreleased version
fails at preview with its file, line and field and no job; ``base-more`` continues the released
v1 and lands as the next version of base's Vertex model (display name and all) with its own
alias; base moves to v2 and its old version goes, but never base-more's; moving base-more to v2
re-tunes it (a replace that names ``pre_tuned_model``); staging promotes both.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pulumi import automation as auto

from gemini_tuning.backends import NotFoundError, Settings
from gemini_tuning.backends.vertex import VertexBackend
from gemini_tuning.testing import EmulatorProcess, run_emulator
from tests.support.engine import CREATE_JOB, Run, copy_project, emulator_project_stack, engine_env

pytestmark = [pytest.mark.engine, pytest.mark.emulator]

BUCKET = "gt-continuous-data"
STORE = "gemini-tuning/releases/gemini-tuning/dev"

BASE = """\
version: {version}
base_model: gemini-2.5-flash
datasets:
  training: ../data/number-successor-vertex.jsonl
hyperparameters:
  epoch_count: {epochs}
  adapter_size: 4
"""
MORE = """\
version: 1
base_model: gemini-2.5-flash
continue_from:
  model: base
  version: {parent}
datasets:
  training: ../data/number-successor-vertex.jsonl
hyperparameters:
  epoch_count: 1
"""


class Dev:
    """The tuning stack ``dev`` of a copied project, on one emulator."""

    def __init__(self, root: Path, pulumi_bin: Path, emu: EmulatorProcess) -> None:
        self.emu = emu
        self.pulumi_bin = pulumi_bin
        self.project = copy_project(root / "project")
        self.env = engine_env(root, pulumi_bin)
        self.models = self.project / "stacks" / "models"
        self.backend = VertexBackend(
            Settings(project=emu.project, location=emu.location, api_endpoint=emu.url)
        )

    def stack(self, *, base: int = 1, more: int | None = None) -> auto.Stack:
        """dev carrying ``base`` at version ``base`` and, with ``more``, ``base-more``
        continuing base's version ``more``."""
        (self.models / "base.yaml").write_text(BASE.format(version=base, epochs=base + 1))
        names = ["base"]
        if more is not None:
            (self.models / "base-more.yaml").write_text(MORE.format(parent=more))
            names.append("base-more")
        return emulator_project_stack(
            self.project,
            self.env,
            self.pulumi_bin,
            self.emu,
            "dev",
            bucket=BUCKET,
            config={
                "gemini-tuning:models": json.dumps(names),
                "gemini-tuning:aliases": '["dev"]',
            },
        )

    def record(self, model: str, version: int) -> dict[str, Any]:
        blob = self.emu.storage_client().bucket(BUCKET).blob(f"{STORE}/{model}/v{version}.json")
        found: dict[str, Any] = json.loads(blob.download_as_bytes())
        return found

    def exists(self, name: str) -> bool:
        try:
            self.backend.get_model(name)
        except NotFoundError:
            return False
        return True


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory, pulumi_bin: Path) -> Iterator[Dev]:
    root = tmp_path_factory.mktemp("continuous")
    with run_emulator(root / "emulator", seconds_per_epoch=0.05) as emu:
        emu.storage_client().create_bucket(BUCKET)
        yield Dev(root, pulumi_bin, emu)


@pytest.fixture(scope="module")
def seen() -> dict[str, str]:
    """Model versions met along the walkthrough."""
    return {}


def test_dev_tunes_and_releases_base_v1(dev: Dev, seen: dict[str, str]) -> None:
    up = dev.stack(base=1).up(color="never")
    v1 = up.outputs["models"].value["base"]["model"]
    assert v1.endswith("@1")
    assert dev.record("base", 1)["tuned_model"] == v1
    seen["base v1"] = v1


def test_continuing_an_unreleased_version_fails_at_preview_naming_the_line(dev: Dev) -> None:
    jobs = dev.emu.calls(CREATE_JOB)
    with pytest.raises(auto.CommandError) as failed:
        dev.stack(base=1, more=2).preview(color="never")
    text = str(failed.value)
    assert "stacks/models/base-more.yaml:5: continue_from.version: base v2 was never " in text
    assert "released versions: v1" in text
    assert dev.emu.calls(CREATE_JOB) == jobs


def test_a_continuation_lands_as_the_next_version_of_the_same_model(
    dev: Dev, seen: dict[str, str]
) -> None:
    v1 = seen["base v1"]
    model = v1.split("@", 1)[0]
    jobs = dev.emu.calls(CREATE_JOB)
    up = dev.stack(base=1, more=1).up(color="never")
    entry = up.outputs["models"].value["base-more"]
    assert dev.emu.calls(CREATE_JOB) == jobs + 1  # base is unchanged: one job, base-more's
    # Priced at preview by the base model it continues, though no base model is sent.
    assert "base-more: estimate: " in up.stdout, up.stdout
    assert entry["model"] == f"{model}@2"
    assert entry["continued_from"] == {"model": "base", "version": 1, "tuned_model": v1}
    job = dev.backend.get_job(entry["job"])
    assert job.declared.get("pre_tuned_model") == v1
    assert not job.declared.get("base_model")  # preTunedModel only on the wire
    new, parent = dev.backend.get_model(f"{model}@2"), dev.backend.get_model(v1)
    assert new.display_name == parent.display_name  # "by default ... the pre-tuned model"
    # Promoted like any other, with aliases of its own: base's stay on base's version.
    assert list(new.version_aliases) == ["dev-base-more"]
    assert "dev" in parent.version_aliases
    assert entry["aliases"] == ["dev-base-more"]
    assert dev.record("base-more", 1)["continued_from"]["tuned_model"] == v1
    seen["base-more on v1"] = entry["model"]
    dev.stack(base=1, more=1).preview(expect_no_changes=True, color="never")


def test_base_moving_on_retires_its_own_version_only(dev: Dev, seen: dict[str, str]) -> None:
    up = dev.stack(base=2, more=1).up(color="never")
    v2 = up.outputs["models"].value["base"]["model"]
    assert v2 != seen["base v1"]
    assert dev.record("base", 2)["tuned_model"] == v2
    assert not dev.exists(seen["base v1"])  # base's replaced version went, as any does
    assert dev.exists(seen["base-more on v1"])  # base-more's version is not base's to delete
    assert up.outputs["models"].value["base-more"]["model"] == seen["base-more on v1"]
    seen["base v2"] = v2


def test_a_new_parent_version_re_tunes_and_says_why(dev: Dev, seen: dict[str, str]) -> None:
    v2, old = seen["base v2"], seen["base-more on v1"]
    jobs = dev.emu.calls(CREATE_JOB)
    run = Run()
    preview = dev.stack(base=2, more=2).preview(**run.kwargs())
    assert preview.change_summary.get("replace") == 1, preview.change_summary
    short = lambda name: "models/" + name.rsplit("/models/", 1)[-1]  # noqa: E731
    assert (
        f"replace: pre_tuned_model: continues another model version ({short(seen['base v1'])} "
        f"-> {short(v2)})"
    ) in run.text, run.text
    up = dev.stack(base=2, more=2).up(color="never")
    entry = up.outputs["models"].value["base-more"]
    assert dev.emu.calls(CREATE_JOB) == jobs + 1
    assert entry["model"] == f"{v2.split('@', 1)[0]}@2"
    assert list(dev.backend.get_model(entry["model"]).version_aliases) == ["dev-base-more"]
    assert not dev.exists(old)  # the replaced continuation was its own job's to delete
    assert dev.exists(v2)


def test_staging_promotes_the_continuation_beside_its_parent(dev: Dev) -> None:
    """Promotion takes a continuation by name and version like any model; in staging too its
    aliases carry its name, so the parent's ``staging`` stays on the parent's version."""
    dev.stack(base=2, more=2)  # the definitions in the checkout, as dev has them
    jobs = dev.emu.calls(CREATE_JOB)
    staging = emulator_project_stack(
        dev.project,
        dev.env,
        dev.pulumi_bin,
        dev.emu,
        "staging",
        bucket=BUCKET,
        config={
            "gemini-tuning:promoteFrom": "organization/gemini-tuning/dev",
            "gemini-tuning:models": json.dumps({"base": 2, "base-more": 1}),
            "gemini-tuning:aliases": '["staging"]',
        },
    )
    models = staging.up(color="never").outputs["models"].value
    assert dev.emu.calls(CREATE_JOB) == jobs
    parent, continued = models["base"]["model"], models["base-more"]["model"]
    assert continued == f"{parent.split('@', 1)[0]}@2"
    assert "staging" in dev.backend.get_model(parent).version_aliases
    assert set(dev.backend.get_model(continued).version_aliases) == {
        "dev-base-more",
        "staging-base-more",
    }
