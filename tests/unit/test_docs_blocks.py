"""Every shell and Python block of the docs (README.md, docs/ and the files its pages include)
is run, or says why not.

The convention (docs/contributing.md, "Code blocks"): the line before a ```sh, ```bash or
```python fence is one of

- ``<!-- run-here -->``: this test runs the block (shell under ``bash -euo pipefail``, Python in
  a fresh interpreter), from the repository root, with the test venv first on PATH, no network
  (proxies point at a closed port) and a time limit;
- ``<!-- run-here: pulumi-mocks -->``: a Python block that declares resources, run under
  Pulumi's unit-test mocks (no engine); it must register at least one resource;
- ``<!-- run-by: tests/path/test_x.py::test_name -->``: that test runs the same commands (it
  must exist; the reviewer checks it really does);
- ``<!-- not-run: why -->``: the reason it cannot run here (a GCP project, a long build).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
RUNNABLE = {"sh", "bash", "shell", "python", "py"}
FENCE = re.compile(r"^(?P<indent>\s*)(?P<ticks>```+|~~~+)\s*(?P<lang>[\w+-]*)")
MARKER = re.compile(
    r"^\s*<!--\s*(?P<kind>not-run|run-by|run-here)\s*(?::\s*(?P<arg>.*?))?\s*-->\s*$"
)
TIMEOUT_S = 120

# Python blocks marked `run-here: pulumi-mocks` run between these: Pulumi's mocks stand in for
# the engine, so constructing resources runs the package's real code (arguments, the dynamic
# provider's serialization) and nothing is created anywhere.
MOCKS_BEFORE = """
import pulumi

class _Mocks(pulumi.runtime.Mocks):
    def __init__(self):
        self.registered = []

    def new_resource(self, args):
        self.registered.append(args.typ)
        return [args.name + "-id", args.inputs]

    def call(self, args):
        return {}

_mocks = _Mocks()
pulumi.runtime.set_mocks(_mocks, preview=True)
"""
MOCKS_AFTER = """
from pulumi.runtime.stack import wait_for_rpcs
from pulumi.runtime.sync_await import _sync_await

_sync_await(wait_for_rpcs())
assert _mocks.registered, "the block declared no resource"
print("registered:", _mocks.registered)
"""


@dataclass(frozen=True)
class Block:
    path: str  # relative to the repository
    line: int  # of the opening fence
    lang: str
    code: str
    marker: str | None  # not-run, run-by or run-here
    arg: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line} ({self.lang})"


INCLUDE = re.compile(r'^--8<-- "(?P<path>[^"]+)"', re.M)


def doc_files() -> list[Path]:
    """README.md, every page under docs/ (a link such as docs/_index.md counts once) and every
    file a page includes (``--8<-- "path"``: the site shows its blocks too)."""
    pages = sorted(p for p in (REPO / "docs").rglob("*.md") if not p.is_symlink())
    included = sorted(
        {REPO / m["path"] for page in pages for m in INCLUDE.finditer(page.read_text("utf-8"))}
    )
    return [REPO / "README.md", *pages, *included]


def blocks_of(path: Path) -> list[Block]:
    lines = path.read_text(encoding="utf-8").splitlines()
    found: list[Block] = []
    i = 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        ticks, indent = opening["ticks"], len(opening["indent"])
        end = i + 1
        while end < len(lines) and not re.match(rf"^\s*{re.escape(ticks)}\s*$", lines[end]):
            end += 1
        if opening["lang"] in RUNNABLE:
            before = next((s for s in reversed(lines[:i]) if s.strip()), "")
            marker = MARKER.match(before)
            code = "\n".join(line[indent:] for line in lines[i + 1 : end]) + "\n"
            found.append(
                Block(
                    str(path.relative_to(REPO)),
                    i + 1,
                    opening["lang"],
                    code,
                    marker["kind"] if marker else None,
                    (marker["arg"] or "") if marker else "",
                )
            )
        i = end + 1
    return found


BLOCKS = [block for path in doc_files() for block in blocks_of(path)]


def test_the_docs_have_blocks_to_check() -> None:
    """The parser finds the blocks (a broken parser would make every other test vacuous)."""
    assert len(BLOCKS) >= 20
    assert any(b.path.startswith("provider/") for b in BLOCKS)  # the included files count
    assert any(b.marker == "run-here" for b in BLOCKS)


def test_every_block_is_run_or_says_why_not() -> None:
    unmarked = [str(b) for b in BLOCKS if b.marker is None]
    assert not unmarked, (
        "these blocks are neither run nor marked; put <!-- run-here -->, "
        "<!-- run-by: tests/...::test_name --> or <!-- not-run: why --> on the line before "
        f"(docs/contributing.md, Code blocks): {unmarked}"
    )


def test_a_block_not_run_says_why() -> None:
    assert not [str(b) for b in BLOCKS if b.marker == "not-run" and not b.arg]


def test_a_block_run_by_a_test_names_one_that_exists() -> None:
    missing = []
    for block in (b for b in BLOCKS if b.marker == "run-by"):
        for node in (n.strip() for n in block.arg.split(",")):
            file, _, name = node.partition("::")
            source = REPO / file
            defined = re.compile(rf"^\s*(async )?def {re.escape(name)}\(", re.M)
            if not name or not source.is_file() or not defined.search(source.read_text()):
                missing.append(f"{block}: {node}")
    assert not missing, f"run-by names no test: {missing}"


def _offline_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    for proxy in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        env[proxy] = "http://127.0.0.1:9"  # the discard port: any request fails at once
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    return env


@pytest.mark.parametrize("block", [b for b in BLOCKS if b.marker == "run-here"], ids=str)
def test_a_block_marked_run_here_runs(block: Block) -> None:
    if block.lang in {"python", "py"}:
        code = block.code
        if block.arg == "pulumi-mocks":
            code = MOCKS_BEFORE + code + MOCKS_AFTER
        command = [sys.executable, "-c", code]
    else:
        assert not block.arg, f"{block}: run-here takes no argument for a shell block"
        command = ["bash", "-euo", "pipefail", "-c", block.code]
    done = subprocess.run(
        command,
        cwd=REPO,
        env=_offline_env(),
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )
    assert done.returncode == 0, f"{block} failed ({done.returncode}):\n{done.stdout}{done.stderr}"
