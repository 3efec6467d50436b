"""The wait budget of one `up` (GEMINI_TUNING_WAIT_MINUTES; 330 minutes on GitHub Actions)."""

from __future__ import annotations

import pytest

from gemini_tuning.resources import _wait


def test_no_budget_outside_ci_and_330_minutes_on_github_actions() -> None:
    assert _wait.wait_budget_minutes({}) is None
    assert _wait.wait_budget_minutes({"GITHUB_ACTIONS": "true"}) == _wait.CI_WAIT_MINUTES == 330
    assert _wait.wait_budget_minutes({"GITHUB_ACTIONS": "true", _wait.WAIT_BUDGET: "none"}) is None
    assert _wait.wait_budget_minutes({_wait.WAIT_BUDGET: "0"}) is None
    assert _wait.wait_budget_minutes({_wait.WAIT_BUDGET: "90"}) == 90


def test_a_budget_that_is_not_a_number_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="GEMINI_TUNING_WAIT_MINUTES='soon': expected a number"):
        _wait.wait_budget_minutes({_wait.WAIT_BUDGET: "soon"})


def test_the_wait_ends_at_the_sooner_of_the_timeout_and_what_is_left_of_the_budget(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    monkeypatch.delenv(_wait.WAIT_BUDGET, raising=False)
    assert _wait.wait_limit(60) == (3600, "")
    monkeypatch.setenv(_wait.WAIT_BUDGET, "30")
    started = _wait.PROCESS_STARTED
    seconds, note = _wait.wait_limit(60, now=started + 600)  # 10 of the 30 minutes gone
    assert seconds == pytest.approx(1200)
    assert "GEMINI_TUNING_WAIT_MINUTES=30 minutes" in note
    assert _wait.wait_limit(5, now=started + 600) == (300, "")  # the timeout comes first
    assert _wait.wait_limit(60, now=started + 7200)[0] == 0  # spent: no wait at all


def test_an_injected_faster_clock_keeps_the_budget_counting_from_its_injection(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A test's 60x clock (testing.provider_hooks): the wait budget is not spent at once
    because the process's start is restated on the new clock."""
    monkeypatch.setenv(_wait.WAIT_BUDGET, "30")
    before = _wait._clock
    try:
        _wait.set_clock(_wait.Clock(scale=60.0))
        assert _wait.clock() - _wait.PROCESS_STARTED < 60  # less than a real second gone
        assert _wait.wait_limit(60)[0] > 1700  # so (nearly) all of the 30 minutes are left
        assert _wait.wait_limit(60, now=_wait.PROCESS_STARTED + 600)[0] == pytest.approx(1200)
    finally:
        _wait.set_clock(before)
