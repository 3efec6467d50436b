"""`gemini-tuning preflight` against the emulator: the demo (dev) stack passes, and each
failure is reported with its fix. The emulator's settings are put back after each test."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from gemini_tuning import cli
from gemini_tuning.cli import _preflight as pf
from gemini_tuning.emulator._config import project_number
from gemini_tuning.testing import EmulatorProcess

ROOT = Path(__file__).resolve().parents[2]
DEV = ROOT / "stacks" / "Pulumi.dev.yaml"


@pytest.fixture
def dev_config(emu: EmulatorProcess, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """The dev stack's config as `pulumi config --json` prints it; `apiEndpoint: emulator`
    finds this emulator through its emulator.json."""
    monkeypatch.setenv("GEMINI_TUNING_EMULATOR_HOME", str(emu.state_dir))
    for key in ("GOOGLE_CLOUD_PROJECT", "GEMINI_TUNING_PROJECT", "GEMINI_TUNING_LOCATION"):
        monkeypatch.delenv(key, raising=False)
    config = yaml.safe_load(DEV.read_text())["config"]
    yield {k: {"value": str(v), "objectValue": v, "secret": False} for k, v in config.items()}
    emu.configure(denied_permissions=[], disabled_services=[], max_running_jobs=None)


def run(config: Mapping[str, Any]) -> list[pf.Check]:
    found = pf.preflight("dev", ROOT, lambda _s: config, lambda _s: None)
    assert not isinstance(found, str), found
    return found


def by_name(checks: list[pf.Check]) -> dict[str, pf.Check]:
    return {c.name: c for c in checks}


def with_values(config: Mapping[str, Any], **values: Any) -> dict[str, Any]:
    out = dict(config)
    for key, value in values.items():
        out[f"gemini-tuning:{key}"] = {"value": str(value), "objectValue": value, "secret": False}
    return out


def bucket(emu: EmulatorProcess, name: str, location: str, readers: list[str]) -> str:
    """A bucket whose policy grants ``readers`` objectViewer (a user's own bucket)."""
    client = emu.storage_client()
    created = client.bucket(name)
    created.create(location=location)
    policy = created.get_iam_policy(requested_policy_version=3)
    policy.bindings = [{"role": "roles/storage.objectViewer", "members": set(readers)}]
    created.set_iam_policy(policy)
    return name


def agents() -> list[str]:
    number = project_number("local-project")
    return [pf.agent_member(number, a) for a in pf.SERVICE_AGENTS]


def test_the_demo_stack_passes(dev_config: dict[str, Any]) -> None:
    checks = run(dev_config)
    assert not pf.failed(checks), pf.render(checks)
    names = by_name(checks)
    assert names["project"].status == "ok"
    assert names["vertex-api"].status == "ok"
    assert names["permissions"].status == "ok"
    assert names["service-agent-bucket"].status == "ok"
    assert names["bucket-location"].status == "ok"
    assert names["base-model:squad-qa"].status == "ok"
    # The emulator enforces no concurrent-job limit until max_running_jobs is set.
    assert names["tuning-quota"].status == "skipped"


def test_a_disabled_api_fails_with_the_enable_command(
    emu: EmulatorProcess, dev_config: dict[str, Any]
) -> None:
    emu.configure(disabled_services=["aiplatform.googleapis.com"])
    check = by_name(run(dev_config))["vertex-api"]
    assert check.status == "fail"
    assert check.fix == "gcloud services enable aiplatform.googleapis.com --project local-project"


def test_missing_permissions_are_named(emu: EmulatorProcess, dev_config: dict[str, Any]) -> None:
    emu.configure(denied_permissions=["aiplatform.tuningJobs.create"])
    check = by_name(run(dev_config))["permissions"]
    assert check.status == "fail"
    assert "aiplatform.tuningJobs.create" in check.what
    assert check.fix.startswith("gcloud projects add-iam-policy-binding local-project --member ")
    assert check.fix.endswith("--role roles/aiplatform.user")


def test_a_project_the_caller_cannot_read_stops_the_checks(
    emu: EmulatorProcess, dev_config: dict[str, Any]
) -> None:
    emu.configure(denied_permissions=["resourcemanager.projects.get"])
    checks = run(dev_config)
    assert [c.name for c in checks] == ["credentials", "project"]
    assert checks[1].status == "fail"
    assert "403" in checks[1].why
    assert checks[1].fix == "gcloud auth application-default login"


def test_an_unreadable_quota_or_api_state_is_skipped_and_said(
    emu: EmulatorProcess, dev_config: dict[str, Any]
) -> None:
    emu.configure(
        max_running_jobs=0,
        denied_permissions=["cloudquotas.quotas.get", "serviceusage.services.get"],
    )
    checks = by_name(run(dev_config))
    assert checks["tuning-quota"].status == "skipped"
    assert "cloudquotas.quotas.get" in checks["tuning-quota"].why
    assert checks["vertex-api"].status == "skipped"
    assert not pf.failed(list(checks.values()))


def test_a_bucket_the_agent_cannot_read(emu: EmulatorProcess, dev_config: dict[str, Any]) -> None:
    name = bucket(emu, "preflight-one-agent", "US", agents()[:1])
    check = by_name(run(with_values(dev_config, datasetBucket=name)))["service-agent-bucket"]
    assert check.status == "fail"
    assert check.fix == (
        "gcloud beta services identity create --service aiplatform.googleapis.com "
        "--project local-project && "
        + pf.fix_bucket_role(name, agents()[1], "roles/storage.objectViewer")
    )


def test_a_bucket_in_another_region(emu: EmulatorProcess, dev_config: dict[str, Any]) -> None:
    name = bucket(emu, "preflight-in-europe", "EUROPE-WEST4", agents())
    check = by_name(run(with_values(dev_config, datasetBucket=name)))["bucket-location"]
    assert check.status == "fail"
    assert "--location us-central1 --project local-project" in check.fix


def test_a_quota_below_the_jobs(emu: EmulatorProcess, dev_config: dict[str, Any]) -> None:
    emu.configure(max_running_jobs=1)
    check = by_name(run(dev_config))["tuning-quota"]
    assert check.status == "fail"  # the dev stack starts two jobs at once
    assert "--preferred-value=2" in check.fix
    capped = by_name(run(with_values(dev_config, maxConcurrentJobs="1")))["tuning-quota"]
    assert capped.status == "ok"  # the provider runs one at a time


def test_done_when_three_failures_and_exit_1(
    emu: EmulatorProcess,
    dev_config: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A bucket the agents cannot read, a location that does not tune gemini-2.5-flash, and a
    quota of 0: the three failures with their fixes, exit 1."""
    name = bucket(emu, "preflight-no-agents", "ASIA", [])
    emu.configure(max_running_jobs=0)
    config = with_values(dev_config, datasetBucket=name, location="asia-northeast2")
    monkeypatch.setattr(pf, "pulumi_config", lambda _cwd: lambda _s: config)
    monkeypatch.setattr("gemini_tuning.cli._report.pulumi_reader", lambda _cwd: lambda _s: None)
    code = cli.main(["preflight", "--stack", "dev", "--cwd", str(ROOT)])
    out = capsys.readouterr().out
    assert code == 1, out
    failures = [line for line in out.splitlines() if line.startswith("FAIL")]
    assert [f.split(":")[0] for f in failures] == [
        "FAIL  base-model",
        "FAIL  base-model",
        "FAIL  service-agent-bucket",
        "FAIL  tuning-quota",
    ], out
    assert "fix: pulumi config set gemini-tuning:location us-central1 --stack dev" in out
    assert f"gs://{name} --member {agents()[0]}" in out
    assert "--preferred-value=2" in out
    assert out.splitlines()[-1] == "4 check(s) failed"  # three causes; two models fail one
    print(out)


def test_the_gcs_emulator_keeps_the_location_and_grants_only_its_start_bucket(
    emu: EmulatorProcess,
) -> None:
    client = emu.storage_client()
    made = client.bucket("preflight-where")
    made.create(location="europe-west4")
    assert client.get_bucket("preflight-where").location == "EUROPE-WEST4"
    assert client.get_bucket("preflight-where").location_type == "region"
    fresh = made.get_iam_policy(requested_policy_version=3).to_api_repr()
    assert pf.agents_without_read(fresh, project_number("local-project")) == agents()
    start = client.get_bucket("gemini-tuning-dev").get_iam_policy(requested_policy_version=3)
    assert pf.agents_without_read(start.to_api_repr(), project_number("local-project")) == []
