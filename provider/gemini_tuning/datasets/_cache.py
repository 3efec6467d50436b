"""What a preview learns from a local dataset file, cached by the file's identity, as git's index
caches a file's hash: an unchanged file is not read again.

**Key.** An entry is found by the file's absolute path and the *rules* of the computation (the
base model, the role, the training example count, and a stamp of the code that computes it:
each source file of the dataset package and the catalog, by size and mtime). It is trusted only
when the file's identity now — size, mtime_ns, ctime_ns, inode, device — equals the one stored,
so a rewrite that keeps the size and restores the mtime (``os.utime``) still misses: the kernel
sets ctime on every write and on ``utime``, and nothing can set it back.

**Racy timestamps.** Timestamps have a granularity, so a file written in the same tick as it was
read can look unchanged afterwards. As in git ("racily clean" entries), an entry is not trusted
when the file's mtime or ctime is not strictly older than the moment its content was read, minus
``RACY_MARGIN_NS`` (covering coarse clocks and 2 s FAT timestamps): such a file is read again,
and a later preview stores an entry it can trust. An entry is stored only when the file's
identity is the same before and after the read.

**Where.** ``.state/fingerprints/`` in the project directory (the nearest directory above the
provider's working directory that holds ``Pulumi.yaml``: with ``main: stacks/`` the provider
runs in ``stacks/``), beside the local state backend in ``.state/backend``: file identities, not
stack state, so every stack of one checkout shares it. ``GEMINI_TUNING_FINGERPRINT_CACHE`` names
another directory, or ``off`` turns the cache off. One JSON file per entry, written to a
temporary file and renamed, so provider threads and processes that store at once never leave a
torn entry; an entry that does not parse or does not match is ignored and replaced. Deleting the
directory is always safe.

``set_read_observer`` lets a test or a benchmark see each real read (a cache miss): it is called
with the dataset's path. Nothing in the environment turns it on.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

CACHE_ENV = "GEMINI_TUNING_FINGERPRINT_CACHE"
DEFAULT_DIRECTORY = Path(".state") / "fingerprints"
RACY_MARGIN_NS = 2_000_000_000
ENTRY_VERSION = 1

Result = dict[str, Any]
Clock = Callable[[], int]


def _project_directory(start: Path) -> Path:
    """The directory holding Pulumi.yaml at or above ``start`` (``start`` when there is none)."""
    for candidate in (start, *start.parents):
        if (candidate / "Pulumi.yaml").is_file():
            return candidate
    return start


def cache_directory() -> Path | None:
    """The cache directory of this process (None when the cache is turned off)."""
    configured = os.environ.get(CACHE_ENV)
    if configured is None:
        return _project_directory(Path.cwd()) / DEFAULT_DIRECTORY
    if configured.strip().lower() in ("", "0", "off", "false"):
        return None
    return Path(configured).expanduser().absolute()


def cached(
    path: str | Path,
    rules: Mapping[str, Any],
    compute: Callable[[], Result],
    *,
    directory: Path | None = None,
    clock: Clock = time.time_ns,
    also: Sequence[tuple[Mapping[str, Any], Callable[[Result], Result]]] = (),
) -> Result:
    """``compute()`` (a JSON-able dict learned by reading ``path``), or the stored result of the
    same computation on the same, unchanged file. ``also``: (rules, derive) pairs whose results
    follow from this one (the sha256 from a validation): stored beside it on a miss, under the
    same identity and read time, so a later lookup by those rules reads nothing."""
    where = cache_directory() if directory is None else directory
    if where is None:
        return _read(path, compute)
    path = Path(path).absolute()
    all_rules = {**rules, "code": code_stamp()}
    entry_file = where / f"{_key(path, all_rules)}.json"
    started = clock()
    try:
        before = file_identity(path)
    except OSError:
        return _read(path, compute)  # what compute makes of a missing file is not cached
    found = _trusted_result(entry_file, path, all_rules, before)
    if found is not None:
        return found
    result = _read(path, compute)
    if _identity_or_none(path) == before:
        _store(entry_file, _entry(path, all_rules, before, started, result))
        for derived_rules, derive in also:
            more = {**derived_rules, "code": all_rules["code"]}
            _store(
                where / f"{_key(path, more)}.json",
                _entry(path, more, before, started, derive(result)),
            )
    return result


def file_identity(path: Path) -> list[int]:
    """What git's index compares: size, mtime_ns, ctime_ns, inode, device."""
    st = os.stat(path)
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev]


