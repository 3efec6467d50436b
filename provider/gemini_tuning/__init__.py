"""gemini-tuning: Gemini supervised fine-tuning as declared state, on Pulumi.

The public API is re-exported here; everything in a ``_module`` is private. The resource classes
import pulumi, so they load on first use: the CLI and the dataset tools stay fast to start.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gemini_tuning._version import __version__

if TYPE_CHECKING:
    from gemini_tuning.resources.evaluation import Evaluation
    from gemini_tuning.resources.release import Release
    from gemini_tuning.resources.tuned_model import TunedModel
    from gemini_tuning.resources.tuning_job import TuningJob

__all__ = ["Evaluation", "Release", "TunedModel", "TuningJob", "__version__"]

# The resources a program declares. (The no-op `Probe` of the tests and benchmarks is
# `gemini_tuning.testing.Probe`.)
_LAZY = {
    "Evaluation": "gemini_tuning.resources.evaluation",
    "Release": "gemini_tuning.resources.release",
    "TunedModel": "gemini_tuning.resources.tuned_model",
    "TuningJob": "gemini_tuning.resources.tuning_job",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'gemini_tuning' has no attribute {name!r}")
