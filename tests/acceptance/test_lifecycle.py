"""Acceptance (issue 23): the whole lifecycle on a real target, and the sweeper after a kill.

Live on Vertex AI when GEMINI_TUNING_LIVE_PROJECT, _LOCATION, _BUCKET and _MAX_USD are set;
on the local emulator with GEMINI_TUNING_ACCEPTANCE_TARGET=emulator (CI); else skipped with one
line. The cheapest settings (the cheapest tunable model, 1 epoch, 16 examples, no evaluation);
the estimated cost is printed and checked against GEMINI_TUNING_LIVE_MAX_USD before each `up`
that submits. Every job, model and endpoint carries the run's `gemini-tuning-run` label, and
`gemini-tuning sweep --run-id` removes what is left in teardown, after a failure too.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from gemini_tuning.backends import NotFoundError
from gemini_tuning.specs import RUN_LABEL
from tests.acceptance.conftest import AcceptanceRun
from tests.support.engine import Run, kill_process_tree

pytestmark = [pytest.mark.acceptance, pytest.mark.engine]

MODEL = "acc-qa"
TUNE, PROMOTE = "tune", "promote"
NOTHING = {
    "cancel_jobs": [],
    "cancelling_jobs": [],
    "endpoints": [],
    "models": [],
    "objects": [],
    "kept": [],
}


def _changes(result: Any) -> dict[str, int]:
    return {k: v for k, v in (result.summary.resource_changes or {}).items() if k != "same"}


def _found(swept: dict[str, Any]) -> dict[str, Any]:
    return {key: swept[key] for key in NOTHING}


def test_lifecycle_up_update_replace_promote_destroy_then_sweep_finds_nothing(
    acceptance_run: AcceptanceRun,
) -> None:
    run = acceptance_run
    run.define(MODEL)
    tune = run.stack(TUNE, {"gemini-tuning:models": json.dumps([MODEL])})

    # up: one job, its model and endpoint, all carrying the run id
    with run.phase("preview (cost)"):
        assert run.estimated_usd(TUNE) > 0
    log = Run()
    with run.phase("up"):
        tune.up(**log.kwargs())
    first = tune.outputs()["models"].value[MODEL]
    assert first["state"] == "SUCCEEDED", log.text
    model = run.vertex.get_model(first["model"])
    assert model.labels[RUN_LABEL] == run.run_id
    (job,) = [j for j in run.vertex.list_all_jobs() if j.labels.get(RUN_LABEL) == run.run_id]
    assert job.name == first["job"]

    # a clean preview
    with run.phase("preview --expect-no-changes"):
        tune.preview(expect_no_changes=True, color="never")

    # a label update: in place, the same job and model
    run.define(MODEL, labels={"stage": "labelled"})
    with run.phase("preview (cost) + up: label update"):
        assert run.estimated_usd(TUNE) == 0  # nothing is submitted
        result = tune.up(**Run().kwargs())
    changes = _changes(result)
    assert changes.get("update", 0) >= 1, changes
    assert "replace" not in changes, changes
    assert "create" not in changes, changes
    labelled = tune.outputs()["models"].value[MODEL]
    assert labelled["job"] == first["job"]
    assert run.vertex.get_model(first["model"]).labels["stage"] == "labelled"

    # a hyperparameter change: exactly one replace (a new job), the old version deleted
    run.define(MODEL, labels={"stage": "labelled"}, learning_rate_multiplier=0.5)
    with run.phase("preview (cost) + up: replace"):
        assert run.estimated_usd(TUNE) > 0
        result = tune.up(**Run().kwargs())
    changes = _changes(result)
    assert changes.get("replace") == 1, changes
    second = tune.outputs()["models"].value[MODEL]
    assert second["job"] != first["job"]
    assert second["state"] == "SUCCEEDED"
    with pytest.raises(NotFoundError):
        run.vertex.get_model(first["model"])
    assert run.vertex.get_model(second["model"]).labels[RUN_LABEL] == run.run_id

    # promotion to a second stack: the same version, the promoting stack's alias added
    promote = run.stack(
        PROMOTE,
        {
            "gemini-tuning:promoteFrom": f"organization/gemini-tuning/{TUNE}",
            "gemini-tuning:models": json.dumps({MODEL: 1}),
            "gemini-tuning:aliases": json.dumps([PROMOTE]),
        },
    )
    # (no cost check: a promoting stack declares no TuningJob, so it cannot submit one)
    with run.phase("up: promotion"):
        promote.up(**Run().kwargs())
    promoted = promote.outputs()["models"].value[MODEL]
    assert promoted["model"] == second["model"]
    assert PROMOTE in run.vertex.get_model(second["model"]).version_aliases

    # destroy both: every job, model and endpoint of the run is gone
    with run.phase("destroy both"):
        promote.destroy(**Run().kwargs())
        tune.destroy(**Run().kwargs())
    with pytest.raises(NotFoundError):
        run.vertex.get_model(second["model"])
    left = run.leftovers()
    assert left["active_jobs"] == left["endpoints"] == left["models"] == []

    # the sweeper: destroy keeps the uploads and release records (by design: content-addressed
    # and durable); nothing else of the run is left for it. It removes those, then finds nothing.
    with run.phase("sweep (dry run)"):
        swept = run.sweep()
    assert swept["cancel_jobs"] == swept["endpoints"] == swept["models"] == [], swept
    assert all(
        uri.startswith(f"gs://{run.settings.dataset_bucket}/gemini-tuning/")
        for uri in swept["objects"]
    ), swept
    assert swept["finished_jobs"] == 2
    assert run.sweep("--yes")["applied"] is True
    assert _found(run.sweep()) == NOTHING
    assert run.leftovers() == {"active_jobs": [], "endpoints": [], "models": [], "objects": []}


def test_an_up_killed_half_way_is_cleaned_up_by_sweep(
    acceptance_run: AcceptanceRun, tmp_path: Path
) -> None:
    """`up` of two models killed (SIGKILL of the whole tree) once one is tuned and deployed and
    the other still trains: the sweep cancels the running job and removes the model, its
    endpoint and every object of the run."""
    run = acceptance_run
    if run.target.live:
        pytest.skip("emulator only: a killed live run would pay for a job it throws away")
    run.define("acc-fast")
    # The emulator's control label: this job trains for an hour (the emulator's own label,
    # never sent to Google).
    run.define("acc-slow", labels={"emulator-seconds-per-epoch": "3600"})
    run.stack(TUNE, {"gemini-tuning:models": json.dumps(["acc-fast", "acc-slow"])})
    run.estimated_usd(TUNE)
    child = subprocess.Popen(
        ["pulumi", "up", "--yes", "--skip-preview", "--stack", TUNE, "--non-interactive"],
        cwd=run.project,
        env=run.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        _wait_until_half_way(run, child)
    finally:
        kill_process_tree(child)

    before = run.leftovers()
    assert len(before["active_jobs"]) == 1, before
    assert before["models"], before
    assert before["endpoints"], before
    assert before["objects"], before

    swept = run.sweep("--yes")
    assert [j["name"] for j in swept["cancel_jobs"]] == before["active_jobs"]
    assert swept["kept"] == []
    assert run.leftovers() == {"active_jobs": [], "endpoints": [], "models": [], "objects": []}
    assert _found(run.sweep()) == NOTHING  # idempotent: a second sweep finds nothing


def _wait_until_half_way(run: AcceptanceRun, child: subprocess.Popen[Any]) -> None:
    """Until acc-fast's model is deployed and acc-slow's job runs (bounded; fails if `up`
    ends first)."""
    deadline = time.monotonic() + 120
    while True:
        assert child.poll() is None, f"`up` ended (rc {child.returncode}) before half-way"
        assert time.monotonic() < deadline, "the run did not get half-way within 120 s"
        left = run.leftovers()
        jobs = [j for j in run.vertex.list_all_jobs() if j.labels.get(RUN_LABEL) == run.run_id]
        running = [j for j in jobs if j.state == "RUNNING"]
        if left["models"] and left["endpoints"] and running:
            return
        time.sleep(0.2)
