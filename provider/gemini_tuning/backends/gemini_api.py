"""The Gemini API (`tunedModels`) backend. Not implemented yet (issue 7): selecting it fails
with a clear message rather than doing anything half-way."""

from __future__ import annotations

from typing import Any

from gemini_tuning.backends._settings import Settings
from gemini_tuning.backends._types import BackendError


class GeminiApiBackend:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def __getattr__(self, name: str) -> Any:
        raise BackendError(
            "the gemini-api backend is not available in this version; use backend: vertex"
        )
