"""`gemini-tuning sweep`'s selection rules (pure: no service) and the acceptance target."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta

import pytest

from gemini_tuning._claims import claim_labels
from gemini_tuning.backends import BackendError, EndpointStatus, JobStatus, ModelStatus
from gemini_tuning.cli import _sweep as sweep
from gemini_tuning.resources._lifecycle import RESOURCE_LABEL, identity_labels, owner_label
from gemini_tuning.specs import RUN_LABEL, _check_labels
from tests.acceptance._target import SKIP_LINE, TargetError, target

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
OLD = "2026-12-06T08:00:00Z"  # 4 h before NOW
NEW = "2026-12-06T11:30:00Z"  # 30 min before NOW
OURS = {RESOURCE_LABEL: "abc", RUN_LABEL: "run-1"}
P = "projects/p/locations/l"


def job(name: str, state: str, labels: dict[str, str], **kw: object) -> JobStatus:
    return JobStatus(name=f"{P}/tuningJobs/{name}", state=state, labels=labels, **kw)  # type: ignore[arg-type]


def test_a_run_sweep_selects_only_what_carries_the_run_id_and_our_own_label() -> None:
    selector = sweep.Selector(run_id="run-1", now=NOW)
    assert selector.selects(OURS, NEW)
    assert not selector.selects({**OURS, RUN_LABEL: "run-2"}, NEW)
    assert not selector.selects({RUN_LABEL: "run-1"}, NEW)  # not created by gemini-tuning
    assert not selector.selects({RESOURCE_LABEL: "abc"}, NEW)


def test_older_than_alone_selects_old_disposable_runs_only() -> None:
    selector = sweep.Selector(older_than=timedelta(hours=2), now=NOW)
    assert selector.selects(OURS, OLD)
    assert not selector.selects(OURS, NEW)
    assert not selector.selects(OURS, None)  # no creation time: not known to be old
    assert not selector.selects({RESOURCE_LABEL: "abc"}, OLD)  # a stack's model: never
    both = sweep.Selector(run_id="run-1", older_than=timedelta(hours=2), now=NOW)
    assert both.selects(OURS, OLD)
    assert not both.selects(OURS, NEW)


def test_a_stack_sweep_selects_by_the_resource_hash_and_keeps_what_another_stack_claims() -> None:
    owner = owner_label("gemini-tuning/dev", "squad-qa")
    assert identity_labels("gemini-tuning/dev", "squad-qa", {})[RESOURCE_LABEL] == owner
    selector = sweep.Selector(owners=frozenset({owner}), stack="gemini-tuning/dev", now=NOW)
    mine = {RESOURCE_LABEL: owner}
    assert selector.selects(mine, NEW)
    assert not selector.selects({RESOURCE_LABEL: owner_label("gemini-tuning/dev", "x")}, NEW)

    own_claim = ModelStatus(f"{P}/models/1@1", labels={**mine, **claim_labels("gemini-tuning/dev")})
    claimed = ModelStatus(
        f"{P}/models/2@1", labels={**mine, **claim_labels("gemini-tuning/staging")}
    )
    plan = sweep.select(selector, [], [own_claim, claimed], [])
    assert [m.name for m in plan.models] == [own_claim.name]
    [(name, why)] = plan.kept
    assert name == claimed.name
    assert "claimed by gemini-tuning-staging" in why


def test_a_selector_needs_a_criterion() -> None:
    with pytest.raises(sweep.SweepError, match="--run-id, --stack and/or --older-than"):
        sweep.Selector(now=NOW)


def test_select_cancels_active_jobs_counts_finished_ones_and_picks_labelled_endpoints() -> None:
    selector = sweep.Selector(run_id="run-1", now=NOW)
    jobs = [
        job("1", "RUNNING", OURS),
        job("2", "SUCCEEDED", OURS),
        job("3", "CANCELLING", OURS),  # on its way: waited for, not cancelled again
        job("4", "RUNNING", {RESOURCE_LABEL: "abc"}),  # another run's
    ]
    endpoints = [
        EndpointStatus(f"{P}/endpoints/1", labels=OURS),
        EndpointStatus(f"{P}/endpoints/2", labels={"team": "x"}),
    ]
    models = [ModelStatus(f"{P}/models/1@1", labels=OURS), ModelStatus(f"{P}/models/2@1")]
    plan = sweep.select(selector, jobs, models, endpoints)
    assert [j.name for j in plan.cancel] == [f"{P}/tuningJobs/1"]
    assert plan.finished_jobs == 1
    assert plan.cancelling == [f"{P}/tuningJobs/3"]  # it may still complete: not "nothing"
    assert not plan.empty
    assert [e.name for e in plan.endpoints] == [f"{P}/endpoints/1"]
    assert [m.name for m in plan.models] == [f"{P}/models/1@1"]
    assert plan.kept == []  # a run sweep deletes claimed versions too: the run is disposable


def test_only_uploads_no_other_job_uses_are_removed_never_a_users_own_dataset() -> None:
    upload = "gs://b/gemini-tuning/datasets/aa.jsonl"
    shared = "gs://b/gemini-tuning/datasets/bb.jsonl"
    own = "gs://b/my-data/train.jsonl"
    mine = [
        job("1", "SUCCEEDED", OURS, declared={"training_dataset": upload}),
        job(
            "2", "SUCCEEDED", OURS, declared={"training_dataset": own, "validation_dataset": shared}
        ),
    ]
    others = [job("3", "SUCCEEDED", {}, declared={"training_dataset": shared})]
    assert sweep.dataset_objects(mine, others) == [upload]


def test_release_records_of_swept_jobs_go_with_their_artifacts_but_not_a_kept_versions() -> None:
    records = [
        (
            "gs://b/r/1.json",
            {"job": "j1", "tuned_model": "m1@1", "tuning_stack": "p/s", "model": "qa"},
        ),
        (
            "gs://b/r/2.json",
            {"job": "j2", "tuned_model": "m2@1", "tuning_stack": "p/s", "model": "x"},
        ),
        ("gs://b/r/3.json", {"job": "j3", "tuned_model": "m3@1"}),
    ]
    found = sweep.release_objects(records, {"j1", "j3"}, set(), "b", kept={"m3@1"})
    assert found == ["gs://b/r/1.json", "gs://b/gemini-tuning/artifacts/p/s/qa/"]


@pytest.mark.parametrize(
    ("text", "seconds"), [("45s", 45), ("30m", 1800), ("2h", 7200), ("7d", 7 * 86400)]
)
def test_durations(text: str, seconds: int) -> None:
    assert sweep.parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["2", "h", "2w", "-1h", "1.5h"])
def test_bad_durations_are_usage_errors(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=r"e\.g\. 2h"):
        sweep.parse_duration(text)


def test_describe_a_dry_run_and_an_empty_one() -> None:
    plan = sweep.Plan(
        cancel=[job("1", "RUNNING", OURS)],
        models=[ModelStatus(f"{P}/models/1@1")],
        objects=["gs://b/gemini-tuning/datasets/aa.jsonl"],
        kept=[(f"{P}/models/2@1", "claimed by prod")],
    )
    text = sweep.describe(plan, applied=False, done=[])
    assert f"would cancel job {P}/tuningJobs/1 (RUNNING)" in text
    assert f"would delete model version {P}/models/1@1" in text
    assert "would delete gs://b/gemini-tuning/datasets/aa.jsonl" in text
    assert f"kept {P}/models/2@1: claimed by prod" in text
    assert text.endswith("dry run: nothing was changed; run again with --yes to remove these")
    assert sweep.describe(sweep.Plan(), applied=False, done=[]) == "nothing to sweep"


def test_the_run_label_is_the_one_reserved_label_a_definition_may_set() -> None:
    assert _check_labels({RUN_LABEL: "acc-1"}) == {RUN_LABEL: "acc-1"}
    with pytest.raises(ValueError, match="reserved"):
        _check_labels({"gemini-tuning-owner": "x"})


def test_the_acceptance_target() -> None:
    assert target({}) is None
    assert "GEMINI_TUNING_ACCEPTANCE_TARGET=emulator" in SKIP_LINE
    assert "\n" not in SKIP_LINE
    emulator = target({"GEMINI_TUNING_ACCEPTANCE_TARGET": "emulator"})
    assert emulator is not None
    assert not emulator.live
    live_env = {
        "GEMINI_TUNING_LIVE_PROJECT": "p",
        "GEMINI_TUNING_LIVE_LOCATION": "us-central1",
        "GEMINI_TUNING_LIVE_BUCKET": "gs://b",
    }
    with pytest.raises(TargetError, match="GEMINI_TUNING_LIVE_MAX_USD not set"):
        target(live_env)
    live = target({**live_env, "GEMINI_TUNING_LIVE_MAX_USD": "2"})
    assert live is not None
    assert (live.live, live.bucket, live.max_usd) == (True, "b", 2.0)
    with pytest.raises(TargetError, match="GEMINI_TUNING_LIVE_BUCKET not set"):
        target({**live_env, "GEMINI_TUNING_LIVE_BUCKET": "", "GEMINI_TUNING_LIVE_MAX_USD": "2"})


class FakeVertex:
    """The backend calls a sweep makes, recorded; deletes of ``refuse`` fail as the service's
    FAILED_PRECONDITION would."""

    def __init__(self, refuse: set[str]) -> None:
        self.refuse = refuse
        self.calls: list[str] = []

    def delete_endpoint(self, name: str) -> list[str]:
        self.calls.append(f"delete_endpoint {name}")
        return [f"deleted endpoint {name}"]

    def delete_version(self, name: str, _endpoint: object) -> list[str]:
        self.calls.append(f"delete_version {name}")
        if name in self.refuse:
            raise BackendError("400 The model is in use by a pipeline")
        return [f"deleted model {name}"]


def test_a_refused_model_delete_is_kept_and_reported_with_the_gcloud_command() -> None:
    from gemini_tuning.backends import Settings

    sweeper = sweep.Sweeper.__new__(sweep.Sweeper)
    sweeper.settings = Settings(project="p", location="l", api_endpoint="http://127.0.0.1:1")
    fake = FakeVertex(refuse={f"{P}/models/7@2"})
    sweeper.vertex = fake  # type: ignore[assignment]
    plan = sweep.Plan(
        endpoints=[EndpointStatus(f"{P}/endpoints/1", labels=OURS)],
        models=[ModelStatus(f"{P}/models/7@2"), ModelStatus(f"{P}/models/8@1")],
    )
    steps: list[str] = []
    failed = sweeper._remove(plan, steps.append)
    assert fake.calls == [
        f"delete_endpoint {P}/endpoints/1",
        f"delete_version {P}/models/7@2",
        f"delete_version {P}/models/8@1",  # one refusal does not stop the sweep
    ]
    [(name, why)] = failed
    assert name == f"{P}/models/7@2"
    assert "the service refused the delete (400 The model is in use by a pipeline); kept" in why
    assert why.endswith("gcloud ai models delete-version 7@2 --region=l --project=p")
    assert steps == [f"deleted endpoint {P}/endpoints/1", f"deleted model {P}/models/8@1"]
