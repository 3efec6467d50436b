"""Releases and ownership through the real engine (issue 11).

The walkthrough: dev tunes v1, local staging promotes it, dev moves to v2 and staging still
serves v1 (dev kept the claimed version), staging promotes v2 and rolls back to v1 with no change
to dev, `releases prune` deletes v1 only once nobody claims it, and destroying dev while staging
claims its model leaves the model serving. Then the owner rules on their own: `up --replace`,
`replace_on_changes`, and a TunedModel removed from the program never delete a served model.

The walkthrough's tests share one emulator, one backend and one project copy, in file order.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pulumi
import pytest
from pulumi import automation as auto

from gemini_tuning import _claims as claims
from gemini_tuning.backends import NotFoundError, Settings
from gemini_tuning.backends.vertex import VertexBackend
from gemini_tuning.testing import EmulatorProcess, run_emulator
from tests.support.engine import (
    CREATE_JOB,
    Run,
    copy_project,
    emulator_config,
    emulator_project_stack,
    engine_env,
    inline_stack,
    resources_of,
    write_examples,
)

pytestmark = [pytest.mark.engine, pytest.mark.emulator]

BUCKET = "gt-release-data"
MODEL = "number-successor"
SOURCE = "organization/gemini-tuning/dev"


class Chain:
    """dev (tuning) -> staging (promoting), on one emulator and one local backend."""

    def __init__(self, root: Path, pulumi_bin: Path, emu: EmulatorProcess) -> None:
        self.emu = emu
        self.pulumi_bin = pulumi_bin
        self.project = copy_project(root / "project")
        self.env = engine_env(root, pulumi_bin)
        self.definition = self.project / "stacks" / "models" / f"{MODEL}.yaml"
        self.v1_text = self.definition.read_text()
        self.backend = VertexBackend(
            Settings(project=emu.project, location=emu.location, api_endpoint=emu.url)
        )

    def stack(self, name: str, config: dict[str, str]) -> auto.Stack:
        return emulator_project_stack(
            self.project, self.env, self.pulumi_bin, self.emu, name, bucket=BUCKET, config=config
        )

    def dev(self, version: int = 1) -> auto.Stack:
        text = self.v1_text
        if version == 2:
            text = text.replace("version: 1", "version: 2").replace(
                "epoch_count: 5", "epoch_count: 6"
            )
            assert text != self.v1_text
        self.definition.write_text(text)
        return self.stack(
            "dev", {"gemini-tuning:models": json.dumps([MODEL]), "gemini-tuning:aliases": '["dev"]'}
        )

    def staging(self, version: int) -> auto.Stack:
        return self.stack(
            "staging",
            {
                "gemini-tuning:promoteFrom": SOURCE,
                "gemini-tuning:models": json.dumps({MODEL: version}),
                "gemini-tuning:aliases": '["staging"]',
            },
        )

    def releases(self, *args: str) -> subprocess.CompletedProcess[str]:
        """`gemini-tuning releases ...` as a person runs it, in the project directory."""
        return subprocess.run(
            [sys.executable, "-m", "gemini_tuning.cli", "releases", *args, "--stack", "dev"],
            cwd=self.project,
            env={**self.env, "PATH": self.env["PATH"]},
            capture_output=True,
            text=True,
            check=False,
        )

    def model(self, name: str) -> Any:
        return self.backend.get_model(name)

    def endpoint_exists(self, name: str) -> bool:
        from google.api_core import exceptions

        try:
            self.backend._client("endpoint").get_endpoint(name=name)
        except exceptions.NotFound:
            return False
        return True


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory, pulumi_bin: Path) -> Iterator[Chain]:
    root = tmp_path_factory.mktemp("releases")
    with run_emulator(root / "emulator", seconds_per_epoch=0.05) as emu:
        emu.storage_client().create_bucket(BUCKET)
        yield Chain(root, pulumi_bin, emu)


@pytest.fixture(scope="module")
def versions(chain: Chain) -> dict[int, dict[str, Any]]:
    """What dev carried at each version: filled in as the walkthrough goes."""
    return {}


def test_dev_tunes_v1_and_records_the_release(
    chain: Chain, versions: dict[int, dict[str, Any]]
) -> None:
    up = chain.dev(1).up(color="never")
    entry = up.outputs["models"].value[MODEL]
    versions[1] = entry
    store = up.outputs["environment"].value["release_store"]
    assert store == f"gs://{BUCKET}/gemini-tuning/releases/gemini-tuning/dev"
    assert entry["release"] == f"{store}/{MODEL}/v1.json"
    blob = (
        chain.emu.storage_client()
        .bucket(BUCKET)
        .blob(f"gemini-tuning/releases/gemini-tuning/dev/{MODEL}/v1.json")
    )
    record = json.loads(blob.download_as_bytes())
    assert record["tuned_model"] == entry["model"]
    assert record["version"] == 1
    assert record["evaluation"]["metrics"] == entry["metrics"]
    assert record["evaluation"]["dataset_fingerprint"].startswith("sha256:")
    assert record["datasets"]["training"].startswith("sha256:")
    assert record["definition_hash"].startswith("sha256:")
    assert "samples" not in json.dumps(record)  # user text stays out of the record
    labels = chain.model(entry["model"]).labels
    assert claims.OWNER_LABEL in labels  # the TuningJob's ownership mark
    assert claims.claimants(labels, [], except_stack="gemini-tuning/staging") == [
        "gemini-tuning-dev"
    ]  # dev's own TunedModel claims the version it serves


def test_staging_promotes_v1_and_claims_it(
    chain: Chain, versions: dict[int, dict[str, Any]]
) -> None:
    jobs = chain.emu.calls(CREATE_JOB)
    up = chain.staging(1).up(color="never")
    promoted = up.outputs["models"].value[MODEL]
    assert promoted["model"] == versions[1]["model"]
    assert promoted["release"] == versions[1]["release"]
    assert chain.emu.calls(CREATE_JOB) == jobs
    model = chain.model(versions[1]["model"])
    assert {"dev", "staging"} <= set(model.version_aliases)
    assert "gemini-tuning-staging" in claims.claimants(
        model.labels, [], except_stack="gemini-tuning/dev"
    )


def test_dev_moves_to_v2_and_keeps_the_version_staging_serves(
    chain: Chain, versions: dict[int, dict[str, Any]]
) -> None:
    run = Run()
    up = chain.dev(2).up(**run.kwargs())
    versions[2] = up.outputs["models"].value[MODEL]
    v1 = versions[1]["model"]
    assert versions[2]["version"] == 2
    assert versions[2]["model"] != v1
    assert (
        f"kept tuned model {v1} and its endpoint: still served by gemini-tuning-staging, "
        "alias staging"
    ) in run.text, run.text
    model = chain.model(v1)  # raises NotFoundError if dev deleted it
    assert "staging" in model.version_aliases
    assert "dev" not in model.version_aliases
    assert chain.endpoint_exists(versions[1]["endpoint"])
    assert len(resources_of(chain.dev(2), ":TuningJob")) == 1  # v1's job left dev's state
    # Staging still serves v1, and nothing about it changed.
    chain.staging(1).preview(refresh=True, expect_no_changes=True, color="never")


def test_staging_promotes_v2_then_rolls_back_to_v1_without_touching_dev(
    chain: Chain, versions: dict[int, dict[str, Any]]
) -> None:
    jobs = chain.emu.calls(CREATE_JOB)
    up = chain.staging(2).up(color="never")
    assert up.outputs["models"].value[MODEL]["model"] == versions[2]["model"]
    assert "staging" in chain.model(versions[2]["model"]).version_aliases
    assert "staging" not in chain.model(versions[1]["model"]).version_aliases

    back = chain.staging(1).up(color="never")
    assert back.outputs["models"].value[MODEL]["model"] == versions[1]["model"]
    assert back.outputs["models"].value[MODEL]["metrics"] == versions[1]["metrics"]
    assert "staging" in chain.model(versions[1]["model"]).version_aliases
    assert chain.emu.calls(CREATE_JOB) == jobs  # no tuning for a promotion or a rollback
    chain.dev(2).preview(expect_no_changes=True, color="never")


def test_releases_list_and_prune_delete_v1_only_once_nobody_claims_it(
    chain: Chain, versions: dict[int, dict[str, Any]]
) -> None:
    listed = chain.releases("list", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = {row["version"]: row for row in json.loads(listed.stdout)}
    assert rows[1]["status"] == "claimed"
    assert "gemini-tuning-staging" in rows[1]["claims"]
    assert rows[2]["status"] == "current"
    table = chain.releases("list").stdout
    assert "CLAIMS" in table
    assert "gemini-tuning-staging" in table

    held = chain.releases("prune", "--yes")
    assert held.returncode == 0, held.stderr
    assert f"kept {MODEL} v1: served by gemini-tuning-staging" in held.stdout
    chain.model(versions[1]["model"])  # still there

    chain.staging(2).up(color="never")  # staging moves on: v1 is now unclaimed
    dry = chain.releases("prune")
    assert f"would delete {MODEL} v1 ({versions[1]['model']})" in dry.stdout, dry.stdout
    assert "dry run: nothing was deleted" in dry.stdout
    chain.model(versions[1]["model"])  # a dry run deletes nothing

    pruned = chain.releases("prune", "--yes")
    assert f"deleted {MODEL} v1" in pruned.stdout, pruned.stdout
    with pytest.raises(NotFoundError):
        chain.model(versions[1]["model"])
    assert not chain.endpoint_exists(versions[1]["endpoint"])
    assert chain.model(versions[2]["model"]).name == versions[2]["model"]
    rows = {row["version"]: row for row in json.loads(chain.releases("list", "--json").stdout)}
    assert sorted(rows) == [2]
    # A rollback to the pruned version now fails at preview, and says why.
    with pytest.raises(auto.CommandError) as refused:
        chain.staging(1).preview(color="never")
    assert "no release record of v1" in str(refused.value)


def test_destroying_dev_while_staging_claims_its_model_keeps_it_serving(
    chain: Chain, versions: dict[int, dict[str, Any]]
) -> None:
    run = Run()
    chain.dev(2).destroy(**run.kwargs())
    v2 = versions[2]["model"]
    assert f"kept tuned model {v2} and its endpoint: still served by gemini-tuning-staging" in (
        run.text
    ), run.text
    assert resources_of(chain.dev(2), "") == [] or all(
        r["type"].startswith("pulumi:") for r in resources_of(chain.dev(2), "")
    )
    assert "staging" in chain.model(v2).version_aliases
    assert chain.endpoint_exists(versions[2]["endpoint"])
    chain.staging(2).destroy(color="never")
    # dev's outputs are gone with its resources; prune finds the store from dev's config.
    pruned = chain.releases("prune", "--yes")
    assert f"deleted {MODEL} v2" in pruned.stdout, pruned.stdout + pruned.stderr
    with pytest.raises(NotFoundError):
        chain.model(v2)
    chain.definition.write_text(chain.v1_text)


# -- the owner rules, one resource at a time ---------------------------------------------------


def owned_program(
    data: Path, *, description: str = "v1", with_model: bool = True, **job_opts: Any
) -> Callable[[], None]:
    def program() -> None:
        from gemini_tuning import TunedModel, TuningJob

        job = TuningJob(
            "qa",
            opts=pulumi.ResourceOptions(**job_opts),
            base_model="gemini-2.5-flash",
            training_dataset=str(data),
            epoch_count=2,
            description=description,
            poll_interval_seconds=0.2,
        )
        if with_model:
            TunedModel("qa-model", model=job.tuned_model, version_aliases=["dev"])
        pulumi.export("model", job.tuned_model)

    return program


def _backend(emu: EmulatorProcess) -> VertexBackend:
    return VertexBackend(Settings(project=emu.project, location=emu.location, api_endpoint=emu.url))


def _job_urn(stack: auto.Stack) -> str:
    return str(resources_of(stack, ":TuningJob")[0]["urn"])


def test_up_replace_of_an_unchanged_job_keeps_the_model_it_adopts(
    tmp_path: Path, pulumi_bin: Path, emulator: EmulatorProcess
) -> None:
    data = write_examples(tmp_path / "train.jsonl")
    program = owned_program(data)
    with inline_stack(tmp_path, pulumi_bin, program, config=emulator_config(emulator)) as stack:
        model = stack.up(color="never").outputs["model"].value
        run = Run()
        up = stack.up(replace=[_job_urn(stack)], **run.kwargs())
        assert up.summary.resource_changes.get("replace") == 1, up.summary.resource_changes
        assert up.outputs["model"].value == model  # the new resource adopted the same job
        assert f"kept tuned model {model}: a newer TuningJob adopted its job" in run.text
        assert _backend(emulator).get_model(model).name == model
        assert emulator.calls(CREATE_JOB) == 1
        stack.preview(expect_no_changes=True, color="never")
        stack.destroy(color="never")  # the owner now is the new resource: it deletes
        with pytest.raises(NotFoundError):
            _backend(emulator).get_model(model)


def test_replace_on_changes_with_an_unchanged_spec_keeps_the_model(
    tmp_path: Path, pulumi_bin: Path, emulator: EmulatorProcess
) -> None:
    """Observed with this engine: `replace_on_changes` does not turn a dynamic resource's update
    into a replace (the Python SDK's DiffResult carries no changed keys for the engine to match),
    so the change runs in place. Whichever it is, the model stays alive and in the state."""
    data = write_examples(tmp_path / "train.jsonl")
    with inline_stack(
        tmp_path, pulumi_bin, owned_program(data), config=emulator_config(emulator)
    ) as stack:
        model = stack.up(color="never").outputs["model"].value
        stack.workspace.program = owned_program(
            data, description="v2", replace_on_changes=["description"]
        )
        up = stack.up(color="never")
        changes = up.summary.resource_changes or {}
        assert changes.get("update", 0) + changes.get("replace", 0) == 1, changes
        assert up.outputs["model"].value == model
        assert _backend(emulator).get_model(model).description == "v2"
        assert emulator.calls(CREATE_JOB) == 1
        assert resources_of(stack, ":TuningJob")[0]["outputs"]["tuned_model"] == model
        stack.preview(expect_no_changes=True, color="never")


def test_removing_a_tuned_model_leaves_the_model_and_takes_only_its_aliases(
    tmp_path: Path, pulumi_bin: Path, emulator: EmulatorProcess
) -> None:
    data = write_examples(tmp_path / "train.jsonl")
    with inline_stack(
        tmp_path, pulumi_bin, owned_program(data), config=emulator_config(emulator)
    ) as stack:
        model = stack.up(color="never").outputs["model"].value
        assert "dev" in _backend(emulator).get_model(model).version_aliases
        stack.workspace.program = owned_program(data, with_model=False)
        run = Run()
        stack.up(**run.kwargs())
        status = _backend(emulator).get_model(model)
        assert list(status.version_aliases) == ["default"]
        assert not [k for k in status.labels if k.startswith(claims.CLAIM_PREFIX)]
        assert "left model" in run.text


def _tuned_version(backend: VertexBackend, pre_tuned: str | None = None) -> str:
    """A tuned model version made through the backend: from the base model, or the next
    version of ``pre_tuned`` (continuous tuning)."""
    import time

    from gemini_tuning.backends import JobRequest

    job = backend.submit_job(
        JobRequest(
            display_name=None,
            base_model=None if pre_tuned else "gemini-2.5-flash",
            pre_tuned_model=pre_tuned,
            training_uri=f"gs://{BUCKET}/versions.jsonl",
            validation_uri=None,
            labels={"suite": "versions"},
            epoch_count=1,
        )
    )
    for _ in range(400):
        status = backend.get_job(job.name)
        if not status.active:
            assert status.succeeded, status
            assert status.tuned_model
            return status.tuned_model
        time.sleep(0.05)
    raise AssertionError(f"job {job.name} did not finish")


def test_a_model_named_without_a_version_is_claimed_on_its_default_version_only(
    tmp_path: Path, pulumi_bin: Path, emulator: EmulatorProcess
) -> None:
    """Issue 22 item 4: a TunedModel may name a model without ``@N`` (its default version).
    The emulator, like Vertex, puts a label written to the bare name on the model, where every
    version shows it; the provider resolves the name first, so the claim is on v1 alone."""
    emulator.upload(write_examples(tmp_path / "versions.jsonl"), f"gs://{BUCKET}/versions.jsonl")
    backend = _backend(emulator)
    v1 = _tuned_version(backend)
    v2 = _tuned_version(backend, pre_tuned=v1)
    bare = v1.split("@", 1)[0]
    assert v2 == f"{bare}@2"

    def program() -> None:
        from gemini_tuning import TunedModel

        served = TunedModel("served", model=bare, adopted=True, version_aliases=["prod"])
        pulumi.export("model", served.model_name)

    claim = claims.claim_key("gt-it/it")
    with inline_stack(tmp_path, pulumi_bin, program, config=emulator_config(emulator)) as stack:
        up = stack.up(color="never")
        assert up.outputs["model"].value == v1
        assert claim in backend.get_model(v1).labels
        assert claim not in backend.get_model(v2).labels  # a bare-name write would put it here
        assert "prod" in backend.get_model(v1).version_aliases
        assert "prod" not in backend.get_model(v2).version_aliases
        stack.preview(expect_no_changes=True, color="never")
        stack.destroy(color="never")
    assert claim not in backend.get_model(v1).labels
    assert list(backend.get_model(v1).version_aliases) == ["default"]
