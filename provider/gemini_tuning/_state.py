"""The local Pulumi state backend: its URL (made here, and only here) and its files on disk.

**The URL.** ``local_backend_url(dir)`` is ``file:///abs/dir?metadata=skip``. The engine's file
backend stores each object through gocloud's ``fileblob`` driver, which writes the object itself
to a temporary file that it renames into place (Pulumi forces ``no_tmp_dir=true``, so the
temporary file sits beside it and the rename is atomic), but by default it also writes a JSON
"sidecar", ``<object>.attrs``, by truncating and rewriting it in place. A process killed between
the two leaves the sidecar empty, and every later read of the object fails:
``error: failed to load checkpoint: EOF``. ``metadata=skip`` (``fileblob.MetadataDontWrite``)
writes no sidecar at all; the engine stores nothing in them that it reads back. A backend
created without it keeps its old sidecars: the driver still reads them (a missing one means
"no attributes"), never rewrites them, and deletes one with its object. Those old ones are what
``gemini-tuning doctor`` checks. ``provider/tools/env.sh`` repeats the literal (it is bash); a
unit test checks that the two agree.

**The layout** (pulumi/pulumi ``pkg/backend/diy``, read at v3.259.0, and checked on a backend
after a few ``up``s), under ``<dir>/.pulumi/``:

- ``meta.yaml``: the layout version (1: stacks grouped by project);
- ``stacks/<project>/<stack>.json``: the state, a *checkpoint* ``{"version": 3, "checkpoint":
  {"stack", "latest": <deployment>}}`` (legacy layout: ``stacks/<stack>.json``), and
  ``<stack>.json.bak``, the state before the engine's last write of it (a copy made before each
  write, so during an update too);
- ``backups/<project>/<stack>/<stack>.<unix-ns>.json``: a copy of the state after each update
  that *ended* (succeeded or failed; a killed one writes none);
- ``history/<project>/<stack>/<stack>-<unix-ns>.history.json`` (and ``.checkpoint.json``):
  update records, read by ``pulumi stack history``;
- ``locks/organization/<project>/<stack>/<lock-id>.json``: held during an update
  (``{"pid", "username", "hostname", "timestamp"}``); ``pulumi cancel`` deletes them.

Any of them may have an ``.attrs`` sidecar (on a backend written without ``metadata=skip``).
State files may be compressed (``.json.gz``, ``.json.zst``) when ``PULUMI_DIY_BACKEND_GZIP`` or
``PULUMI_DIY_BACKEND_ZSTD`` is set; ``PULUMI_DIY_BACKEND_DISABLE_CHECKPOINT_BACKUPS`` turns the
``backups/`` copies off. ``pulumi stack import`` reads a *deployment* (``{"version": 3,
"deployment": ...}``), not a checkpoint, so a backup is imported through
``gemini-tuning doctor --print-deployment``.
"""

from __future__ import annotations

import os
import urllib.parse
from pathlib import Path

METADATA_SKIP = "metadata=skip"
BOOKKEEPING = ".pulumi"
SIDECAR = ".attrs"
ORGANIZATION = "organization"
STATE_SUFFIXES = (".json", ".json.gz", ".json.zst")


def local_backend_url(directory: Path) -> str:
    """The backend URL of a local state directory that a killed command cannot leave
    half-written: ``file:///abs/dir?metadata=skip``."""
    return f"{directory.absolute().as_uri()}?{METADATA_SKIP}"


def backend_directory(url: str) -> Path | None:
    """The directory a ``file://`` backend URL points at (``~`` and relative paths resolved as
    the engine resolves them); None for any other kind of backend."""
    if not url.startswith("file://"):
        return None
    raw = url.removeprefix("file://").split("?", 1)[0]
    path = Path(urllib.parse.unquote(raw)).expanduser()
    return Path(os.path.abspath(path))


def stack_name(state_file: Path, stacks_dir: Path) -> str:
    """``organization/<project>/<stack>`` for a state file (``<stack>`` in the legacy layout)."""
    relative = state_file.relative_to(stacks_dir)
    name = relative.name
    for suffix in STATE_SUFFIXES:
        if name.endswith(suffix):
            name = name.removesuffix(suffix)
            break
    if len(relative.parts) == 2:
        return f"{ORGANIZATION}/{relative.parts[0]}/{name}"
    return name


def backups_dir(root: Path, stack: str) -> Path:
    """Where the engine keeps the copies of ``stack``'s state after each finished update."""
    parts = stack.split("/")
    return root / BOOKKEEPING / "backups" / Path(*parts[1:] if len(parts) == 3 else parts)
