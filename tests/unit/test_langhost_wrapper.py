"""The wrapper setup puts in place of the v3.79.0 Python language host
(provider/tools/ensure-pulumi-cli.sh, write_wrapper): it must find the project's
`runtime.options.virtualenv` in every way Pulumi.yaml can spell it, and pass it as the flag."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "provider" / "tools" / "ensure-pulumi-cli.sh"
FAKE_HOST = '#!/bin/sh\necho "$@"\n'  # stands in for the real host: prints what it was given


@pytest.fixture
def wrapper(tmp_path: Path) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    host = bin_dir / "pulumi-language-python-v3.79.0"
    host.write_text(FAKE_HOST)
    host.chmod(0o755)
    text = SCRIPT.read_text()
    functions = text[text.index("write_wrapper() {") : text.index("venv_aware() {")]
    assert "WRAPPER" in functions
    subprocess.run(["bash", "-c", f"{functions}\nwrite_wrapper {bin_dir}"], check=True)
    return bin_dir / "pulumi-language-python"


def _args(wrapper: Path, cwd: Path) -> str:
    found = subprocess.run(
        [str(wrapper), "127.0.0.1:1234"], cwd=cwd, capture_output=True, text=True, check=True
    )
    return found.stdout.strip()


@pytest.mark.parametrize(
    ("runtime", "venv"),
    [
        (
            "runtime:\n  name: python\n  options:\n    toolchain: pip\n    virtualenv: .venv\n",
            ".venv",
        ),
        ('runtime:\n  name: python\n  options:\n    virtualenv: "my env"  # quoted\n', "my env"),
        ("runtime: {name: python, options: {virtualenv: venv, toolchain: pip}}\n", "venv"),
        ("runtime:\n  name: python\n  options:\n    toolchain: uv\n", ".venv"),
        ("runtime:\n  name: python\n  options:\n    virtualenv: /opt/venvs/x\n", "/opt/venvs/x"),
    ],
)
def test_the_virtualenv_option_is_passed_as_the_flag(
    wrapper: Path, tmp_path: Path, runtime: str, venv: str
) -> None:
    project = tmp_path / "project"
    (project / "stacks").mkdir(parents=True)
    (project / "Pulumi.yaml").write_text(
        f"name: p\n# virtualenv: not-this\n{runtime}main: stacks/\n"
    )
    expected = venv if venv.startswith("/") else f"{project}/{venv}"
    # The engine starts the host in the program's directory (here `main: stacks/`).
    assert _args(wrapper, project / "stacks") == (
        f"-root={project} -virtualenv={expected} 127.0.0.1:1234"
    )


def test_without_the_option_the_host_gets_only_the_engine_address(
    wrapper: Path, tmp_path: Path
) -> None:
    (tmp_path / "Pulumi.yaml").write_text("name: p\nruntime: python\n")
    assert _args(wrapper, tmp_path) == "127.0.0.1:1234"


def _setup_functions() -> str:
    text = SCRIPT.read_text()
    start = text.index("log() {")
    return text[start : text.index("on_path=")]


@pytest.mark.parametrize("old", [True, False])
def test_setup_wraps_an_old_host_once_and_leaves_a_modern_one(tmp_path: Path, old: bool) -> None:
    flags = "  -virtualenv string\n" if old else "  -version\n"
    host = tmp_path / "pulumi-language-python"
    host.write_text(
        f'#!/bin/sh\nif [ "$1" = -help ]; then printf "{flags}"; exit 2; fi\necho "$@"\n'
    )
    host.chmod(0o755)
    wrap = f"set -euo pipefail\n{_setup_functions()}\nmake_venv_aware {tmp_path}"
    subprocess.run(["bash", "-c", wrap], check=True, capture_output=True)
    wrapped = "venv-aware language host wrapper" in host.read_text()
    assert wrapped is old
    assert (tmp_path / "pulumi-language-python-v3.79.0").is_file() is old
    before = host.stat().st_mtime_ns
    subprocess.run(["bash", "-c", wrap], check=True, capture_output=True)  # idempotent
    assert host.stat().st_mtime_ns == before


def _ignores_sigint(wrapper: Path, cwd: Path) -> bool:
    """Whether the host the wrapper runs ignores SIGINT, when the wrapper is started with it
    ignored (what a background job of a non-interactive shell gets)."""
    import signal

    (wrapper.parent / "pulumi-language-python-v3.79.0").write_text(
        "#!/bin/sh\nexec grep SigIgn /proc/self/status\n"
    )
    found = subprocess.run(
        [str(wrapper), "127.0.0.1:1234"],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    mask = int(found.stdout.split()[-1], 16)
    return bool(mask & (1 << (signal.SIGINT - 1)))


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc (Linux)")
def test_the_host_is_started_with_sigint_s_default_action(wrapper: Path, tmp_path: Path) -> None:
    # The engine stops a plugin with SIGINT and waits 5 s before it kills one that ignores it.
    (tmp_path / "Pulumi.yaml").write_text("name: p\nruntime: python\n")
    assert _ignores_sigint(wrapper, tmp_path) is False


def test_setup_rewrites_a_wrapper_of_an_earlier_version(tmp_path: Path) -> None:
    host = tmp_path / "pulumi-language-python"
    host.write_text("#!/bin/sh\n# gemini-tuning: venv-aware language host wrapper (v1)\n")
    host.chmod(0o755)
    old = tmp_path / "pulumi-language-python-v3.79.0"
    old.write_text('#!/bin/sh\necho "$@"\n')
    old.chmod(0o755)
    wrap = f"set -euo pipefail\n{_setup_functions()}\nmake_venv_aware {tmp_path}"
    subprocess.run(["bash", "-c", wrap], check=True, capture_output=True)
    assert "venv-aware language host wrapper, v2" in host.read_text()
    assert old.read_text() == '#!/bin/sh\necho "$@"\n'  # the real host is not overwritten
