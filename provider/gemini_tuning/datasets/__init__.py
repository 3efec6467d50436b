"""Tuning datasets: formats, validation, conversion, preparation, fingerprint, upload, estimate.

Public names are re-exported here from private modules; import them from this package. They
load on first use (PEP 562): the provider's first check needs validation and the fingerprint,
not conversion, SQuAD preparation or CSV, so its process starts faster.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gemini_tuning.datasets._cache import cached
    from gemini_tuning.datasets._convert import (
        ConversionError,
        convert_file,
        convert_lines,
        iter_examples,
        iter_file_text_pairs,
        iter_text_pairs,
        prompt_and_answer,
    )
    from gemini_tuning.datasets._estimate import Estimate, estimate_cost, price_per_million
    from gemini_tuning.datasets._formats import FORMATS, Example, NotLosslessError, detect_format
    from gemini_tuning.datasets._issues import DatasetIssue
    from gemini_tuning.datasets._metrics import exact_match, normalize_answer, token_f1
    from gemini_tuning.datasets._prepare import (
        PrepareOptions,
        PrepareResult,
        SquadQuestion,
        SquadResult,
        convert_squad_file,
        normalize_example,
        prepare_file,
        prepare_lines,
        squad_answer,
        squad_examples,
        squad_prompt,
        squad_questions,
    )
    from gemini_tuning.datasets._stats import DatasetStats, Distribution
    from gemini_tuning.datasets._storage import (
        DatasetFingerprint,
        GcsFingerprint,
        fingerprint_file,
        gcs_fingerprint,
        parse_gcs_uri,
        upload_content_addressed,
    )
    from gemini_tuning.datasets._validate import ValidationReport, validate_file, validate_lines

_HOME = {
    "cached": "_cache",
    "ConversionError": "_convert",
    "convert_file": "_convert",
    "convert_lines": "_convert",
    "iter_examples": "_convert",
    "iter_file_text_pairs": "_convert",
    "iter_text_pairs": "_convert",
    "prompt_and_answer": "_convert",
    "Estimate": "_estimate",
    "estimate_cost": "_estimate",
    "price_per_million": "_estimate",
    "FORMATS": "_formats",
    "Example": "_formats",
    "NotLosslessError": "_formats",
    "detect_format": "_formats",
    "DatasetIssue": "_issues",
    "exact_match": "_metrics",
    "normalize_answer": "_metrics",
    "token_f1": "_metrics",
    "PrepareOptions": "_prepare",
    "PrepareResult": "_prepare",
    "SquadQuestion": "_prepare",
    "SquadResult": "_prepare",
    "convert_squad_file": "_prepare",
    "normalize_example": "_prepare",
    "prepare_file": "_prepare",
    "prepare_lines": "_prepare",
    "squad_answer": "_prepare",
    "squad_examples": "_prepare",
    "squad_prompt": "_prepare",
    "squad_questions": "_prepare",
    "DatasetStats": "_stats",
    "Distribution": "_stats",
    "DatasetFingerprint": "_storage",
    "GcsFingerprint": "_storage",
    "fingerprint_file": "_storage",
    "gcs_fingerprint": "_storage",
    "parse_gcs_uri": "_storage",
    "upload_content_addressed": "_storage",
    "ValidationReport": "_validate",
    "validate_file": "_validate",
    "validate_lines": "_validate",
}


def __getattr__(name: str) -> Any:
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


__all__ = [
    "FORMATS",
    "ConversionError",
    "DatasetFingerprint",
    "DatasetIssue",
    "DatasetStats",
    "Distribution",
    "Estimate",
    "Example",
    "GcsFingerprint",
    "NotLosslessError",
    "PrepareOptions",
    "PrepareResult",
    "SquadQuestion",
    "SquadResult",
    "ValidationReport",
    "cached",
    "convert_file",
    "convert_lines",
    "convert_squad_file",
    "detect_format",
    "estimate_cost",
    "exact_match",
    "fingerprint_file",
    "gcs_fingerprint",
    "iter_examples",
    "iter_file_text_pairs",
    "iter_text_pairs",
    "normalize_answer",
    "normalize_example",
    "parse_gcs_uri",
    "prepare_file",
    "prepare_lines",
    "price_per_million",
    "prompt_and_answer",
    "squad_answer",
    "squad_examples",
    "squad_prompt",
    "squad_questions",
    "token_f1",
    "upload_content_addressed",
    "validate_file",
    "validate_lines",
]
