"""`gemini-tuning plan-summary` on recorded `pulumi preview --json` outputs (issue 14, item 3).

The fixtures in previews/ are what the real engine printed against the emulator; re-record them
with `.venv/bin/python -m tests.plan_summary.record` (see that script for the scenario).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gemini_tuning import cli
from gemini_tuning.cli._plan_summary import Summary, render, summarize

PREVIEWS = Path(__file__).resolve().parent / "previews"
MODEL = "number-successor"


def load(case: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((PREVIEWS / f"{case}.json").read_text())
    return data


def plan(case: str, **kwargs: Any) -> Summary:
    return summarize(load(case), models_dir=None, **kwargs)


def recorded_exit(case: str) -> int:
    return int((PREVIEWS / f"{case}.exit").read_text())


def test_a_first_tune_shows_the_job_its_tokens_and_cost() -> None:
    summary = plan("tune")
    (m,) = summary.models
    assert (m.name, m.action, m.new_version) == (MODEL, "tune", 1)
    assert m.estimate is not None
    assert (m.estimate.tokens, m.estimate.epochs, m.estimate.total_tokens) == (49, 5, 245)
    assert m.estimate.usd == pytest.approx(245 * 5 / 1e6)
    assert m.gate == {"exact_match": 0.9, "token_f1": 0.9}
    text = render(summary)
    assert "| number-successor | **tune** | v1 | 49 x 5 | $0.0012 |" in text
    assert "**Total**: 245 training tokens" in text
    assert recorded_exit("tune") == 0


def test_a_re_tune_names_the_changed_field_and_the_new_version() -> None:
    (m,) = plan("retune").models
    assert m.action == "re-tune"
    assert (m.old_version, m.new_version) == (1, 2)
    assert "replace: epoch_count changed (5 -> 6)" in m.reasons
    assert m.estimate is not None
    assert (m.estimate.tokens, m.estimate.epochs) == (49, 6)
    assert "v1 → v2" in render(plan("retune"))


def test_a_promotion_tunes_nothing_and_names_the_model_it_serves() -> None:
    summary = plan("promote")
    (m,) = summary.models
    assert m.action == "promote"
    assert m.new_version == 1
    assert m.estimate is None
    assert summary.total_usd == 0
    assert m.target is not None
    assert m.target.endswith("@1")
    assert "/models/" in m.target
    assert m.gate == {}  # no definitions given: the gate comes from the checkout's definition
    with_gate = summarize(load("promote"), models_dir=Path("stacks/models"))
    assert with_gate.models[0].gate == {"exact_match": 0.9, "token_f1": 0.9}


def test_a_rollback_is_told_from_a_promotion_by_the_versions() -> None:
    (m,) = plan("rollback").models
    assert m.action == "roll back"
    assert (m.old_version, m.new_version) == (2, 1)
    assert "serves v2 now, v1 after" in m.reasons
    assert "**roll back** | v2 → v1" in render(plan("rollback"))


def test_a_missed_gate_blocks_the_model_shows_the_error_and_the_definitions_gate(
    tmp_path: Path,
) -> None:
    """The preview failed before declaring the model: it is blocked, the engine's error is quoted
    verbatim, and the gate is the checkout's definition's. What v1 scored sits only inside the
    error's wording, which the summary never parses: the margin says it was not checked."""
    (tmp_path / f"{MODEL}.yaml").write_text(
        "evaluation:\n  gate: {exact_match: 0.99, token_f1: 0.99}\n"
    )
    summary = summarize(load("gate-miss"), models_dir=tmp_path)
    assert recorded_exit("gate-miss") != 0  # the preview itself failed
    assert summary.failed
    (m,) = summary.models
    assert (m.action, m.new_version) == ("blocked", 1)
    assert m.gate == {"exact_match": 0.99, "token_f1": 0.99}
    assert m.margin == "not checked: the preview failed"
    text = render(summary)
    assert "**Preview failed**" in text
    assert "evaluation gate not met: exact_match 0.93 < gate 0.99" in text
    assert "an unhandled error occurred" not in text


def test_nothing_is_read_from_the_wording_of_a_message() -> None:
    """Issue 24, item 1: the estimate, the reasons and the versions come from the steps'
    structured state; a preview whose diagnostics say nothing (or something else) gives the same
    plan."""
    preview = load("retune")
    silent = {**preview, "diagnostics": []}
    reworded = {
        **preview,
        "diagnostics": [
            {
                "message": "[gemini-tuning] number-successor: estimate: 1 training tokens "
                "(1 tokens x 1 epochs), about $9.99\n",
                "severity": "info#err",
            },
            {
                "message": "[gemini-tuning] number-successor: replace: nothing changed\n",
                "severity": "info#err",
            },
        ],
    }
    expected = plan("retune")
    assert summarize(silent, models_dir=None) == expected
    assert summarize(reworded, models_dir=None) == expected
    (m,) = expected.models
    assert m.estimate is not None
    assert m.estimate.usd == pytest.approx(294 * 5 / 1e6)
    assert "replace: nothing changed" not in m.reasons


