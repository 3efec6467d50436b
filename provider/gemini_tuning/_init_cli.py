"""`gemini-tuning init DIR`: a team's own repository, scaffolded from this package's templates.

Platform teams install the package into their own repository instead of forking this one. The
templates (``_init_templates/``, package data) are the Pulumi project (program at the root, its
own ``.venv``), one example definition with a tiny dataset, the JSON Schema of definitions
(generated from the installed package, so it matches it), an emulator ``dev`` stack, a
``cloud-dev`` template and the GitHub workflow. `init` refuses a directory that is not empty
(a ``.git`` or ``.venv`` alone is fine) unless ``--force``, and never overwrites a file: with
``--force`` existing files are kept.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterator, Mapping
from importlib import metadata, resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

TEMPLATES = "_init_templates"
# Template names that would mean something else inside the package: a dot file, a module.
RENAMES = {"gitignore": ".gitignore", "github": ".github", "__main__.py.tmpl": "__main__.py"}
SCHEMA_PATH = "schema/model-definition.schema.json"
# What may be there before `init` without making the directory "not empty": a fresh clone's
# .git, and the venv the package was just installed into.
ALLOWED_BEFORE = frozenset({".git", ".venv", "venv"})


def register(groups: Any) -> None:
    parser = groups.add_parser(
        "init",
        help="scaffold a team's own repository (Pulumi project, models/, stacks, workflow)",
        description="Write a new gemini-tuning Pulumi project into DIR.",
    )
    parser.add_argument("dir", type=Path, help="where to write it (created if missing)")
    parser.add_argument("--name", help="the Pulumi project name (default: DIR's name)")
    parser.add_argument(
        "--force",
        action="store_true",
        help="write into a directory that is not empty (existing files are never overwritten)",
    )
    parser.set_defaults(handler=_handle)


def _handle(args: argparse.Namespace) -> int:
    target: Path = args.dir.resolve()
    try:
        name = project_name(args.name or target.name)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if target.exists() and not target.is_dir():
        print(f"error: {target} exists and is not a directory", file=sys.stderr)
        return 2
    present = sorted(p.name for p in target.iterdir()) if target.is_dir() else []
    others = [name for name in present if name not in ALLOWED_BEFORE]
    if others and not args.force:
        print(
            f"error: {target} is not empty ({', '.join(others[:5])}); use --force to add the "
            "files that are missing (existing files are never overwritten)",
            file=sys.stderr,
        )
        return 1
    written, kept = write_files(target, render(name, _versions()))
    for path in written:
        print(f"wrote {path}")
    for path in kept:
        print(f"kept {path} (exists; not overwritten)")
    print(next_steps(target))
    return 0


def project_name(raw: str) -> str:
    """A Pulumi project name from ``raw`` (letters, digits, '-', '_', '.'), or ValueError."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", raw).strip("-.")
    if not name:
        raise ValueError(f"cannot make a Pulumi project name of {raw!r}: pass --name NAME")
    if name.lower().startswith("pulumi"):
        raise ValueError(f"project name {name!r}: names starting with 'pulumi' are reserved")
    return name


def render(project: str, versions: Mapping[str, str]) -> dict[str, str]:
    """Every file of the new project (relative path -> text): the templates with the project
    name and versions filled in, and the schema of the installed package's definitions."""
    from gemini_tuning.definitions import schema_text

    values = {
        "@@PROJECT@@": project,
        "@@VERSION@@": versions["gemini-tuning"],
        "@@PULUMI@@": versions["pulumi"],
    }
    files: dict[str, str] = {}
    for relative, template in _templates(resources.files("gemini_tuning") / TEMPLATES, ""):
        text = template.read_text(encoding="utf-8")
        for placeholder, value in values.items():
            text = text.replace(placeholder, value)
        files[relative] = text
    files[SCHEMA_PATH] = schema_text()
    return files


def write_files(target: Path, files: Mapping[str, str]) -> tuple[list[Path], list[Path]]:
    """Write ``files`` under ``target``, never over an existing file: (written, kept)."""
    written, kept = [], []
    for relative, text in sorted(files.items()):
        path = target / relative
        if path.exists():
            kept.append(path)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("x", encoding="utf-8") as out:  # "x": fails rather than overwrite
            out.write(text)
        written.append(path)
    return written, kept


def next_steps(target: Path) -> str:
    return f"""
Next, in {target}:
  python3 -m venv .venv && .venv/bin/pip install -r requirements.txt 'gemini-tuning[emulator]'
  export PATH="$PWD/.venv/bin:$PATH" PULUMI_CONFIG_PASSPHRASE=...   # or your secrets provider
  pulumi login --local                     # or your state backend (the workflow: gs://...)
  gemini-tuning emulator start --seconds-per-epoch 1
  pulumi stack init dev && pulumi up --stack dev
Then fill in Pulumi.cloud-dev.yaml and .github/workflows/gemini-tuning.yml (state bucket,
Workload Identity) for the cloud chain."""


def _templates(folder: Traversable, prefix: str) -> Iterator[tuple[str, Traversable]]:
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name == "__pycache__":
            continue
        relative = f"{prefix}{RENAMES.get(entry.name, entry.name)}"
        if entry.is_dir():
            yield from _templates(entry, f"{relative}/")
        else:
            yield relative, entry


def _versions() -> dict[str, str]:
    return {name: metadata.version(name) for name in ("gemini-tuning", "pulumi")}
