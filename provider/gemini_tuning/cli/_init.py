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
import json
import re
import sys
from collections.abc import Iterator, Mapping
from importlib import metadata, resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from gemini_tuning._pulumi_version import PULUMI_VERSION

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
        "--package-source",
        metavar="SOURCE",
        help="where the project installs gemini-tuning from: a built wheel, a source directory, "
        "or a git URL (git+https://...@TAG). Default: where this copy was installed from "
        "(a wheel, a checkout or a git URL), else the package index at this version",
    )
    parser.add_argument(
        "--policies",
        action="store_true",
        help="also write the policy pack (policies/: cost ceilings, allowed models and regions, "
        "required labels, promotion rules), which the scaffolded workflow then enforces",
    )
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
    try:
        source = package_source(args.package_source)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    files = render(name, _versions(), source)
    if args.policies:
        files.update(policy_pack_files())
    written, kept = write_files(target, files)
    for path in written:
        if path.relative_to(target).as_posix() in EXECUTABLES:
            path.chmod(0o755)
    for path in written:
        print(f"wrote {path}")
    for path in kept:
        print(f"kept {path} (exists; not overwritten)")
    print(next_steps(target, source))
    return 0


def project_name(raw: str) -> str:
    """A Pulumi project name from ``raw`` (letters, digits, '-', '_', '.'), or ValueError."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", raw).strip("-.")
    if not name:
        raise ValueError(f"cannot make a Pulumi project name of {raw!r}: pass --name NAME")
    if name.lower().startswith("pulumi"):
        raise ValueError(f"project name {name!r}: names starting with 'pulumi' are reserved")
    return name


def package_source(given: str | None) -> str:
    """What follows ``gemini-tuning[extras]`` in a requirement: `` @ <url>`` for a wheel, a
    source directory or a git URL, or ``==<version>`` for the package index. Without ``given``:
    where this copy was installed from (its PEP 610 ``direct_url.json``), else the index."""
    if given is None:
        return _installed_from() or f"=={metadata.version('gemini-tuning')}"
    if given.startswith(("git+", "file://")):
        return f" @ {given}"
    if given.startswith(("https://", "http://")):  # a wheel's URL, else a repository's
        return f" @ {given}" if given.endswith(".whl") else f" @ git+{given}"
    path = Path(given).expanduser().resolve()
    if path.is_file() and path.suffix == ".whl":
        return f" @ {path.as_uri()}"
    if path.is_dir() and (path / "pyproject.toml").is_file():
        return f" @ {path.as_uri()}"
    raise ValueError(
        f"--package-source {given!r}: expected a built wheel (.whl), a source directory with "
        "pyproject.toml, or a git URL (git+https://HOST/OWNER/REPO@TAG)"
    )


def _installed_from() -> str | None:
    """`` @ <url>`` this distribution was installed from, when it was not the package index."""
    try:
        raw = metadata.distribution("gemini-tuning").read_text("direct_url.json")
    except metadata.PackageNotFoundError:
        return None
    if not raw:
        return None
    found = json.loads(raw)
    url = str(found.get("url") or "")
    vcs = found.get("vcs_info")
    if vcs:
        commit = vcs.get("commit_id") or vcs.get("requested_revision")
        return f" @ {vcs.get('vcs', 'git')}+{url}" + (f"@{commit}" if commit else "")
    return f" @ {url}" if url else None


def requirement(source: str, extras: str) -> str:
    """A pip requirement for gemini-tuning with ``extras`` from ``source`` (package_source)."""
    return f"gemini-tuning[{extras}]{source}"


def render(project: str, versions: Mapping[str, str], source: str | None = None) -> dict[str, str]:
    """Every file of the new project (relative path -> text): the templates with the project
    name, the package source and versions filled in, and the schema of the installed package's
    definitions."""
    from gemini_tuning.definitions import schema_text

    values = {
        "@@PROJECT@@": project,
        "@@PACKAGE@@": requirement(source or f"=={versions['gemini-tuning']}", "plots"),
        "@@VERSION@@": versions["gemini-tuning"],
        "@@PULUMI@@": versions["pulumi"],
    }
    files: dict[str, str] = {}
    for relative, template in _templates(resources.files("gemini_tuning.cli") / TEMPLATES, ""):
        text = template.read_text(encoding="utf-8")
        for placeholder, value in values.items():
            text = text.replace(placeholder, value)
        files[relative] = text
    files[SCHEMA_PATH] = schema_text()
    return files


POLICY_PACK = ("PulumiPolicy.yaml", "README.md", "__main__.py", "_rules.py", "requirements.txt")
EXECUTABLES = frozenset(
    {"policies/pack", "policies/bin/pulumi-analyzer-policy-gemini-tuning-python"}
)


def policy_pack_files() -> dict[str, str]:
    """The policy pack's files under ``policies/``: from the package (a wheel ships them as
    ``_policy_pack``), or from the checkout an editable install runs from."""
    shipped = resources.files("gemini_tuning") / "_policy_pack"
    checkout = Path(__file__).resolve().parents[3] / "policies"
    source: Traversable = shipped if shipped.is_dir() else checkout
    names = [*POLICY_PACK, *(e.removeprefix("policies/") for e in sorted(EXECUTABLES))]
    files = {}
    for name in names:
        entry = source
        for part in name.split("/"):
            entry = entry / part
        files[f"policies/{name}"] = entry.read_text(encoding="utf-8")
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


def next_steps(target: Path, source: str) -> str:
    emulator = requirement(source, "emulator,plots")
    return f"""
Next, in {target}:
  python3 -m venv .venv && .venv/bin/pip install -r requirements.txt '{emulator}'
  # The Pulumi CLI {PULUMI_VERSION} (the SDK requirements.txt pins; the workflow installs the same):
  #   curl -fsSL https://get.pulumi.com | sh -s -- --version {PULUMI_VERSION}
  export PATH="$PWD/.venv/bin:$PATH" PULUMI_CONFIG_PASSPHRASE=...   # or your secrets provider
  mkdir -p .state/backend && pulumi login "file://$PWD/.state/backend?metadata=skip"
  gemini-tuning emulator start --seconds-per-epoch 1
  pulumi stack init dev && pulumi up --stack dev
Then fill in Pulumi.cloud-dev.yaml and .github/workflows/gemini-tuning.yml (state bucket,
Workload Identity) for the cloud chain.{_runner_note(source)}"""


def _runner_note(source: str) -> str:
    if " @ file://" not in source:
        return ""
    return (
        "\nNote: requirements.txt installs gemini-tuning from a path on this machine, which a CI "
        "runner does not have;\nfor the workflow, run init with --package-source "
        "git+https://HOST/OWNER/gemini-tuning@TAG (or edit that line)."
    )


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
    """This package's version, and the Pulumi CLI and SDK it is tested with (not whichever SDK
    pip happened to resolve into this environment)."""
    return {"gemini-tuning": metadata.version("gemini-tuning"), "pulumi": PULUMI_VERSION}
