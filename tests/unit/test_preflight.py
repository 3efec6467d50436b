"""preflight's pure logic: what an update needs, what a policy grants, the fix commands."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from gemini_tuning import catalog, cli
from gemini_tuning.backends._project import QuotaFacts
from gemini_tuning.cli import _preflight as pf


def test_a_tuning_stack_needs_to_create_jobs_and_update_models() -> None:
    plan = pf.Plan(stack="dev", role="tuning", base_models={"a": "gemini-2.5-flash"})
    wanted = pf.required_permissions(plan)
    assert "aiplatform.tuningJobs.create" in wanted
    assert "aiplatform.models.update" in wanted
    assert "aiplatform.endpoints.predict" not in wanted  # nothing is evaluated


def test_an_evaluated_model_needs_predict() -> None:
    plan = pf.Plan(stack="dev", role="tuning", evaluates=True)
    assert "aiplatform.endpoints.predict" in pf.required_permissions(plan)


def test_a_promoting_stack_never_needs_to_create_a_job() -> None:
    wanted = pf.required_permissions(pf.Plan(stack="prod", role="promotion"))
    assert wanted == ["aiplatform.models.get", "aiplatform.models.update"]


def test_jobs_to_start_skips_versions_whose_job_is_recorded() -> None:
    outputs = {"models": {"a": {"version": 2, "job": "projects/p/locations/l/tuningJobs/1"}}}
    assert pf.jobs_to_start({"a": 2, "b": 1}, outputs) == 1
    assert pf.jobs_to_start({"a": 3}, outputs) == 1  # a new version: a new job
    assert pf.jobs_to_start({"a": 2, "b": 1}, None) == 2


def test_agents_without_read_names_each_agent_missing() -> None:
    aiplatform = pf.agent_member("123", "gcp-sa-aiplatform")
    tune = pf.agent_member("123", "gcp-sa-vertex-tune")
    assert aiplatform == "serviceAccount:service-123@gcp-sa-aiplatform.iam.gserviceaccount.com"
    policy = {"bindings": [{"role": "roles/storage.objectViewer", "members": [aiplatform]}]}
    assert pf.agents_without_read(policy, "123") == [tune]
    writer_only = {"bindings": [{"role": "roles/storage.objectCreator", "members": [tune]}]}
    assert pf.agents_without_read(writer_only, "123") == [aiplatform, tune]


def test_a_conditional_binding_is_not_counted() -> None:
    members = [pf.agent_member("1", a) for a in pf.SERVICE_AGENTS]
    policy = {
        "bindings": [
            {"role": "roles/storage.objectViewer", "members": members, "condition": {"title": "t"}}
        ]
    }
    assert pf.agents_without_read(policy, "1") == members


def test_location_compatible() -> None:
    assert pf.location_compatible("US-CENTRAL1", [], "us-central1")
    assert pf.location_compatible("US", [], "us-central1")
    assert pf.location_compatible("EU", [], "europe-west4")
    assert not pf.location_compatible("EU", [], "us-central1")
    assert not pf.location_compatible("EUROPE-WEST4", [], "us-central1")
    assert pf.location_compatible("US", ["US-CENTRAL1", "US-EAST1"], "us-central1")
    assert not pf.location_compatible("US", ["US-EAST1", "US-EAST4"], "us-central1")


def test_tunable_in() -> None:
    assert catalog.tunable_in("gemini-2.5-flash", "europe-west4") is True
    assert catalog.tunable_in("gemini-2.5-flash", "asia-northeast2") is False
    assert catalog.tunable_in("gemini-2.5-flash", "us-east4") is None  # not in our copy
    assert catalog.tunable_in("publishers/google/models/gemini-3.5-flash", "asia-east1") is False
    assert catalog.tunable_in("translation-llm-002", "us-east4") is False


def test_fix_commands_name_the_project_bucket_and_region() -> None:
    assert (
        pf.fix_enable_api("p1") == "gcloud services enable aiplatform.googleapis.com --project p1"
    )
    assert pf.fix_bucket_role("b1", "serviceAccount:x@y", "roles/storage.objectViewer") == (
        "gcloud storage buckets add-iam-policy-binding gs://b1 --member serviceAccount:x@y "
        "--role roles/storage.objectViewer"
    )
    assert pf.fix_location("dev", "us-central1") == (
        "pulumi config set gemini-tuning:location us-central1 --stack dev"
    )
    assert pf.fix_quota("p1", "Q", 2, None) == (
        "gcloud quotas preferences create --service=aiplatform.googleapis.com --quota-id=Q "
        '--preferred-value=2 --project=p1 --email="$(gcloud config get-value account)" '
        "--justification='concurrent Gemini tuning jobs'"
    )
    assert "--dimensions=region=us-central1 " in pf.fix_quota("p1", "Q", 2, "us-central1")


def _info(
    quota_id: str, value: int, dims: dict[str, str], *, concurrent: bool = True
) -> QuotaFacts:
    return QuotaFacts(
        quota_id=quota_id,
        metric="aiplatform.googleapis.com/x",
        display_name="Concurrent tuning jobs",
        is_concurrent=concurrent,
        values=((dims, value),),
    )


def test_quota_value_prefers_the_region_and_ignores_rate_quotas() -> None:
    rate = _info("TuningRequestsPerMinute", 5, {}, concurrent=False)
    regional = _info("ConcurrentTuningJobs", 3, {"region": "us-central1"})
    assert pf.quota_value([rate], "us-central1") is None
    assert pf.quota_value([rate, regional], "us-central1") == (
        "ConcurrentTuningJobs",
        3,
        "us-central1",
    )
    assert pf.quota_value([_info("C", 0, {})], "us-central1") == ("C", 0, None)


def test_render_and_exit_state() -> None:
    checks = [
        pf.Check("a", "ok", "fine"),
        pf.Check("b", "fail", "broken", "because", "gcloud fix"),
        pf.Check("c", "skipped", "unknown", "no access"),
    ]
    text = pf.render(checks)
    assert "FAIL  b: broken" in text
    assert "fix: gcloud fix" in text
    assert "1 check(s) failed" in text
    assert pf.failed(checks)
    assert not pf.failed(checks[::2])


def test_flatten_config_takes_object_values() -> None:
    raw = {
        "gemini-tuning:models": {"value": '["a"]', "objectValue": ["a"], "secret": False},
        "gemini-tuning:location": {"value": "us-central1", "secret": False},
    }
    assert pf.flatten_config(raw) == {
        "gemini-tuning:models": ["a"],
        "gemini-tuning:location": "us-central1",
    }


def test_json_lists_every_check_and_exit_1_while_one_fails(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    checks = [pf.Check("a", "ok", "fine"), pf.Check("b", "fail", "broken", "why", "gcloud x")]
    monkeypatch.setattr(pf, "preflight", lambda *_args: checks)
    assert cli.main(["preflight", "--stack", "s", "--json"]) == 1
    printed = json.loads(capsys.readouterr().out)
    assert printed == [
        {"name": "a", "status": "ok", "what": "fine", "why": "", "fix": ""},
        {"name": "b", "status": "fail", "what": "broken", "why": "why", "fix": "gcloud x"},
    ]
    monkeypatch.setattr(pf, "preflight", lambda *_args: checks[:1])
    assert cli.main(["preflight", "--stack", "s", "--json"]) == 0


def test_without_the_extra_it_names_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(pf, "missing_clients", lambda: ["google-cloud-quotas"])
    assert cli.main(["preflight", "--stack", "s"]) == 2
    assert "pip install 'gemini-tuning[preflight]'" in capsys.readouterr().err


def test_an_unreadable_config_is_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setattr(pf, "pulumi_config", lambda _cwd: lambda _stack: None)
    assert cli.main(["preflight", "--stack", "nope", "--cwd", str(tmp_path)]) == 2
    assert "the config of stack nope cannot be read" in capsys.readouterr().err


ROOT = Path(__file__).resolve().parents[2]


def test_build_plan_of_the_demo_stack() -> None:
    plan = pf.build_plan(
        "dev", {"gemini-tuning:models": ["squad-qa", "number-successor"]}, ROOT, None
    )
    assert plan.role == "tuning"
    assert plan.base_models == {
        "squad-qa": "gemini-2.5-flash",
        "number-successor": "gemini-2.5-flash",
    }
    assert plan.evaluates
    assert plan.jobs == 2


def test_a_map_without_promote_from_pins_versions_of_a_tuning_stack() -> None:
    outputs = {"models": {"squad-qa": {"version": 1, "job": "projects/p/locations/l/tuningJobs/9"}}}
    plan = pf.build_plan("dev", {"gemini-tuning:models": {"squad-qa": 1}}, ROOT, outputs)
    assert plan.role == "tuning"
    assert plan.jobs == 0  # version 1 already has its job


def test_a_promoting_stack_starts_no_job() -> None:
    config = {
        "gemini-tuning:models": {"squad-qa": 1},
        "gemini-tuning:promoteFrom": "organization/gemini-tuning/cloud-dev",
    }
    plan = pf.build_plan("staging", config, ROOT, None)
    assert plan.role == "promotion"
    assert plan.jobs == 0


def test_a_stack_without_models_is_an_error() -> None:
    with pytest.raises(ValueError, match="selects no models"):
        pf.build_plan("dev", {}, ROOT, None)


def test_without_application_default_credentials_it_says_how_to_log_in(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "missing.json"))
    config = {
        "gemini-tuning:project": {"value": "p1"},
        "gemini-tuning:models": {"objectValue": ["squad-qa"]},
        "gemini-tuning:datasetBucket": {"value": "b1"},
    }
    found = pf.preflight("cloud-dev", ROOT, lambda _s: config, lambda _s: None)
    assert isinstance(found, list)
    assert [(c.name, c.status) for c in found] == [("credentials", "fail")]
    assert found[0].fix == "gcloud auth application-default login"


class BucketReader:
    """A ProjectReader whose caller holds ``held`` on every bucket (a user's credentials)."""

    caller_email = None

    def __init__(self, held: list[str]) -> None:
        self.held = held

    def granted_bucket_permissions(self, bucket: str, wanted: Sequence[str]) -> set[str]:
        return {p for p in wanted if p in self.held}


def test_a_caller_who_cannot_write_the_bucket_gets_object_admin() -> None:
    plan = pf.Plan(stack="dev", role="tuning")
    check = pf._caller_bucket(plan, "b1", BucketReader(["storage.objects.get"]))  # type: ignore[arg-type]
    assert check.status == "fail"
    assert "storage.objects.create" in check.what
    assert check.fix == (
        'gcloud storage buckets add-iam-policy-binding gs://b1 --member user:"$(gcloud config '
        'get-value account)" --role roles/storage.objectAdmin'
    )
    promoting = pf._caller_bucket(pf.Plan(stack="prod", role="promotion"), "b1", BucketReader([]))  # type: ignore[arg-type]
    assert promoting.fix.endswith("--role roles/storage.objectViewer")


def test_the_caller_member_is_the_service_account_when_there_is_one() -> None:
    robot = "deployer@p1.iam.gserviceaccount.com"
    assert pf.caller_member(robot) == "serviceAccount:deployer@p1.iam.gserviceaccount.com"
    assert pf.caller_member(None) == 'user:"$(gcloud config get-value account)"'
