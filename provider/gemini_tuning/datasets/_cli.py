"""`gemini-tuning dataset ...` (work in progress)."""

from __future__ import annotations

import argparse
from typing import Any


def register(groups: Any) -> None:
    parser: argparse.ArgumentParser = groups.add_parser("dataset", help="tuning datasets")
    parser.set_defaults(handler=lambda args: 2)
