"""The timing log (gemini_tuning/_timing.py): nothing without GEMINI_TUNING_TIMING_LOG, one JSON
line per mark with it, and only the fields given."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from gemini_tuning import _timing


def test_without_the_variable_nothing_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(_timing.TIMING_LOG, raising=False)
    monkeypatch.chdir(tmp_path)
    _timing.mark("check", resource="qa")
    assert not _timing.enabled()
    assert list(tmp_path.iterdir()) == []


def test_each_mark_is_one_line_in_time_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "timing.jsonl"
    monkeypatch.setenv(_timing.TIMING_LOG, str(log))
    _timing.mark("create", resource="qa")
    _timing.mark("process", at=1.0)
    _timing.mark("poll", resource="qa", state="RUNNING")
    events = _timing.read_log(log)
    assert [e["event"] for e in events] == ["process", "create", "poll"]
    assert events[2] == {**events[2], "resource": "qa", "state": "RUNNING"}
    assert set(events[1]) == {"t", "pid", "event", "resource"}
    assert len(log.read_text().splitlines()) == 3


def test_the_process_start_is_before_now() -> None:
    started = _timing.process_started()
    assert started is not None
    assert 0 < time.time() - started < 24 * 3600
