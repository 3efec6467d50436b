"""`gemini-tuning doctor`: check a local state backend's files, say how to recover, repair on ask.

What it checks, under ``<backend>/.pulumi`` (the layout is described in ``_state.py``):

- every ``.attrs`` sidecar of an existing object: the engine decodes it before it reads the
  object, so an empty or cut one (a command killed while the driver rewrote it) makes every
  read fail (``failed to load checkpoint: EOF``). The fix is to move it aside: without a sidecar
  the driver reads the object with default attributes, and the object itself is whole (it was
  written to a temporary file and renamed).
- every stack state file (``stacks/<project>/<stack>.json``): it must be a JSON checkpoint. For
  one that is not (a disk that filled, a machine that lost power before the file reached the
  disk), it names the newest good copy under ``backups/<project>/<stack>/`` and the
  ``pulumi stack import`` that restores it.
- locks left behind (informational: only the user knows no update is running).

It changes nothing unless asked (``--repair``), and never deletes a file: a bad sidecar is moved
aside with a timestamped suffix (``<name>.broken-<UTC time>``, an extension the engine's listings
ignore); a bad state file is *copied* aside the same way, and then replaced through
``pulumi stack import`` (which the engine also backs up as ``<stack>.json.bak``). Locks are left
to ``pulumi cancel``. Exit status: 0 when the backend is clean (or everything found was
repaired), 1 when problems remain, 2 when there is no local backend to check.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gemini_tuning._state import (
    BOOKKEEPING,
    METADATA_SKIP,
    SIDECAR,
    STATE_SUFFIXES,
    backend_directory,
    backups_dir,
    local_backend_url,
    stack_name,
)

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
BROKEN = ".broken-"


@dataclass(frozen=True)
class Finding:
    """One unreadable file: what is wrong, what it breaks, and the commands that recover it."""

    path: Path
    kind: str  # "sidecar" or "state"
    problem: str
    effect: str
    stack: str | None = None
    recovery: tuple[str, ...] = ()
    backup: Path | None = None  # state: the newest good copy under .pulumi/backups
    repairable: bool = True
    repaired: str | None = None  # what --repair did


@dataclass
class Report:
    root: Path
    url: str
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    state_files: int = 0
    sidecars: int = 0

    @property
    def unresolved(self) -> list[Finding]:
        return [f for f in self.findings if f.repaired is None]


# -- checking --------------------------------------------------------------------------------


def inspect(root: Path, url: str) -> Report:
    """Every problem in the backend at ``root``; changes nothing."""
    report = Report(root=root, url=url)
    bookkeeping = root / BOOKKEEPING
    if not bookkeeping.is_dir():
        report.notes.append(f"{bookkeeping} does not exist: no stack has been created here yet")
        return report
    stamp = _stamp()
    for sidecar in sorted(bookkeeping.rglob(f"*{SIDECAR}")):
        if not sidecar.with_name(sidecar.name.removesuffix(SIDECAR)).is_file():
            continue  # an orphan (its object was never renamed into place): never read
        report.sidecars += 1
        problem = _sidecar_problem(sidecar)
        if problem:
            report.findings.append(_sidecar_finding(root, sidecar, problem, stamp))
    for state in _state_files(bookkeeping / "stacks"):
        report.state_files += 1
        problem = _state_problem(state)
        if problem:
            report.findings.append(_state_finding(root, state, problem, stamp))
    report.notes += _lock_notes(bookkeeping / "locks")
    if report.sidecars and METADATA_SKIP not in url:
        report.notes.append(
            f"this backend is opened without {METADATA_SKIP}, so a killed command can leave a "
            f"sidecar empty again: `pulumi login {local_backend_url(root)}`"
            + _env_sh_note(" (provider/tools/env.sh sets it)")
        )
    return report


def _sidecar_problem(path: Path) -> str | None:
    """Why the driver could not decode this sidecar (it reads the first JSON value)."""
    try:
        data = path.read_bytes()
    except OSError as err:
        return f"unreadable ({err.strerror})"
    if not data.strip():
        return f"empty ({len(data)} bytes)"
    try:
        value, _ = json.JSONDecoder().raw_decode(data.decode().lstrip())
    except (UnicodeDecodeError, ValueError) as err:
        return f"not valid JSON ({err})"
    if not isinstance(value, dict):
        return "not a JSON object"
    return None


def _state_problem(path: Path) -> str | None:
    """Why the engine could not load this checkpoint; None if it is a JSON checkpoint."""
    try:
        read_checkpoint(path)  # None for zstd, which is not checked here
    except ValueError as err:
        return str(err)
    return None


def read_checkpoint(path: Path) -> dict[str, Any] | None:
    """The checkpoint in a state or backup file; None if it is zstd (not checked); ValueError
    naming what is wrong otherwise."""
    try:
        data = path.read_bytes()
    except OSError as err:
        raise ValueError(f"unreadable ({err.strerror})") from err
    if not data:
        raise ValueError("empty (0 bytes)")
    if data.startswith(ZSTD_MAGIC):
        return None
    if data.startswith(GZIP_MAGIC):
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as err:
            raise ValueError(f"not a whole gzip file ({err})") from err
    try:
        value = json.loads(data)
    except (UnicodeDecodeError, ValueError) as err:
        raise ValueError(f"not valid JSON, cut short or damaged ({err})") from err
    if not isinstance(value, dict) or not isinstance(value.get("checkpoint"), dict):
        raise ValueError('not a Pulumi checkpoint (no "checkpoint" object)')
    return value


def _state_files(stacks: Path) -> list[Path]:
    if not stacks.is_dir():
        return []
    return sorted(
        p
        for p in stacks.rglob("*")
        if p.is_file() and p.name.endswith(STATE_SUFFIXES) and len(p.relative_to(stacks).parts) <= 2
    )


def _owner(root: Path, path: Path) -> tuple[str | None, str]:
    """The stack a bookkeeping file belongs to, and the area (stacks, backups, ...) it is in."""
    parts = path.relative_to(root / BOOKKEEPING).parts
    area = parts[0] if len(parts) > 1 else "meta"
    if area == "stacks":
        data = path.with_name(path.name.removesuffix(SIDECAR))
        if data.name.endswith(".bak"):  # the engine's copy of the state before its last write
            return stack_name(data.with_suffix(""), root / BOOKKEEPING / "stacks"), "copies"
        return stack_name(data, root / BOOKKEEPING / "stacks"), area
    inner = parts[1:-1]
    if area == "locks":
        inner = inner[1:]  # locks/organization/<project>/<stack>/
    if area in ("backups", "history", "locks") and inner:
        return ("organization/" + "/".join(inner) if len(inner) == 2 else inner[0]), area
    return None, area


def _sidecar_finding(root: Path, sidecar: Path, problem: str, stamp: str) -> Finding:
    stack, area = _owner(root, sidecar)
    aside = sidecar.with_name(sidecar.name + BROKEN + stamp)
    effects = {
        "stacks": f"every command on stack {stack} fails (`failed to load checkpoint: EOF`)",
        "meta": "every command on this backend fails",
        "history": f"`pulumi stack history` of {stack} fails",
        "backups": "the engine cannot read this backup copy (it reads none in normal use)",
        "copies": "the engine cannot read this copy of the state (it reads none in normal use)",
        "locks": f"{stack} stays locked until `pulumi cancel`",
    }
    if area == "locks":
        return Finding(
            sidecar,
            "sidecar",
            problem,
            effects[area],
            stack,
            (f"pulumi cancel --stack {stack} --yes   # only when no update is running",),
            repairable=False,
        )
    return Finding(
        sidecar,
        "sidecar",
        problem,
        effects.get(area, "the engine cannot read the file it describes"),
        stack,
        (
            f"mv {shlex.quote(str(sidecar))} {shlex.quote(str(aside))}"
            "   # the file it describes is intact; the engine reads it without a sidecar",
        ),
    )


def _state_finding(root: Path, state: Path, problem: str, stamp: str) -> Finding:
    stack = stack_name(state, root / BOOKKEEPING / "stacks")
    effect = f"every command on stack {stack} fails to load its state"
    backup = newest_good_backup(root, stack)
    if backup is None:
        where = backups_dir(root, stack)
        return Finding(
            state,
            "state",
            problem,
            effect,
            stack,
            (f"no good copy under {where}: restore {state} from a copy of your own",),
            repairable=False,
        )
    deployment = f"{stack.rsplit('/', 1)[-1]}.deployment.json"
    aside = state.with_name(state.name + BROKEN + stamp)
    return Finding(
        state,
        "state",
        problem,
        effect,
        stack,
        (
            f"cp -p {shlex.quote(str(state))} {shlex.quote(str(aside))}   # keep the bad file",
            f"gemini-tuning doctor --print-deployment {shlex.quote(str(backup))} > {deployment}",
            f"pulumi stack import --stack {stack} --file {deployment}",
        ),
        backup=backup,
    )


def newest_good_backup(root: Path, stack: str) -> Path | None:
    """The newest copy under ``.pulumi/backups/<project>/<stack>/`` that holds a checkpoint."""
    directory = backups_dir(root, stack)
    if not directory.is_dir():
        return None
    copies = [p for p in directory.iterdir() if p.is_file() and p.name.endswith(STATE_SUFFIXES)]
    for copy in sorted(copies, key=_backup_time, reverse=True):
        try:
            checkpoint = read_checkpoint(copy)
        except ValueError:
            continue
        if checkpoint is not None and isinstance(checkpoint["checkpoint"].get("latest"), dict):
            return copy
    return None


def _backup_time(path: Path) -> int:
    """The engine names a backup ``<stack>.<unix-ns>.json``; fall back to the file's mtime."""
    base = path.name
    for suffix in STATE_SUFFIXES:
        base = base.removesuffix(suffix)
    stamp = base.rsplit(".", 1)[-1]
    return int(stamp) if stamp.isdigit() else path.stat().st_mtime_ns


