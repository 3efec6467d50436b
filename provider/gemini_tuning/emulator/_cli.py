"""`gemini-tuning emulator start|stop|status|run`."""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from gemini_tuning.emulator._config import DEFAULT_BUCKET, DEFAULT_SECONDS_PER_EPOCH, EmulatorConfig
from gemini_tuning.emulator._faults import rate_rules
from gemini_tuning.emulator._home import (
    ENV_HOME,
    INFO_FILE,
    LOOPBACK,
    check_host,
    default_state_dir,
)

PID_FILE = "emulator.pid"
LOG_FILE = "emulator.log"
START_TIMEOUT = 30.0
# What `run` (and so `start`) imports beyond the runtime dependencies: the `emulator` extra.
EXTRA_MODULES = ("starlette", "uvicorn", "gcp_storage_emulator")
EXTRA_HINT = "pip install 'gemini-tuning[emulator]'"


def missing_extra() -> str | None:
    """None when the emulator extra is installed, else the error that says how to install it."""
    missing = [name for name in EXTRA_MODULES if importlib.util.find_spec(name) is None]
    if not missing:
        return None
    return (
        f"the emulator needs the `emulator` extra, which is not installed (missing: "
        f"{', '.join(missing)}): {EXTRA_HINT}"
    )


def register(groups: Any) -> None:
    parser = groups.add_parser(
        "emulator",
        help="the local Vertex AI tuning emulator",
        description="A local emulator of Vertex AI tuning (plus a GCS emulator) on 127.0.0.1.",
    )
    sub = parser.add_subparsers(dest="emulator_command", metavar="SUBCOMMAND", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--state-dir",
            type=Path,
            default=None,
            help=f"state directory (default: ${ENV_HOME} or ./.state/emulator)",
        )

    def serving(p: argparse.ArgumentParser) -> None:
        common(p)
        p.add_argument("--host", default=LOOPBACK, help="must be 127.0.0.1 (loopback only)")
        p.add_argument("--port", type=int, default=0, help="HTTP port (0 = a free one)")
        p.add_argument("--gcs-port", type=int, default=0, help="GCS emulator port (0 = free)")
        p.add_argument(
            "--bucket",
            default=DEFAULT_BUCKET,
            help="bucket created in the GCS emulator at start (default %(default)s)",
        )
        p.add_argument(
            "--seconds-per-epoch",
            type=float,
            default=DEFAULT_SECONDS_PER_EPOCH,
            help="simulated training time per epoch (default %(default)s)",
        )
        p.add_argument("--rate-429", type=float, default=0.0, help="share of answers that are 429")
        p.add_argument("--rate-503", type=float, default=0.0, help="share of answers that are 503")
        p.add_argument("--latency-ms", type=float, default=0.0, help="added latency per request")
        p.add_argument("--seed", type=int, default=None, help="seed of the fault dice")
        p.add_argument(
            "--progress-extras",
            action="store_true",
            help="add what Vertex does not offer: epoch checkpoints while a job runs and the "
            "loss curve in the tuned model's metadata",
        )

    start = sub.add_parser("start", help="start in the background")
    serving(start)
    start.set_defaults(handler=_start)
    run = sub.add_parser("run", help="run in the foreground")
    serving(run)
    run.set_defaults(handler=_run)
    stop = sub.add_parser("stop", help="stop the background emulator")
    common(stop)
    stop.set_defaults(handler=_stop)
    status = sub.add_parser("status", help="is it running, and where")
    common(status)
    status.set_defaults(handler=_status)


def _state_dir(args: argparse.Namespace) -> Path:
    return Path(args.state_dir) if args.state_dir else default_state_dir()


def _config(args: argparse.Namespace) -> EmulatorConfig:
    return EmulatorConfig(
        seconds_per_epoch=args.seconds_per_epoch,
        latency_ms=args.latency_ms,
        seed=args.seed,
        faults=rate_rules(args.rate_429, args.rate_503),
        progress_extras=args.progress_extras,
    )


