"""A clone of this repository is all a team gets: nothing may point outside it, and the README
stays a front page whose links land."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SIBLING = "../" + "shared"  # spelled in two pieces so that this file does not match itself
README_MAX_LINES = 200


def repository_files() -> list[str]:
    """Tracked files, and new ones git does not ignore (so a file not yet committed counts)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.decode()
    return sorted({name for name in listed.split("\0") if name and (REPO / name).is_file()})


def test_no_file_refers_to_a_sibling_folder() -> None:
    """The design notes that lived in a sibling folder are vendored under docs/reference/; a user's
    clone has no sibling folder."""
    offenders = []
    for name in repository_files():
        try:
            text = (REPO / name).read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue  # binary files (the SQuAD slice is JSON; images are not text)
        offenders += [
            f"{name}:{n}" for n, line in enumerate(text.splitlines(), 1) if SIBLING in line
        ]
    assert not offenders, f"files refer to {SIBLING}: {offenders}"


def test_the_readme_is_a_front_page_with_the_two_commands() -> None:
    """Under 200 lines, and it still states what CI runs (.ci/run runs `make test`)."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) < README_MAX_LINES
    assert re.search(r"^make demo\b", readme, re.M)
    assert re.search(r"^make test\b", readme, re.M)
    assert "make test" in (REPO / ".ci" / "run").read_text()


def test_every_relative_link_of_the_readme_lands() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    targets = re.findall(r"\]\(([^)\s]+)\)", readme)
    relative = [t for t in targets if not re.match(r"^(?:[a-z][a-z0-9+.-]*:|#)", t)]
    assert relative, "the README links into the docs site"
    missing = [t for t in relative if not (REPO / t.partition("#")[0]).exists()]
    assert not missing, f"README links to files that do not exist: {missing}"
