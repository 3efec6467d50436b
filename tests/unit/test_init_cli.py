"""`gemini-tuning init`: what it writes, and that it never overwrites (no engine here; the
engine test tests/engine/test_init.py runs `pulumi up` in a scaffolded project)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from gemini_tuning import cli
from gemini_tuning._pulumi_version import PULUMI_VERSION
from gemini_tuning.cli._init import package_source
from gemini_tuning.definitions import load_definition, schema_text

REPO = Path(__file__).resolve().parents[2]


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
    assert f'pulumi-version: "{PULUMI_VERSION}"' in workflow  # the CLI this release is tested with
    requirements = (target / "requirements.txt").read_text().splitlines()
    assert f"pulumi=={PULUMI_VERSION}" in requirements
    # Installed from this checkout (editable): the scaffold installs from it too, not from an
    # index where the package is not published.
    assert f"gemini-tuning[plots] @ {REPO.as_uri()}" in requirements
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


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("git+https://example.com/acme/gemini-tuning@v0.1.0", " @ git+https://example.com/acme/gemini-tuning@v0.1.0"),
        ("https://example.com/acme/gemini-tuning", " @ git+https://example.com/acme/gemini-tuning"),
        ("https://example.com/dist/gemini_tuning-0.1.0-py3-none-any.whl", " @ https://example.com/dist/gemini_tuning-0.1.0-py3-none-any.whl"),
        (str(REPO), f" @ {REPO.as_uri()}"),
    ],
)  # fmt: skip
def test_the_package_source_becomes_a_requirement_pip_reads(given: str, expected: str) -> None:
    assert package_source(given) == expected


def test_a_wheel_source_is_written_into_the_requirements(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wheel = tmp_path / "gemini_tuning-0.1.0-py3-none-any.whl"
    wheel.write_bytes(b"")
    target = tmp_path / "team"
    assert cli.main(["init", str(target), "--package-source", str(wheel)]) == 0
    requirements = (target / "requirements.txt").read_text().splitlines()
    assert f"gemini-tuning[plots] @ {wheel.as_uri()}" in requirements
    out = capsys.readouterr().out
    assert (
        f"pip install -r requirements.txt 'gemini-tuning[emulator,plots] @ {wheel.as_uri()}'" in out
    )
    assert "a CI runner does not have" in out  # a path on this machine: said so
    assert "pulumi login --local" not in out  # no sidecar files (README, Shared state)


def test_a_source_that_is_neither_wheel_nor_project_nor_url_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["init", str(tmp_path / "t"), "--package-source", str(tmp_path)]) == 2
    assert "expected a built wheel (.whl), a source directory" in capsys.readouterr().err
    assert not (tmp_path / "t").exists()


def test_init_with_policies_writes_the_pack_the_repository_enforces(tmp_path: Path) -> None:
    target = tmp_path / "team"
    assert cli.main(["init", str(target), "--policies"]) == 0
    pack = target / "policies"
    for name in ("PulumiPolicy.yaml", "__main__.py", "_rules.py", "requirements.txt", "README.md"):
        assert (pack / name).read_text() == (REPO / "policies" / name).read_text(), name
    for name in ("pack", "bin/pulumi-analyzer-policy-gemini-tuning-python"):
        assert (pack / name).read_text() == (REPO / "policies" / name).read_text(), name
        assert (pack / name).stat().st_mode & 0o111, f"{name} is not executable"
    without = tmp_path / "plain"
    assert cli.main(["init", str(without)]) == 0
    assert not (without / "policies").exists()