def _lock_notes(locks: Path) -> list[str]:
    notes = []
    for lock in sorted(locks.rglob("*.json")) if locks.is_dir() else []:
        stack = "organization/" + "/".join(lock.relative_to(locks).parts[1:-1])
        holder = ""
        try:
            content = json.loads(lock.read_text())
            holder = f" by pid {content['pid']} on {content['hostname']} at {content['timestamp']}"
        except (OSError, ValueError, KeyError, TypeError):
            pass
        notes.append(
            f"stack {stack} is locked{holder} ({lock}); a killed `pulumi up` leaves its lock: "
            f"when no update is running, `pulumi cancel --stack {stack} --yes` releases it"
        )
    return notes


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")


# -- repairing -------------------------------------------------------------------------------


def repair(report: Report, *, cwd: Path) -> None:
    """Apply each repairable finding's recovery; record what was done (or why it was not)."""
    for index, finding in enumerate(report.findings):
        if not finding.repairable:
            continue
        if finding.kind == "sidecar":
            done: str | None = _move_aside(finding.path)
        else:
            done = _restore_state(report, finding, cwd)
        if done:
            report.findings[index] = replace(finding, repaired=done)


def _move_aside(path: Path) -> str:
    aside = path.with_name(path.name + BROKEN + _stamp())
    path.rename(aside)
    return f"moved aside to {aside}"


