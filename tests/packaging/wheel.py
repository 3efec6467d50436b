"""The built wheel, installed the way a user installs it: into a fresh venv, with only the
dependencies its metadata asks for (and the extras named), never the repository's .venv.

pip here keeps no HTTP cache, so resolving from PyPI every time takes minutes. The wheels the
package needs are downloaded once (``pip download``, the same resolution a user's ``pip install``
does, pinned by constraints.txt like the repository's own set-up) into ``.state/wheelhouse`` and
installed from there with ``--no-index`` (and ``--no-compile``): a real install of the real
files, offline after the first run (about 30 s here; a cold wheelhouse adds 1-2 minutes). A
wheelhouse missing something (new dependency, new extra) is topped up the same way.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CONSTRAINTS = REPO / "constraints.txt"
WHEELHOUSE = Path(os.environ.get("GT_WHEELHOUSE") or REPO / ".state" / "wheelhouse")


def build_wheel(dest: Path, source: Path = REPO) -> Path:
    """``pip wheel --no-deps`` of ``source`` (this checkout by default; hatchling from the dev
    extra): the wheel path."""
    dest.mkdir(parents=True, exist_ok=True)
    _run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
         "--wheel-dir", str(dest), str(source)]
    )  # fmt: skip
    (wheel,) = dest.glob("gemini_tuning-*.whl")
    return wheel


def install(venv: Path, wheel: Path, extras: str = "") -> float:
    """A fresh venv at ``venv`` with ``wheel[extras]`` and its dependencies: the seconds the
    install took (the wheelhouse top-up, if any, included)."""
    started = time.monotonic()
    _run([_base_python(), "-m", "venv", str(venv)])
    requirement = f"{wheel}[{extras}]" if extras else str(wheel)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "--disable-pip-version-check"]
    # --no-compile: byte-compiling some 300 MB of dependencies is most of a 2-minute install
    # here; Python compiles what it imports on first use, as it does for any module.
    offline = [*pip, "install", "--quiet", "--no-compile", "--no-index", "--find-links",
               str(WHEELHOUSE)]  # fmt: skip
    if _try([*offline, "-c", str(CONSTRAINTS), requirement]) != 0:
        WHEELHOUSE.mkdir(parents=True, exist_ok=True)
        _run([*pip, "download", "--quiet", "--dest", str(WHEELHOUSE), "-c", str(CONSTRAINTS),
              requirement])  # fmt: skip
        for stale in WHEELHOUSE.glob("gemini_tuning-*.whl"):  # only ever install the one built
            stale.unlink()
        _run([*offline, "-c", str(CONSTRAINTS), requirement])
    return time.monotonic() - started


def _base_python() -> str:
    """The interpreter the repository's venv was made from (not that venv's python)."""
    return str(Path(sys.base_prefix) / "bin" / f"python{sys.version_info[0]}.{sys.version_info[1]}")


def _run(cmd: list[str]) -> None:
    found = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=600)
    assert found.returncode == 0, f"{' '.join(cmd)}\n{found.stdout}\n{found.stderr}"


def _try(cmd: list[str]) -> int:
    return subprocess.run(cmd, capture_output=True, check=False, timeout=600).returncode
