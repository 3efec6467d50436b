"""The release workflow (.github/workflows/release.yml): a tag builds what `make dist` builds and
publishes it with trusted publishing; its version check runs here on this checkout's files."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
RELEASE = REPO / ".github" / "workflows" / "release.yml"


@pytest.fixture(scope="module")
def release() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(RELEASE.read_text())
    return loaded


def _step(job: dict[str, Any], name_part: str) -> dict[str, Any]:
    (step,) = [s for s in job["steps"] if name_part in str(s.get("name", ""))]
    return step


def test_only_a_version_tag_releases(release: dict[str, Any]) -> None:
    trigger = release[True]  # YAML 1.1 reads the key `on` as true
    assert trigger == {"push": {"tags": ["v*.*.*"]}}


def test_publishing_is_trusted_publishing_with_the_only_oidc_permission(
    release: dict[str, Any],
) -> None:
    assert release["permissions"] == {"contents": "read"}
    jobs = release["jobs"]
    publish = jobs["publish"]
    assert publish["needs"] == "build"
    assert publish["environment"] == "pypi"
    assert publish["permissions"] == {"id-token": "write"}
    uses = [s.get("uses", "") for s in publish["steps"]]
    assert "pypa/gh-action-pypi-publish@release/v1" in uses
    text = RELEASE.read_text()
    assert "password" not in text
    assert "secrets." not in text  # no token: OIDC only
    others = [name for name, job in jobs.items() if "id-token" in job.get("permissions", {})]
    assert others == ["publish"]


def test_the_build_is_what_make_dist_runs(release: dict[str, Any]) -> None:
    build = _step(release["jobs"]["build"], "Build the wheel")
    assert "hatchling build -d dist" in build["run"]
    assert "hatchling build -d dist" in (REPO / "Makefile").read_text()


def _check(version: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """The workflow's own version check, run on copies of this checkout's files."""
    for name in ("pyproject.toml", "CHANGELOG.md"):
        shutil.copy(REPO / name, tmp_path / name)
    script = _step(yaml.safe_load(RELEASE.read_text())["jobs"]["build"], "agree")["run"]
    return subprocess.run(
        ["bash", "-eo", "pipefail", "-c", script],
        cwd=tmp_path,
        env={"GITHUB_REF_NAME": f"v{version}", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_tag_must_match_the_package_version_and_have_a_changelog_section(
    tmp_path: Path,
) -> None:
    import tomllib

    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    done = _check(version, tmp_path)
    assert done.returncode == 0, done.stderr
    notes = (tmp_path / "release-notes.md").read_text()
    assert "TuningJob, TunedModel, Evaluation and Release" in notes  # the section's body
    assert "## [" not in notes  # only that section
    refused = _check("9.9.9", tmp_path)
    assert refused.returncode == 1
    assert "pyproject.toml is not at 9.9.9" in refused.stderr