def _restore_state(report: Report, finding: Finding, cwd: Path) -> str | None:
    assert finding.backup is not None
    assert finding.stack is not None
    aside = finding.path.with_name(finding.path.name + BROKEN + _stamp())
    shutil.copy2(finding.path, aside)
    with tempfile.TemporaryDirectory(prefix="gemini-tuning-doctor-") as tmp:
        deployment = Path(tmp) / "deployment.json"
        deployment.write_text(json.dumps(deployment_of(finding.backup)))
        command = ["pulumi", "stack", "import", "--stack", finding.stack]
        try:
            done = subprocess.run(
                [*command, "--file", str(deployment), "--non-interactive"],
                cwd=cwd,
                env={**os.environ, "PULUMI_BACKEND_URL": report.url},
                capture_output=True,
                text=True,
                check=False,
            )
        except OSError as err:  # no pulumi on PATH
            report.notes.append(f"could not run `pulumi stack import`: {err}")
            return None
    if done.returncode != 0:
        message = (done.stderr or done.stdout).strip()
        report.notes.append(f"`pulumi stack import` of {finding.stack} failed: {message}")
        return None
    return f"kept the bad file as {aside}; imported {finding.backup}"


def deployment_of(copy: Path) -> dict[str, Any]:
    """A state file or backup (a *checkpoint*) as the deployment ``pulumi stack import`` reads."""
    checkpoint = read_checkpoint(copy)
    if checkpoint is None:
        raise ValueError(f"{copy} is zstd-compressed: decompress it first (zstd -d)")
    latest = checkpoint["checkpoint"].get("latest")
    if not isinstance(latest, dict):
        raise ValueError(f"{copy} holds no deployment (the stack had never been updated)")
    deployment: dict[str, Any] = {"version": checkpoint.get("version", 3), "deployment": latest}
    if checkpoint.get("features"):
        deployment["features"] = checkpoint["features"]
    return deployment


# -- the command -----------------------------------------------------------------------------