def test_a_changed_dataset_content_is_named_as_the_reason_to_re_tune() -> None:
    preview = load("retune")
    for step in preview["steps"]:
        if step["urn"].endswith("TuningJob::number-successor"):
            inputs = step["newState"]["inputs"]
            inputs["epoch_count"] = 5  # only the data changes
            inputs["training_dataset_fingerprint"] = "sha256:" + "cd34" * 16
            inputs["training_dataset_examples"] = 16
    (m,) = summarize(preview, models_dir=None).models
    assert m.action == "re-tune"
    assert any(
        r.startswith("replace: training dataset content changed (sha256 ")
        and r.endswith(".. -> cd34.., 15 -> 16 examples)")
        for r in m.reasons
    ), m.reasons
    assert not any("epoch_count" in r for r in m.reasons)


def test_cost_over_the_ceiling_is_marked_and_the_command_exits_1(
    capsys: pytest.CaptureFixture[str],
) -> None:
    preview = str(PREVIEWS / "retune.json")
    assert cli.main(["plan-summary", preview, "--max-cost", "0.001"]) == 1
    out = capsys.readouterr().out
    assert "about $0.0015 — **over budget** (max $0.0010)" in out
    assert cli.main(["plan-summary", preview, "--max-cost", "5"]) == 0
    assert "within budget (max $5.00)" in capsys.readouterr().out


def test_the_command_exits_1_on_a_failed_preview_and_2_on_unreadable_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["plan-summary", str(PREVIEWS / "gate-miss.json")]) == 1
    assert "**blocked**" in capsys.readouterr().out
    bad = tmp_path / "preview.json"
    bad.write_text("not json")
    assert cli.main(["plan-summary", str(bad)]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_the_total_adds_every_job_and_is_marked_over_the_ceiling() -> None:
    summary = plan("over-budget", max_cost=1.0)
    assert [(m.name, m.action) for m in summary.models] == [
        ("number-successor", "tune"),
        ("squad-qa", "tune"),
    ]
    costs = [m.estimate.usd for m in summary.models if m.estimate is not None]
    assert len(costs) == 2
    assert summary.total_usd == pytest.approx(sum(costs))
    assert summary.total_tokens == 276_767
    assert summary.total_usd > 1.0
    assert summary.over_budget
    assert "about $1.38 — **over budget** (max $1.00)" in render(summary)
    assert not plan("over-budget", max_cost=2.0).over_budget
    assert recorded_exit("over-budget") == 0  # the engine has no ceiling: the summary is the gate


def test_the_cli_reads_the_gate_from_the_stacks_models_dir(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A team's repository (`gemini-tuning init`) keeps its definitions in models/, named by
    the stack's gemini-tuning:modelsDir: plan-summary reads the gate there, not stacks/models."""
    preview = load("promote")
    (name,) = [m.name for m in summarize(preview).models]
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / f"{name}.yaml").write_text("evaluation:\n  gate: {exact_match: 0.42}\n")
    preview["config"] = {**preview.get("config", {}), "gemini-tuning:modelsDir": "models"}
    (tmp_path / "preview.json").write_text(json.dumps(preview))
    monkeypatch.chdir(tmp_path)
    cli.main(["plan-summary", "preview.json"])
    assert "0.42" in capsys.readouterr().out


def _with_job_curve(validation: list[float], new_epochs: int) -> dict[str, Any]:
    """The recorded re-tune, as if v1's job had published ``validation`` and v2 asked for
    ``new_epochs`` (the rest of the preview as recorded)."""
    preview = load("retune")
    for step in preview["steps"]:
        if step["urn"].endswith("TuningJob::number-successor"):
            step["oldState"]["outputs"]["validation_loss_per_epoch"] = validation
            step["oldState"]["outputs"]["effective_epoch_count"] = len(validation)
            step["oldState"]["outputs"]["epoch_count"] = len(validation)
            step["newState"]["inputs"]["epoch_count"] = new_epochs
    return preview


def test_a_job_that_ran_is_advised_from_its_recorded_curve_until_the_definition_takes_it() -> None:
    assert plan("retune").models[0].advice is None  # its training loss kept falling
    flat = [2.0, 1.2, 0.9, 0.899, 0.9]
    (m,) = summarize(_with_job_curve(flat, 6), models_dir=None).models
    assert m.advice is not None
    assert (m.advice.curve, m.advice.suggested_epoch_count, m.advised_version) == (
        "validation",
        3,
        1,
    )
    text = render(summarize(_with_job_curve(flat, 6), models_dir=None))
    assert (
        "- number-successor v1: validation loss no better after epoch 3 of 5: epoch_count 3 "
        "reaches the same loss (within 1%) for 40% less training cost"
    ) in text
    (taken,) = summarize(_with_job_curve(flat, 3), models_dir=None).models
    assert taken.advice is None
    assert "Epoch advice" not in render(summarize(_with_job_curve(flat, 3), models_dir=None))
