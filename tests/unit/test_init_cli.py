"""`gemini-tuning init`: what it writes, and that it never overwrites (no engine here; the
engine test tests/engine/test_init.py runs `pulumi up` in a scaffolded project)."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

import pytest
import yaml

from gemini_tuning import cli
from gemini_tuning.definitions import load_definition, schema_text


def test_init_writes_a_project_that_loads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "ml-platform"
    (target / ".git").mkdir(parents=True)  # a fresh clone is still "empty"
    assert cli.main(["init", str(target)]) == 0
    project = yaml.safe_load((target / "Pulumi.yaml").read_text())
    assert project["name"] == "ml-platform"
    assert project["runtime"] == {
        "name": "python",
        "options": {"toolchain": "pip", "virtualenv": ".venv"},
    }
    assert "main" not in project  # the program at the root: .venv resolves the same for all
    assert "from gemini_tuning.program import run" in (target / "__main__.py").read_text()
    dev = yaml.safe_load((target / "Pulumi.dev.yaml").read_text())["config"]
    assert dev["gemini-tuning:apiEndpoint"] == "emulator"
    assert dev["gemini-tuning:datasetBucket"] == "gemini-tuning-dev"  # the emulator's bucket
    assert dev["gemini-tuning:modelsDir"] == "models"
    assert dev["gemini-tuning:models"] == ["example"]
    definition = load_definition(target / "models" / "example.yaml")  # its datasets exist
    assert definition.version == 1
    assert (target / "schema" / "model-definition.schema.json").read_text() == schema_text()
    assert (target / ".gitignore").read_text().startswith("/.venv/")
    workflow = (target / ".github" / "workflows" / "gemini-tuning.yml").read_text()
    assert "pip install -r requirements.txt" in workflow
    assert "make setup" not in workflow
    assert f'pulumi-version: "{metadata.version("pulumi")}"' in workflow
    requirements = (target / "requirements.txt").read_text()
    assert f"gemini-tuning[plots]=={metadata.version('gemini-tuning')}" in requirements
    assert "@@" not in "".join(p.read_text() for p in target.rglob("*") if p.is_file())
    assert "pulumi up --stack dev" in capsys.readouterr().out


def test_init_refuses_a_directory_that_is_not_empty_and_never_overwrites(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / ".gitignore").write_text("mine\n")
    assert cli.main(["init", str(tmp_path)]) == 1
    assert "is not empty (.gitignore); use --force" in capsys.readouterr().err
    assert not (tmp_path / "Pulumi.yaml").exists()
    assert cli.main(["init", str(tmp_path), "--force"]) == 0
    assert (tmp_path / ".gitignore").read_text() == "mine\n"
    assert "kept" in capsys.readouterr().out
    assert (tmp_path / "Pulumi.yaml").is_file()


def test_init_names_a_project_pulumi_accepts(tmp_path: Path) -> None:
    assert cli.main(["init", str(tmp_path / "a b"), "--name", "team models!"]) == 0
    assert yaml.safe_load((tmp_path / "a b" / "Pulumi.yaml").read_text())["name"] == "team-models"
    assert cli.main(["init", str(tmp_path / "c"), "--name", "pulumi-x"]) == 2
