"""`gemini-tuning sweep --stack` through the real engine and the emulator (issue 23): it finds
exactly one stack's job, model, endpoint and objects by their resource labels, removes them, and
leaves another stack's alone. (`--run-id` and a killed run: tests/acceptance.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gemini_tuning.testing import EmulatorProcess
from tests.acceptance._target import Target
from tests.acceptance.conftest import AcceptanceRun
from tests.support.engine import BUCKET

pytestmark = [pytest.mark.engine, pytest.mark.emulator]


def test_sweep_stack_removes_that_stacks_resources_only(
    tmp_path: Path, pulumi_bin: Path, emulator: EmulatorProcess
) -> None:
    run = AcceptanceRun(tmp_path, pulumi_bin, Target("emulator"), emulator, bucket=BUCKET)
    run.define("acc-mine")
    run.define("acc-theirs")
    mine = run.stack("mine", {"gemini-tuning:models": json.dumps(["acc-mine"])})
    theirs = run.stack("theirs", {"gemini-tuning:models": json.dumps(["acc-theirs"])})
    mine.up()
    theirs.up()
    my_model = mine.outputs()["models"].value["acc-mine"]
    their_model = theirs.outputs()["models"].value["acc-theirs"]

    dry = run.sweep(select=["--stack", "mine"])
    assert dry["models"] == [my_model["model"]]
    assert dry["endpoints"] == [my_model["endpoint"]]
    assert dry["cancel_jobs"] == []
    assert dry["finished_jobs"] == 1
    assert any(uri.endswith(".json") and "/releases/" in uri for uri in dry["objects"]), dry
    assert any("/datasets/" in uri for uri in dry["objects"]), dry
    assert run.vertex.get_model(my_model["model"])  # a dry run changes nothing

    done = run.sweep("--yes", select=["--stack", "mine"])
    assert done["applied"] is True
    assert done["kept"] == []
    assert run.sweep(select=["--stack", "mine"])["models"] == []
    left = {m.name for m in run.vertex.list_all_model_versions()}
    assert left == {their_model["model"]}  # the other stack's model is untouched
    assert {e.name for e in run.vertex.list_endpoints()} == {their_model["endpoint"]}
