"""A local emulator of Vertex AI supervised tuning that the official Google clients talk to
unchanged. It is a simulation: see README.md in this folder for what is emulated and how."""

from gemini_tuning.emulator._app import Emulator, create_app
from gemini_tuning.emulator._config import (
    DEFAULT_LOCATION,
    DEFAULT_PROJECT,
    EmulatorConfig,
    project_number,
)
from gemini_tuning.emulator._server import ServeOptions, default_state_dir, serve

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
