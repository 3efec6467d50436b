"""Runs the `dataset` command group in-process, as the top-level CLI would."""

from __future__ import annotations

import argparse
import contextlib
import io

from gemini_tuning.cli import _datasets


def run_cli(*argv: str) -> tuple[int, str]:
    """(exit code, stdout) of ``gemini-tuning`` with ``argv``."""
    parser = argparse.ArgumentParser(prog="gemini-tuning")
    _datasets.register(parser.add_subparsers(dest="group", required=True))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        try:
            args = parser.parse_args(list(argv))
        except SystemExit as exc:
            return int(exc.code or 0), out.getvalue()
        code = args.handler(args)
    return code, out.getvalue()