def _run(args: argparse.Namespace) -> int:
    if problem := missing_extra():
        print(f"error: {problem}", file=sys.stderr)
        return 1
    try:
        check_host(args.host)
        config = _config(args)
        config.update(config.to_json())  # the same checks as POST /emulator/config
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from gemini_tuning.emulator._server import ServeOptions, serve

    opts = ServeOptions(
        _state_dir(args), port=args.port, gcs_port=args.gcs_port, host=args.host, bucket=args.bucket
    )
    return serve(opts, config)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/emulator/health", timeout=2) as r:  # noqa: S310
            return bool(r.status == 200)
    except OSError:
        return False


def read_info(state_dir: Path) -> dict[str, Any] | None:
    """emulator.json if the emulator it describes is alive and answering."""
    try:
        info: dict[str, Any] = json.loads((state_dir / INFO_FILE).read_text())
    except (OSError, ValueError):
        return None
    if not _alive(int(info.get("pid", 0))) or not _answers(str(info.get("url"))):
        return None
    return info


def _start(args: argparse.Namespace) -> int:
    if problem := missing_extra():
        print(f"error: {problem}", file=sys.stderr)
        return 1
    try:
        check_host(args.host)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    state_dir = _state_dir(args).resolve()
    state_dir.mkdir(parents=True, exist_ok=True)
    running = read_info(state_dir)
    if running:
        print(f"already running: {running['url']} (pid {running['pid']})")
        return 0
    with contextlib.suppress(FileNotFoundError):
        (state_dir / INFO_FILE).unlink()
    cmd = [
        sys.executable, "-m", "gemini_tuning.emulator", "run",
        "--state-dir", str(state_dir), "--port", str(args.port), "--gcs-port", str(args.gcs_port),
        "--seconds-per-epoch", str(args.seconds_per_epoch),
        "--rate-429", str(args.rate_429), "--rate-503", str(args.rate_503),
        "--latency-ms", str(args.latency_ms), "--bucket", args.bucket,
    ]  # fmt: skip
    if args.seed is not None:
        cmd += ["--seed", str(args.seed)]
    if args.progress_extras:
        cmd.append("--progress-extras")
    log_path = state_dir / LOG_FILE
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
    (state_dir / PID_FILE).write_text(f"{proc.pid}\n")
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            print(
                f"error: the emulator exited with {proc.returncode}; see {log_path}",
                file=sys.stderr,
            )
            return 1
        info = read_info(state_dir)
        if info and info.get("pid") == proc.pid:
            print(info["url"])
            print(
                f"GCS emulator: {info['gcs_host']}  pid {proc.pid}  log {log_path}", file=sys.stderr
            )
            return 0
        time.sleep(0.1)
    print(
        f"error: the emulator did not answer within {START_TIMEOUT:g}s; see {log_path}",
        file=sys.stderr,
    )
    return 1


def _pid(state_dir: Path) -> int | None:
    try:
        return int((state_dir / PID_FILE).read_text().strip())
    except (OSError, ValueError):
        return None


def _stop(args: argparse.Namespace) -> int:
    state_dir = _state_dir(args).resolve()
    pid = _pid(state_dir)
    if pid is None or not _alive(pid):
        print("not running")
        with contextlib.suppress(FileNotFoundError):
            (state_dir / PID_FILE).unlink()
        return 0
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while _alive(pid) and time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        time.sleep(0.1)
    if _alive(pid):
        os.kill(pid, signal.SIGKILL)
    for name in (PID_FILE, INFO_FILE):
        with contextlib.suppress(FileNotFoundError):
            (state_dir / name).unlink()
    print(f"stopped (pid {pid})")
    return 0


def _status(args: argparse.Namespace) -> int:
    state_dir = _state_dir(args).resolve()
    info = read_info(state_dir)
    if info is None:
        print(f"not running (state dir {state_dir})")
        return 1
    print(f"running: {info['url']}  GCS {info['gcs_host']}  pid {info['pid']}  state {state_dir}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gemini_tuning.emulator")
    register(parser.add_subparsers(dest="group", required=True))
    args = parser.parse_args(["emulator", *(sys.argv[1:] if argv is None else argv)])
    code: int = args.handler(args)
    return code
