"""Tuning datasets: formats, validation, conversion, preparation, fingerprint, upload, estimate.

Public names are re-exported here from private modules; import them from this package. They
load on first use (PEP 562): the provider's first check needs validation and the fingerprint,
not conversion, SQuAD preparation or CSV, so its process starts faster. Each public name is
written once, in the ``TYPE_CHECKING`` imports below (``name as name`` re-exports it to type
checkers); ``__all__`` and the loader read those lines (tests/unit/test_datasets_public.py).
"""

from __future__ import annotations

import ast
import functools
import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # each public name, once: __all__ and the lazy loader read these lines
    from gemini_tuning.datasets._cache import cached as cached
    from gemini_tuning.datasets._convert import ConversionError as ConversionError
    from gemini_tuning.datasets._convert import convert_file as convert_file
    from gemini_tuning.datasets._convert import convert_lines as convert_lines
    from gemini_tuning.datasets._convert import iter_examples as iter_examples
    from gemini_tuning.datasets._convert import iter_file_text_pairs as iter_file_text_pairs
    from gemini_tuning.datasets._convert import iter_text_pairs as iter_text_pairs
    from gemini_tuning.datasets._convert import prompt_and_answer as prompt_and_answer
    from gemini_tuning.datasets._estimate import Estimate as Estimate
    from gemini_tuning.datasets._estimate import estimate_cost as estimate_cost
    from gemini_tuning.datasets._estimate import price_per_million as price_per_million
    from gemini_tuning.datasets._formats import FORMATS as FORMATS
    from gemini_tuning.datasets._formats import Example as Example
    from gemini_tuning.datasets._formats import NotLosslessError as NotLosslessError
    from gemini_tuning.datasets._formats import detect_format as detect_format
    from gemini_tuning.datasets._issues import DatasetIssue as DatasetIssue
    from gemini_tuning.datasets._metrics import exact_match as exact_match
    from gemini_tuning.datasets._metrics import normalize_answer as normalize_answer
    from gemini_tuning.datasets._metrics import token_f1 as token_f1
    from gemini_tuning.datasets._prepare import PrepareOptions as PrepareOptions
    from gemini_tuning.datasets._prepare import PrepareResult as PrepareResult
    from gemini_tuning.datasets._prepare import SquadQuestion as SquadQuestion
    from gemini_tuning.datasets._prepare import SquadResult as SquadResult
    from gemini_tuning.datasets._prepare import convert_squad_file as convert_squad_file
    from gemini_tuning.datasets._prepare import normalize_example as normalize_example
    from gemini_tuning.datasets._prepare import prepare_file as prepare_file
    from gemini_tuning.datasets._prepare import prepare_lines as prepare_lines
    from gemini_tuning.datasets._prepare import squad_answer as squad_answer
    from gemini_tuning.datasets._prepare import squad_examples as squad_examples
    from gemini_tuning.datasets._prepare import squad_prompt as squad_prompt
    from gemini_tuning.datasets._prepare import squad_questions as squad_questions
    from gemini_tuning.datasets._stats import DatasetStats as DatasetStats
    from gemini_tuning.datasets._stats import Distribution as Distribution
    from gemini_tuning.datasets._storage import DatasetFingerprint as DatasetFingerprint
    from gemini_tuning.datasets._storage import GcsFingerprint as GcsFingerprint
    from gemini_tuning.datasets._storage import fingerprint_file as fingerprint_file
    from gemini_tuning.datasets._storage import gcs_fingerprint as gcs_fingerprint
    from gemini_tuning.datasets._storage import parse_gcs_uri as parse_gcs_uri
    from gemini_tuning.datasets._storage import upload_content_addressed as upload_content_addressed
    from gemini_tuning.datasets._validate import ValidationReport as ValidationReport
    from gemini_tuning.datasets._validate import validate_file as validate_file
    from gemini_tuning.datasets._validate import validate_lines as validate_lines


@functools.cache
def _public() -> dict[str, str]:
    """Public name -> the private module it lives in, read from the imports above: parsed, not
    run (they run only for type checkers; at run time each module loads on first use)."""
    tree = ast.parse(Path(__file__).read_text(encoding="utf-8"))
    block = next(node for node in tree.body if isinstance(node, ast.If))
    return {
        alias.asname or alias.name: str(node.module).rsplit(".", 1)[1]
        for node in block.body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }


def __getattr__(name: str) -> Any:
    if name == "__all__":
        return sorted(_public())
    module = _public().get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_public()})
