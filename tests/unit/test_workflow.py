"""The example workflow keeps issue 14's contracts: shared state, one `up` per stack at a time,
a refreshed preview whose saved plan is what `up` applies (tests/engine/test_saved_plan.py and
test_shared_backend.py show the engine side)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
WORKFLOW = REPO / ".github" / "workflows" / "gemini-tuning.yml"
# What `gemini-tuning init` writes into a team's repository keeps the same contracts.
INIT_WORKFLOW = (
    REPO / "provider/gemini_tuning/cli/_init_templates/github/workflows/gemini-tuning.yml"
)


@pytest.fixture(params=[WORKFLOW, INIT_WORKFLOW], ids=["repo", "init-template"])
def workflow(request: pytest.FixtureRequest) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(request.param.read_text())
    return loaded


def _runs(job: dict[str, Any]) -> list[str]:
    return [" ".join(str(step.get("run", "")).split()) for step in job["steps"]]


def test_the_state_backend_is_the_shared_bucket_from_the_repository_settings(
    workflow: dict[str, Any],
) -> None:
    url = workflow["env"]["PULUMI_BACKEND_URL"]
    assert "vars.PULUMI_BACKEND_URL" in url
    assert "file:" not in url


def test_one_up_per_stack_at_a_time_and_never_cancelled(workflow: dict[str, Any]) -> None:
    up = workflow["jobs"]["up"]
    assert "${{ matrix.stack }}" in up["concurrency"]["group"]
    assert up["concurrency"]["cancel-in-progress"] is False


def test_every_preview_refreshes_and_saves_the_plan_every_up_applies(
    workflow: dict[str, Any],
) -> None:
    jobs = workflow["jobs"]
    runs = _runs(jobs["preview"]) + _runs(jobs["up"])
    previews = [r for r in runs if re.search(r"\bpulumi preview\b", r)]
    ups = [r for r in runs if re.search(r"\bpulumi up\b", r)]
    assert previews
    assert ups
    reviewed = [p for p in previews if "> preview.json" in p]  # what the summary shows
    assert reviewed
    for preview in previews:
        assert "--refresh" in preview
    for preview in reviewed:
        assert "--save-plan plan-${{ matrix.stack }}.json" in preview
    for up in ups:
        assert "--plan plan-${{ matrix.stack }}.json" in up
        assert "--refresh" in up  # as the preview that saved the plan (test_saved_plan.py)


def test_the_pull_requests_plan_is_uploaded_and_the_apply_downloads_it(
    workflow: dict[str, Any],
) -> None:
    jobs = workflow["jobs"]
    (upload,) = [s for s in jobs["preview"]["steps"] if "upload-artifact" in s.get("uses", "")]
    assert upload["with"]["name"] == "plan-${{ matrix.stack }}"
    downloads = [r for r in _runs(jobs["up"]) if "gh run download" in r]
    assert downloads
    assert all("--name plan-${{ matrix.stack }}" in r for r in downloads)


def test_the_repos_previews_and_ups_enforce_the_policy_pack() -> None:
    jobs = yaml.safe_load(WORKFLOW.read_text())["jobs"]
    runs = [
        r
        for r in _runs(jobs["preview"]) + _runs(jobs["up"])
        if re.search(r"\bpulumi (preview|up)\b", r)
    ]
    assert runs
    assert all("--policy-pack policies" in r for r in runs)


def test_the_scaffolded_workflow_enforces_the_policy_pack_where_the_repository_has_one() -> None:
    jobs = yaml.safe_load(INIT_WORKFLOW.read_text())["jobs"]
    for job in ("preview", "up"):
        (install,) = [s for s in jobs[job]["steps"] if "policy pack" in str(s.get("name"))]
        assert install["if"] == "hashFiles('policies/PulumiPolicy.yaml') != ''"
        assert 'echo "POLICY_PACK=--policy-pack policies" >> "$GITHUB_ENV"' in install["run"]
        runs = [r for r in _runs(jobs[job]) if re.search(r"\bpulumi (preview|up)\b", r)]
        assert runs
        assert all("$POLICY_PACK" in r for r in runs)
