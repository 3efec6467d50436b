"""Tuning datasets: formats, validation, conversion, preparation, fingerprint, upload, estimate.

Public names are re-exported here from private modules; import them from this package.
"""

from gemini_tuning.datasets._convert import (
    ConversionError,
    convert_file,
    convert_lines,
    iter_examples,
    iter_file_text_pairs,
    iter_text_pairs,
    prompt_and_answer,
)
from gemini_tuning.datasets._formats import FORMATS, Example, NotLosslessError, detect_format
from gemini_tuning.datasets._issues import DatasetIssue
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
    "Example",
    "GcsFingerprint",
    "NotLosslessError",
    "ValidationReport",
    "convert_file",
    "convert_lines",
    "detect_format",
    "fingerprint_file",
    "gcs_fingerprint",
    "iter_examples",
    "iter_file_text_pairs",
    "iter_text_pairs",
    "parse_gcs_uri",
    "prompt_and_answer",
    "upload_content_addressed",
    "validate_file",
    "validate_lines",
]