def register(groups: Any) -> None:
    parser = groups.add_parser(
        "doctor",
        help="check the local state backend's files; say how to recover; repair on --repair",
        description=__doc__.split("\n\n", 1)[0] if __doc__ else None,
    )
    parser.add_argument(
        "--backend",
        help="a file:// backend URL or a directory (default: $PULUMI_BACKEND_URL, then the "
        "backend `pulumi login` selected)",
    )
    parser.add_argument("--repair", action="store_true", help="apply the recoveries it prints")
    parser.add_argument(
        "--cwd", type=Path, default=Path(), help="the Pulumi project directory (for --repair)"
    )
    parser.add_argument("--json", action="store_true", help="print the findings as JSON")
    parser.add_argument(
        "--print-deployment",
        metavar="FILE",
        type=Path,
        help="print the deployment in a state or backup file, as `pulumi stack import` reads "
        "it, and exit",
    )
    parser.set_defaults(handler=_handle)


def _env_sh_note(note: str) -> str:
    """``note`` where this checkout has provider/tools/env.sh (gemini-tuning's own repository);
    nothing in a team's repository, which has no such file."""
    return note if Path("provider/tools/env.sh").is_file() else ""


def _handle(args: argparse.Namespace) -> int:
    if args.print_deployment:
        return _print_deployment(args.print_deployment)
    url = _backend_url(args.backend)
    root = backend_directory(url) if url else None
    if root is None:
        print(
            f"gemini-tuning doctor: no local backend to check (backend: {url or 'none'}): set "
            f"PULUMI_BACKEND_URL{_env_sh_note(' (`source provider/tools/env.sh`)')} or pass "
            "--backend file://DIR",
            file=sys.stderr,
        )
        return 2
    report = inspect(root, url or "")
    if args.repair:
        repair(report, cwd=args.cwd)
    print(json.dumps(as_json(report), indent=2) if args.json else render(report))
    return 1 if report.unresolved else 0


def _print_deployment(path: Path) -> int:
    try:
        print(json.dumps(deployment_of(path), indent=2))
    except ValueError as err:
        print(f"gemini-tuning doctor: {path}: {err}", file=sys.stderr)
        return 1
    return 0


def _backend_url(given: str | None) -> str | None:
    if given:
        return given if "://" in given else local_backend_url(Path(given))
    if os.environ.get("PULUMI_BACKEND_URL"):
        return os.environ["PULUMI_BACKEND_URL"]
    home = Path(os.environ.get("PULUMI_HOME") or Path.home() / ".pulumi")
    try:
        current = json.loads((home / "credentials.json").read_text()).get("current")
    except (OSError, ValueError, AttributeError):
        return None
    return str(current) if current else None


def render(report: Report) -> str:
    lines = [f"gemini-tuning doctor: {report.url}"]
    for finding in report.findings:
        lines += _render_finding(finding)
    lines += [f"note: {note}" for note in report.notes]
    checked = f"{report.state_files} state file(s) and {report.sidecars} sidecar(s) checked"
    if not report.findings:
        lines.append(f"ok: no problems ({checked})")
    elif report.unresolved:
        lines.append(
            f"{len(report.unresolved)} problem(s) ({checked}); "
            "`gemini-tuning doctor --repair` applies the recoveries above"
        )
    else:
        lines.append(f"repaired {len(report.findings)} problem(s) ({checked})")
    return "\n".join(lines)


def _render_finding(finding: Finding) -> list[str]:
    lines = [
        f"PROBLEM: {finding.path}: {finding.kind} file is {finding.problem}",
        f"  effect: {finding.effect}",
    ]
    if finding.backup is not None:
        lines.append(f"  newest good copy: {finding.backup}")
    if finding.repaired:
        lines.append(f"  repaired: {finding.repaired}")
        return lines
    lines.append("  recovery, in order:" if len(finding.recovery) > 1 else "  recovery:")
    lines += [f"    {step}" for step in finding.recovery]
    return lines


def as_json(report: Report) -> dict[str, Any]:
    return {
        "backend": report.url,
        "ok": not report.unresolved,
        "state_files": report.state_files,
        "sidecars": report.sidecars,
        "findings": [
            {
                "file": str(f.path),
                "kind": f.kind,
                "problem": f.problem,
                "effect": f.effect,
                "stack": f.stack,
                "backup": str(f.backup) if f.backup else None,
                "recovery": list(f.recovery),
                "repaired": f.repaired,
            }
            for f in report.findings
        ],
        "notes": report.notes,
    }
