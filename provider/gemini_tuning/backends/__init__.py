"""The only code that talks to Google APIs. Resources get a backend from ``backend_for``.

``configure`` is called by the dynamic provider's ``configure()`` with the stack config; until
then (or outside a Pulumi run) the environment is used. Backends are created lazily and cached
per settings, in this process only.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

from gemini_tuning.backends._settings import Settings, SettingsError, resolve
from gemini_tuning.backends._types import (
    BackendError,
    Checkpoint,
    ConflictError,
    DeleteRefusedError,
    EndpointStatus,
    JobRequest,
    JobStatus,
    ModelStatus,
    NotFoundError,
    QuotaExceededError,
    SubmitUncertainError,
    TuningBackend,
)

__all__ = [
    "BackendError",
    "Checkpoint",
    "ConflictError",
    "DeleteRefusedError",
    "EndpointStatus",
    "JobRequest",
    "JobStatus",
    "ModelStatus",
    "NotFoundError",
    "QuotaExceededError",
    "Settings",
    "SettingsError",
    "SubmitUncertainError",
    "TuningBackend",
    "backend_for",
    "configure",
    "resolve",
    "settings",
]

_lock = threading.Lock()
_config_getter: Callable[[str], Any] | None = None


def configure(get: Callable[[str], Any] | None) -> None:
    """Use ``get("gemini-tuning:key")`` (the stack config) before the environment."""
    global _config_getter  # noqa: PLW0603 - one provider process serves one stack's config
    with _lock:
        _config_getter = get
        _resolved.cache_clear()


@functools.cache
def _resolved() -> Settings:
    return resolve(_config_getter)


def settings() -> Settings:
    return _resolved()


def backend_for(kind: str) -> TuningBackend:
    """The backend named by a resource's ``backend`` input: "vertex" or "gemini-api"."""
    current = settings()
    if kind == "gemini-api":
        from gemini_tuning.backends.gemini_api import GeminiApiBackend

        return GeminiApiBackend(current)
    from gemini_tuning.backends.vertex import VertexBackend

    return VertexBackend(current)
