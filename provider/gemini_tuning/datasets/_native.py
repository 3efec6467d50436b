"""The compiled fast path (the optional ``gemini_tuning_scan`` module, built from provider/scan).

When it is installed, validating a Vertex ``contents`` file hands blocks of lines to it: it
accepts the plain-text examples that are valid as they stand, in Rust with the GIL released,
and stops at any other line, which the Python rules then check and explain. Results are the same
with or without it (the tests compare both on every corpus file); only the speed differs.
Set ``GEMINI_TUNING_NATIVE=0`` to use the pure-Python path.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from gemini_tuning.catalog import CHARS_PER_TOKEN, BaseModel

if TYPE_CHECKING:
    from gemini_tuning_scan import ContentsScanner

NATIVE_ENV = "GEMINI_TUNING_NATIVE"
API_VERSION = 1  # the gemini_tuning_scan.API_VERSION this code is written against


def native_available() -> bool:
    """True when the compiled scanner is installed, current, and not turned off."""
    if os.environ.get(NATIVE_ENV, "1") == "0":
        return False
    try:
        import gemini_tuning_scan
    except ImportError:
        return False
    return gemini_tuning_scan.API_VERSION == API_VERSION


def contents_scanner(model: BaseModel) -> ContentsScanner | None:
    """A scanner for ``contents`` lines tuned on ``model``, or None to use the Python path."""
    if not native_available():
        return None
    from gemini_tuning_scan import ContentsScanner

    return ContentsScanner(max_tokens=model.max_tokens_per_example, chars_per_token=CHARS_PER_TOKEN)
