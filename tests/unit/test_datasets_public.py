"""The public names of gemini_tuning.datasets: declared once, the same 42 as when they were
spelled three times, and still loaded only on first use."""

from __future__ import annotations

import subprocess
import sys

from gemini_tuning import datasets

# The package's __all__ before its names were declared once (issue 24).
PUBLIC = {
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
}


def test_the_public_names_are_the_same_and_each_resolves_to_its_module() -> None:
    assert set(datasets.__all__) == PUBLIC
    for name in PUBLIC:
        value = getattr(datasets, name)
        home = datasets._public()[name]
        assert value is getattr(sys.modules[f"gemini_tuning.datasets.{home}"], name)
    assert set(dir(datasets)) >= PUBLIC


def test_an_unknown_name_is_an_attribute_error() -> None:
    assert not hasattr(datasets, "validate")


def test_names_load_on_first_use_only() -> None:
    code = (
        "import sys, gemini_tuning.datasets as d\n"
        "P = 'gemini_tuning.datasets.'\n"
        "loaded = lambda: sorted(m[len(P):] for m in sys.modules if m.startswith(P))\n"
        "print(loaded())\n"
        "d.validate_file\n"
        "print('_prepare' in loaded(), '_validate' in loaded())\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert out == ["[]", "False True"]
