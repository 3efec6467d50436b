"""The dataset fingerprint cache (datasets/_cache.py): a hit reads nothing, and no change to a
file's content is ever missed — not a same-size rewrite with its mtime restored, not a write in
the same timestamp tick as the read."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gemini_tuning import catalog
from gemini_tuning.datasets import _cache, cached, fingerprint_file
from gemini_tuning.resources import _dataset_inputs as ds
from gemini_tuning.testing import log_dataset_reads
from tests.support.engine import write_examples

LATER = 10 * 1_000_000_000  # a read that started 10 s after the file was last written


def later_clock() -> int:
    return time.time_ns() + LATER


class Counted:
    """A compute function that counts its real reads of the file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.reads = 0

    def __call__(self) -> dict[str, Any]:
        self.reads += 1
        return fingerprint_file(self.path).to_dict()


def same_size_rewrite(path: Path, old: str, new: str) -> None:
    """Change the content, keep the size, and put the mtime back as it was (to the ns)."""
    assert len(old) == len(new)
    st = os.stat(path)
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    after = os.stat(path)
    assert (after.st_size, after.st_mtime_ns) == (st.st_size, st.st_mtime_ns)


def test_an_unchanged_file_is_not_read_again(tmp_path: Path) -> None:
    data = write_examples(tmp_path / "train.jsonl")
    compute = Counted(data)
    first = cached(data, {"check": "t"}, compute, directory=tmp_path / "c", clock=later_clock)
    second = cached(data, {"check": "t"}, compute, directory=tmp_path / "c", clock=later_clock)
    assert first == second == fingerprint_file(data).to_dict()
    assert compute.reads == 1


def test_a_same_size_rewrite_with_its_mtime_restored_is_seen(tmp_path: Path) -> None:
    data = write_examples(tmp_path / "train.jsonl")
    compute = Counted(data)
    before = cached(data, {"check": "t"}, compute, directory=tmp_path / "c", clock=later_clock)

    same_size_rewrite(data, "city 3.", "town 3.")
    # The clock says the read is 10 s after any write, so the racy rule would trust the entry:
    # only the ctime in the file's identity can catch this rewrite.
    after = cached(data, {"check": "t"}, compute, directory=tmp_path / "c", clock=later_clock)

    assert compute.reads == 2
    assert after["sha256"] != before["sha256"]
    assert after == fingerprint_file(data).to_dict()


def test_a_file_as_new_as_its_read_is_read_again(tmp_path: Path) -> None:
    """The racy-timestamp rule: a file whose mtime or ctime is not strictly older than its read
    (minus the margin) may have changed in the same tick, so its entry is not trusted."""
    data = write_examples(tmp_path / "train.jsonl")
    st = os.stat(data)
    same_tick = lambda: max(st.st_mtime_ns, st.st_ctime_ns)  # noqa: E731
    compute = Counted(data)
    for _ in range(2):
        cached(data, {"check": "t"}, compute, directory=tmp_path / "c", clock=same_tick)
    assert compute.reads == 2

    cached(data, {"check": "t"}, compute, directory=tmp_path / "c", clock=later_clock)
    cached(data, {"check": "t"}, compute, directory=tmp_path / "c", clock=later_clock)
    assert compute.reads == 3  # a read well after the last write stores an entry it can trust


def test_a_file_written_just_now_is_read_by_every_check_at_first(tmp_path: Path) -> None:
    data = write_examples(tmp_path / "train.jsonl")
    compute = Counted(data)
    cached(data, {"check": "t"}, compute, directory=tmp_path / "c")
    cached(data, {"check": "t"}, compute, directory=tmp_path / "c")
    assert compute.reads == 2  # within RACY_MARGIN_NS of its write, by the real clock


def test_other_rules_are_another_entry(tmp_path: Path) -> None:
    data = write_examples(tmp_path / "train.jsonl")
    compute = Counted(data)
    for rules in ({"check": "t", "role": "training"}, {"check": "t", "role": "validation"}):
        cached(data, rules, compute, directory=tmp_path / "c", clock=later_clock)
    assert compute.reads == 2


def _entry_files(directory: Path) -> list[Path]:
    return sorted(directory.iterdir())


def test_a_corrupt_entry_is_ignored_and_replaced(tmp_path: Path) -> None:
    data = write_examples(tmp_path / "train.jsonl")
    compute = Counted(data)
    where = tmp_path / "c"
    cached(data, {"check": "t"}, compute, directory=where, clock=later_clock)
    (entry,) = _entry_files(where)
    entry.write_text('{"version": 1, "result": ')  # cut short
    assert cached(data, {"check": "t"}, compute, directory=where, clock=later_clock) == (
        fingerprint_file(data).to_dict()
    )
    assert compute.reads == 2
    assert json.loads(entry.read_text())["result"] == fingerprint_file(data).to_dict()


def test_a_tampered_result_that_is_not_a_dict_is_a_miss(tmp_path: Path) -> None:
    data = write_examples(tmp_path / "train.jsonl")
    compute = Counted(data)
    where = tmp_path / "c"
    cached(data, {"check": "t"}, compute, directory=where, clock=later_clock)
    (entry,) = _entry_files(where)
    entry.write_text(json.dumps({**json.loads(entry.read_text()), "result": [1]}))
    cached(data, {"check": "t"}, compute, directory=where, clock=later_clock)
    assert compute.reads == 2


