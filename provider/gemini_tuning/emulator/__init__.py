"""A local emulator of Vertex AI supervised tuning that the official Google clients talk to
unchanged. It is a simulation: see docs/guides/emulator.md for what is emulated and how.

Public names are loaded lazily, so that `gemini-tuning emulator status` stays fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gemini_tuning.emulator._app import Emulator, create_app
    from gemini_tuning.emulator._config import (
        DEFAULT_LOCATION,
        DEFAULT_PROJECT,
        EmulatorConfig,
        project_number,
    )
    from gemini_tuning.emulator._server import ServeOptions, default_state_dir, serve

_EXPORTS = {
    "Emulator": "_app",
    "create_app": "_app",
    "DEFAULT_LOCATION": "_config",
    "DEFAULT_PROJECT": "_config",
    "EmulatorConfig": "_config",
    "project_number": "_config",
    "ServeOptions": "_server",
    "default_state_dir": "_server",
    "serve": "_server",
}

__all__ = [
    "DEFAULT_LOCATION",
    "DEFAULT_PROJECT",
    "Emulator",
    "EmulatorConfig",
    "ServeOptions",
    "create_app",
    "default_state_dir",
    "project_number",
    "serve",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
