"""The `gemini-tuning` command. Each feature registers its own subcommand group.

Exit codes: 0 success, 1 the checked thing is invalid / the operation failed, 2 usage error.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

Handler = Callable[[argparse.Namespace], int]


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gemini-tuning",
        description="Gemini supervised fine-tuning as declared state on Pulumi.",
    )
    parser.add_argument(
        "--record",
        metavar="DIR",
        help="record the Vertex AI requests and answers of this command (and of the Pulumi "
        "provider processes it starts) into DIR, redacted: sets GEMINI_TUNING_RECORD (see "
        "tests/recorded/README.md)",
    )
    groups = parser.add_subparsers(dest="group", metavar="COMMAND", required=True)
    # Imported here so that `import gemini_tuning` (done by the provider process) stays cheap.
    from gemini_tuning.cli import _datasets as datasets_cli
    from gemini_tuning.cli import _doctor as doctor_cli
    from gemini_tuning.cli import _init as init_cli
    from gemini_tuning.cli import _plan_summary as plan_summary_cli
    from gemini_tuning.cli import _preflight as preflight_cli
    from gemini_tuning.cli import _releases as releases_cli
    from gemini_tuning.cli import _report as report_cli
    from gemini_tuning.cli import _sweep as sweep_cli
    from gemini_tuning.emulator import _cli as emulator_cli

    datasets_cli.register(groups)
    emulator_cli.register(groups)
    releases_cli.register(groups)
    report_cli.register(groups)
    doctor_cli.register(groups)
    plan_summary_cli.register(groups)
    init_cli.register(groups)
    preflight_cli.register(groups)
    sweep_cli.register(groups)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = _build_parser()
    args = parser.parse_args(argv)
    if args.record:
        from gemini_tuning import _recording

        os.environ[_recording.ENV] = str(Path(args.record).resolve())
    handler: Handler = args.handler
    try:
        return handler(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
