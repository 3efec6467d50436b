"""Datasets at `pulumi preview` (issue 5): each corpus fault fails preview naming file, line
and field, with zero API calls; one changed line replaces with the reason; no change, no diff."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pulumi
import pytest
from pulumi import automation as auto

from gemini_tuning.testing import EmulatorProcess, provider_hooks, run_emulator
from tests.support.datasets import CASES, CORPUS
from tests.support.engine import Run, emulator_config, inline_stack, write_examples

pytestmark = [pytest.mark.engine, pytest.mark.emulator]

# Cases a TuningJob can declare: current Vertex models, and the Gemini API backend (whose models
# Google retired, but which the resource still accepts). Retired Vertex models fail earlier, in
# the spec ("retired for tuning"), which test_specs covers.
PREVIEWABLE = {
    name: case
    for name, case in CASES.items()
    if case[0][0] in ("gemini-2.5-flash", "models/gemini-1.5-flash-001-tuning")
    and case[1] == "training"
}


def corpus_program(name: str) -> Callable[[], None]:
    (model, backend), _role, _line, _field = PREVIEWABLE[name]

    def program() -> None:
        from gemini_tuning import TuningJob

        TuningJob(
            "corpus-case", backend=backend, base_model=model, training_dataset=str(CORPUS / name)
        )

    return program


@pytest.fixture(scope="module")
def corpus_stack(
    tmp_path_factory: pytest.TempPathFactory, pulumi_bin: Path
) -> Iterator[tuple[auto.Stack, EmulatorProcess]]:
    """One emulator and one stack for all corpus previews (the engine stops a preview at its
    first failed check, so each fault gets a preview of its own)."""
    tmp = tmp_path_factory.mktemp("corpus")
    with run_emulator(tmp / "emulator") as emu:
        first = corpus_program(next(iter(PREVIEWABLE)))
        with inline_stack(tmp / "engine", pulumi_bin, first, config=emulator_config(emu)) as stack:
            yield stack, emu


def test_the_preview_corpus_holds_at_least_30_faults() -> None:
    assert len(PREVIEWABLE) >= 30


@pytest.mark.parametrize("name", sorted(PREVIEWABLE))
def test_corpus_fault_fails_preview_at_its_line_and_field(
    name: str, corpus_stack: tuple[auto.Stack, EmulatorProcess]
) -> None:
    stack, emu = corpus_stack
    emu.reset_stats()
    stack.workspace.program = corpus_program(name)
    run = Run()
    with pytest.raises(auto.errors.CommandError):
        stack.preview(**run.kwargs())
    _model, _role, line, field = PREVIEWABLE[name]
    expected = f"{CORPUS / name}:{line}: {field}: " if line else f"{CORPUS / name}: file: "
    assert (
        f"property training_dataset value {{{CORPUS / name}}} has a problem: {expected}" in run.text
    )
    assert emu.stats()["total"] == 0  # no API call: the fault was caught in check


def one_job(data: Path) -> Callable[[], None]:
    def program() -> None:
        from gemini_tuning import TuningJob

        job = TuningJob(
            "qa",
            base_model="gemini-2.5-flash",
            training_dataset=str(data),
            epoch_count=2,
            poll_interval_seconds=0.2,
        )
        pulumi.export("fingerprint", job.training_dataset_fingerprint)

    return program


def _replaced_keys(run: Run) -> list[Any]:
    return [
        tuple(e.resource_pre_event.metadata.keys or ())
        for e in run.events
        if e.resource_pre_event
        and e.resource_pre_event.metadata.op in ("replace", "create-replacement")
    ]


def test_one_changed_line_replaces_with_the_content_reason(
    tmp_path: Path, pulumi_bin: Path, emulator: EmulatorProcess
) -> None:
    data = write_examples(tmp_path / "train.jsonl", count=30)
    with inline_stack(
        tmp_path / "engine", pulumi_bin, one_job(data), config=emulator_config(emulator)
    ) as stack:
        before = stack.up(color="never").outputs["fingerprint"].value

        stack.preview(expect_no_changes=True, color="never")  # unchanged file: no change

        lines = data.read_text().splitlines()
        lines[6] = lines[6].replace("city 6", "the city of six")
        data.write_text("\n".join(lines) + "\n")
        run = Run()
        preview = stack.preview(**run.kwargs())
        assert preview.change_summary.get("replace") == 1
        assert set(_replaced_keys(run)) == {("training_dataset_fingerprint",)}
        after = hashlib.sha256(data.read_bytes()).hexdigest()
        old, new = before.removeprefix("sha256:")[:4], after[:4]
        reason = f"replace: training dataset content changed (sha256 {old}.. -> {new}..)"
        assert reason in run.text


def _wait_out_the_racy_window(data: Path) -> None:
    """Until the file is older than RACY_MARGIN_NS: before that, every check re-reads it."""
    from gemini_tuning.datasets._cache import RACY_MARGIN_NS

    st = data.stat()
    written = max(st.st_mtime_ns, st.st_ctime_ns)
    time.sleep(max(0.0, (written + RACY_MARGIN_NS - time.time_ns()) / 1e9 + 0.05))


def test_a_second_preview_reads_no_dataset_and_still_sees_a_same_size_rewrite(
    tmp_path: Path, pulumi_bin: Path, emulator: EmulatorProcess
) -> None:
    """The fingerprint cache through the engine: the provider's real reads are logged
    (testing.provider_hooks); an unchanged file is read by no preview, and a rewrite
    that keeps the size and restores the mtime is still a content change."""
    data = write_examples(tmp_path / "train.jsonl", count=30)
    reads = tmp_path / "reads.log"
    env = {
        **provider_hooks(tmp_path / "hooks", dataset_read_log=reads),
        "GEMINI_TUNING_FINGERPRINT_CACHE": str(tmp_path / "fingerprints"),
    }
    _wait_out_the_racy_window(data)
    with inline_stack(
        tmp_path / "engine", pulumi_bin, one_job(data), config=emulator_config(emulator), env=env
    ) as stack:
        stack.up(color="never")
        assert reads.read_text().splitlines() == [str(data)]  # the check of `up`

        stack.preview(expect_no_changes=True, color="never")
        stack.preview(expect_no_changes=True, color="never")
        assert reads.read_text().splitlines() == [str(data)]  # neither preview read it

        st = data.stat()
        text = data.read_text()
        data.write_text(text.replace("city 6.", "town 6.", 1))
        os.utime(data, ns=(st.st_atime_ns, st.st_mtime_ns))
        assert (data.stat().st_size, data.stat().st_mtime_ns) == (st.st_size, st.st_mtime_ns)
        run = Run()
        preview = stack.preview(**run.kwargs())
        assert preview.change_summary.get("replace") == 1
        assert "replace: training dataset content changed" in run.text
        # Read again: its identity changed. (The engine checks a replacement a second time, with
        # no old inputs; inside the racy window of the rewrite that check reads it too.)
        read = reads.read_text().splitlines()
        assert len(read) >= 2
        assert set(read) == {str(data)}