def _identity_or_none(path: Path) -> list[int] | None:
    try:
        return file_identity(path)
    except OSError:
        return None


@functools.cache
def code_stamp() -> str:
    """Size and mtime of every source file whose change could change a cached result."""
    from gemini_tuning import catalog
    from gemini_tuning._version import __version__

    package = Path(__file__).parent
    sources = sorted([*package.glob("*.py"), Path(catalog.__file__)])
    stamp = [__version__, *((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in sources)]
    return hashlib.sha256(json.dumps(stamp).encode()).hexdigest()[:16]


def _key(path: Path, rules: Mapping[str, Any]) -> str:
    text = json.dumps([str(path), rules], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def _entry(
    path: Path, rules: Mapping[str, Any], identity: list[int], started: int, result: Result
) -> dict[str, Any]:
    return {
        "version": ENTRY_VERSION,
        "path": str(path),
        "rules": rules,
        "identity": identity,
        "read_started_ns": started,
        "result": result,
    }


def _trusted_result(
    entry_file: Path, path: Path, rules: Mapping[str, Any], identity: list[int]
) -> Result | None:
    entry = _load(entry_file)
    if entry is None:
        return None
    same = (
        entry.get("version") == ENTRY_VERSION
        and entry.get("path") == str(path)
        and entry.get("rules") == json.loads(json.dumps(rules))
        and entry.get("identity") == identity
    )
    if not same or _racy(identity, entry.get("read_started_ns")):
        return None
    result = entry.get("result")
    return result if isinstance(result, dict) else None


def _racy(identity: list[int], read_started_ns: object) -> bool:
    """True unless the file's mtime and ctime are strictly older than its read (with margin)."""
    if not isinstance(read_started_ns, int):
        return True
    _size, mtime_ns, ctime_ns, _inode, _device = identity
    return max(mtime_ns, ctime_ns) >= read_started_ns - RACY_MARGIN_NS


def _load(entry_file: Path) -> dict[str, Any] | None:
    try:
        entry = json.loads(entry_file.read_bytes())
    except (OSError, ValueError):
        return None  # missing, unreadable or corrupt: a miss
    return entry if isinstance(entry, dict) else None


def _store(entry_file: Path, entry: dict[str, Any]) -> None:
    """Write the entry beside its final name and rename it there (atomic on POSIX)."""
    temporary = entry_file.with_name(
        f".{entry_file.name}.{os.getpid()}.{threading.get_ident()}.{uuid.uuid4().hex}.tmp"
    )
    try:
        entry_file.parent.mkdir(parents=True, exist_ok=True)
        temporary.write_text(json.dumps(entry, sort_keys=True))
        os.replace(temporary, entry_file)
    except OSError:  # a cache that cannot be written is only slower
        with contextlib.suppress(OSError):
            temporary.unlink(missing_ok=True)


_read_observer: Callable[[Path], None] | None = None


def set_read_observer(observer: Callable[[Path], None] | None) -> None:
    """Call ``observer`` with the absolute path of each real read from now on (None: stop)."""
    global _read_observer  # noqa: PLW0603 - one process, one observer (tests, benchmarks)
    _read_observer = observer


def _read(path: str | Path, compute: Callable[[], Result]) -> Result:
    if _read_observer is not None:
        _read_observer(Path(path).absolute())
    return compute()
