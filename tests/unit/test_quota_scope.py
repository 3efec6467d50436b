"""The in-process job queue counts a project's jobs across all its locations (as the service's
concurrent-tuning-job quota does: resources/_submit.py), and preview says how many jobs an
update starts against that limit."""

from __future__ import annotations

import dataclasses

import pytest

from gemini_tuning.backends._settings import Settings
from gemini_tuning.resources import _submit

GOOGLE = Settings(project="p", location="us", api_endpoint="https://x", endpoint_mode="google")


def test_the_queue_counts_a_project_across_its_locations() -> None:
    eu = dataclasses.replace(GOOGLE, location="europe-west4", api_endpoint="https://y")
    assert _submit.quota_scope(GOOGLE) == _submit.quota_scope(eu)
    other = dataclasses.replace(GOOGLE, project="q")
    assert _submit.quota_scope(other) != _submit.quota_scope(GOOGLE)
    emulator = dataclasses.replace(
        GOOGLE, api_endpoint="http://127.0.0.1:9", endpoint_mode="emulator"
    )
    assert _submit.quota_scope(emulator) != _submit.quota_scope(GOOGLE)


def test_preview_counts_each_new_job_once_against_the_limit(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_submit, "_planned", {})
    settings = dataclasses.replace(GOOGLE, project="counted")
    for resource in ("a", "b", "a", "c"):
        _submit.announce_start(settings, 2, resource=resource)
    lines = capsys.readouterr().err.splitlines()
    assert [line.split(": this update starts tuning job ")[1][:1] for line in lines] == [
        "1",
        "2",
        "3",
    ]
    assert "in project counted" in lines[0]
    assert "maxConcurrentJobs 2 at once)" in lines[1]
    assert "this one waits in the queue until one of the first 2 ends" in lines[2]


def test_without_a_limit_preview_says_the_service_decides(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_submit, "_planned", {})
    _submit.announce_start(GOOGLE, None, resource="a")
    assert "the service's quota decides" in capsys.readouterr().err