def test_threads_storing_at_once_leave_one_whole_entry(tmp_path: Path) -> None:
    data = write_examples(tmp_path / "train.jsonl", count=2000)
    where = tmp_path / "c"
    results: list[dict[str, Any]] = []
    barrier = threading.Barrier(8)

    def check() -> None:
        barrier.wait()
        results.append(cached(data, {"check": "t"}, Counted(data), directory=where))

    threads = [threading.Thread(target=check) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [fingerprint_file(data).to_dict()] * 8
    (entry,) = _entry_files(where)  # no temporary file left behind
    assert json.loads(entry.read_text())["result"] == results[0]


def test_an_unwritable_cache_only_costs_a_read(tmp_path: Path) -> None:
    data = write_examples(tmp_path / "train.jsonl")
    blocker = tmp_path / "c"
    blocker.write_text("a file where the directory should be")
    compute = Counted(data)
    for _ in range(2):
        cached(data, {"check": "t"}, compute, directory=blocker, clock=later_clock)
    assert compute.reads == 2


def test_the_cache_can_be_turned_off(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(_cache.CACHE_ENV, "off")
    assert _cache.cache_directory() is None
    monkeypatch.setenv(_cache.CACHE_ENV, str(tmp_path / "c"))
    assert _cache.cache_directory() == tmp_path / "c"
    monkeypatch.delenv(_cache.CACHE_ENV)
    monkeypatch.chdir(tmp_path)
    assert _cache.cache_directory() == tmp_path / ".state" / "fingerprints"


def test_the_read_log_names_each_real_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    data = write_examples(tmp_path / "train.jsonl")
    log = tmp_path / "reads.log"
    log_dataset_reads(log)
    try:
        for _ in range(2):
            cached(data, {"check": "t"}, Counted(data), directory=tmp_path / "c", clock=later_clock)
    finally:
        log_dataset_reads(None)
    assert log.read_text().splitlines() == [str(data)]


# -- the check a TuningJob makes at preview, through the cache --------------------------------


def _validated_via_cache(data: Path, where: Path, clock: Callable[[], int]) -> dict[str, Any]:
    model = catalog.lookup("gemini-2.5-flash")
    rules = {"check": "validate", "location": str(data), "model": repr(model), "role": "training"}
    return cached(
        data,
        rules,
        lambda: ds._validated(str(data), model, "training", None),
        directory=where,
        clock=clock,
    )


def test_a_cached_check_reports_the_same_errors(tmp_path: Path) -> None:
    data = write_examples(tmp_path / "train.jsonl")
    same_size_rewrite(data, '"model"', '"modal"')  # a role Vertex refuses, on line 1
    fresh = _validated_via_cache(data, tmp_path / "c", later_clock)
    again = _validated_via_cache(data, tmp_path / "c", later_clock)
    assert fresh["errors"]
    assert again == fresh
    assert ":1: " in fresh["errors"][0]


def test_check_local_returns_what_validation_found(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(_cache.CACHE_ENV, str(tmp_path / "c"))
    data = write_examples(tmp_path / "train.jsonl", count=30)
    model = catalog.lookup("gemini-2.5-flash")
    first = ds.check_local(str(data), model, "training")
    second = ds.check_local(str(data), model, "training")
    assert first == second
    assert first.examples == 30
    assert first.stats.examples == 30
    assert first.fingerprint == f"sha256:{fingerprint_file(data).sha256}"


def test_an_evaluation_check_sees_a_same_size_rewrite(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from gemini_tuning.resources.evaluation import EvaluationProvider

    monkeypatch.setenv(_cache.CACHE_ENV, str(tmp_path / "c"))
    data = write_examples(tmp_path / "eval.jsonl", count=12)
    news = {
        "resource_name": "qa-eval",
        "backend": "vertex",
        "target": "projects/1/locations/l/endpoints/7",
        "eval_dataset": str(data),
        "gate": {"exact_match": 0.5},
    }
    first = EvaluationProvider().check({}, news)
    same_size_rewrite(data, "city 3.", "town 3.")
    second = EvaluationProvider().check({}, news)
    assert first.failures == second.failures == []
    assert first.inputs["eval_dataset_examples"] == 12
    assert second.inputs["eval_dataset_fingerprint"] == f"sha256:{fingerprint_file(data).sha256}"
    assert second.inputs["eval_dataset_fingerprint"] != first.inputs["eval_dataset_fingerprint"]


def test_the_default_cache_lives_in_the_project_even_when_the_provider_runs_in_stacks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`main: stacks/` runs the provider in stacks/; the cache still goes to the project's
    ignored .state/, not to an untracked stacks/.state/."""
    (tmp_path / "Pulumi.yaml").write_text("name: p\nruntime: python\n")
    (tmp_path / "stacks").mkdir()
    monkeypatch.chdir(tmp_path / "stacks")
    monkeypatch.delenv(_cache.CACHE_ENV, raising=False)
    assert _cache.cache_directory() == tmp_path / ".state" / "fingerprints"
