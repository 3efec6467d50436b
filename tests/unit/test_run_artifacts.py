"""RunArtifacts without a bucket: what create writes and what delete removes (the engine, the
bucket and the secret evaluation input: tests/engine/test_environments.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gemini_tuning.resources import run_artifacts


def _props(**overrides: object) -> dict[str, object]:
    return {
        "resource_name": "qa-artifacts",
        "model": "qa",
        "version": 2.0,  # as the engine hands numbers back
        "stack": "dev",
        "folder": "artifacts/dev/qa",
        "tuned_model": "projects/p/locations/l/models/m@2",
        "loss_per_epoch": [],
        "evaluation": {"metrics": {"exact_match": 0.5, "examples": 4}, "gate": {}},
        **overrides,
    }


def test_create_writes_the_files_and_delete_removes_only_those(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "Pulumi.yaml").write_text("name: p\n")
    monkeypatch.chdir(tmp_path)
    provider = run_artifacts.RunArtifactsProvider()
    created = provider.create(_props())
    folder = tmp_path / "artifacts" / "dev" / "qa"
    assert sorted(p.name for p in folder.iterdir()) == [
        "evaluation.json",
        "evaluation.md",
        "loss-curve.txt",  # no loss published: a note, no chart
    ]
    assert (folder / "evaluation.md").read_text().startswith("# qa v2 — evaluation (dev)")
    assert created.outs["links"] == {
        "folder": "artifacts/dev/qa",
        "loss_curve": "artifacts/dev/qa/loss-curve.txt",
        "evaluation": "artifacts/dev/qa/evaluation.md",
    }
    provider.delete(created.id, created.outs)
    assert not (tmp_path / "artifacts" / "dev").exists()  # the model's and the stack's folders

    provider.create(_props())
    (folder / "notes.md").write_text("mine\n")
    provider.delete("x", _props())
    assert sorted(p.name for p in folder.iterdir()) == ["notes.md"]


def test_a_folder_outside_the_project_or_a_bucket_that_is_not_gs_fails_at_preview() -> None:
    check = run_artifacts.RunArtifactsProvider().check(
        {}, _props(folder="../elsewhere", bucket_folder="s3://b/x")
    )
    assert [f.property for f in check.failures] == ["folder", "bucket_folder"]
