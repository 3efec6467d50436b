"""Tuning datasets: formats, validation, conversion, preparation, fingerprint, upload, estimate.

Public names are re-exported here from private modules; import them from this package.
"""

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
