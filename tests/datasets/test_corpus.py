"""Every file in corpus/ holds exactly one fault; each must fail with that fault's line and field,
from the library and from the CLI's --json output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gemini_tuning.catalog import BaseModel, lookup
from gemini_tuning.datasets import validate_file
from tests.datasets.cli_helpers import run_cli

CORPUS = Path(__file__).parent / "corpus"

FLASH = ("gemini-2.5-flash", "vertex")
FLASH_15 = ("gemini-1.5-flash-002", "vertex")
PRO_10 = ("gemini-1.0-pro-002", "vertex")
GEMINI_API = ("models/gemini-1.5-flash-001-tuning", "gemini-api")

# file name -> (model, role, expected line, expected field)
CASES: dict[str, tuple[tuple[str, str], str, int | None, str]] = {
    "invalid_json_trailing_comma.jsonl": (FLASH, "training", 2, "$"),
    "invalid_json_truncated.jsonl": (FLASH, "training", 3, "$"),
    "not_utf8.jsonl": (FLASH, "training", 2, "$"),
    "utf8_bom.jsonl": (FLASH, "training", 1, "$"),
    "blank_line.jsonl": (FLASH, "training", 2, "$"),
    "whitespace_only_line.jsonl": (FLASH, "training", 3, "$"),
    "line_is_array.jsonl": (FLASH, "training", 2, "$"),
    "no_known_fields.jsonl": (FLASH, "training", 1, "$"),
    "mixed_formats.jsonl": (FLASH, "training", 3, "messages"),
    "contents_not_list.jsonl": (FLASH, "training", 2, "contents"),
    "contents_empty.jsonl": (FLASH, "training", 2, "contents"),
    "turn_not_object.jsonl": (FLASH, "training", 2, "contents[0]"),
    "role_missing.jsonl": (FLASH, "training", 2, "contents[1].role"),
    "role_assistant.jsonl": (FLASH, "training", 2, "contents[1].role"),
    "role_system_in_contents.jsonl": (FLASH, "training", 2, "contents[0].role"),
    "role_not_string.jsonl": (FLASH, "training", 2, "contents[1].role"),
    "parts_missing.jsonl": (FLASH, "training", 2, "contents[0].parts"),
    "parts_empty.jsonl": (FLASH, "training", 2, "contents[0].parts"),
    "part_not_object.jsonl": (FLASH, "training", 2, "contents[0].parts[0]"),
    "part_unknown_kind.jsonl": (FLASH, "training", 2, "contents[0].parts[0].image"),
    "part_two_kinds.jsonl": (FLASH, "training", 2, "contents[0].parts[0]"),
    "text_not_string.jsonl": (FLASH, "training", 2, "contents[1].parts[0].text"),
    "empty_text.jsonl": (FLASH, "training", 2, "contents[1].parts[0].text"),
    "whitespace_text.jsonl": (FLASH, "training", 2, "contents[0].parts[0].text"),
    "unknown_top_level_field.jsonl": (FLASH, "training", 2, "temperature"),
    "unknown_turn_field.jsonl": (FLASH, "training", 2, "contents[0].name"),
    "system_instruction_not_object.jsonl": (FLASH, "training", 2, "systemInstruction"),
    "first_turn_model.jsonl": (FLASH, "training", 2, "contents[0].role"),
    "roles_not_alternating.jsonl": (FLASH, "training", 2, "contents[1].role"),
    "last_turn_user.jsonl": (FLASH, "training", 4, "contents[2].role"),
    "inline_data_part.jsonl": (FLASH, "training", 2, "contents[0].parts[1].inlineData"),
    "too_many_tokens_gemini_1_5.jsonl": (FLASH_15, "training", 2, "contents"),
    "messages_system_not_first.jsonl": (PRO_10, "training", 2, "messages[1].role"),
    "messages_content_not_string.jsonl": (PRO_10, "training", 5, "messages[1].content"),
    "messages_role_model_first.jsonl": (PRO_10, "training", 2, "messages[1].role"),
    "messages_too_few_examples.jsonl": (PRO_10, "training", None, "file"),
    "messages_format_for_gemini_2_5.jsonl": (FLASH, "training", 1, "messages"),
    "gemini_api_multi_turn.jsonl": (GEMINI_API, "training", 2, "contents[2]"),
    "gemini_api_system_instruction.jsonl": (GEMINI_API, "training", 2, "systemInstruction"),
    "gemini_api_file_data_part.jsonl": (GEMINI_API, "training", 2, "contents[0].parts[1].fileData"),
    "gemini_api_input_too_long.jsonl": (GEMINI_API, "training", 2, "text_input"),
    "gemini_api_output_too_long.jsonl": (GEMINI_API, "training", 7, "output"),
    "text_pairs_missing_output.jsonl": (GEMINI_API, "training", 2, "output"),
    "text_pairs_both_input_keys.jsonl": (GEMINI_API, "training", 2, "textInput"),
    "text_pairs_output_not_string.jsonl": (GEMINI_API, "training", 2, "output"),
    "empty_file.jsonl": (FLASH, "training", None, "file"),
    "validation_too_many_for_gemini_1_5.jsonl": (FLASH_15, "validation", None, "file"),
    "validation_set_for_gemini_api.jsonl": (GEMINI_API, "validation", None, "file"),
    "csv_missing_header.csv": (GEMINI_API, "training", 1, "header"),
    "csv_wrong_column_count.csv": (GEMINI_API, "training", 3, "$"),
    "csv_empty_output.csv": (GEMINI_API, "training", 3, "output"),
    "csv_unknown_column.csv": (GEMINI_API, "training", 2, "label"),
}


def _model(spec: tuple[str, str]) -> BaseModel:
    model_id, backend = spec
    return lookup(model_id, backend, allow_retired=True)  # type: ignore[arg-type]


def test_the_corpus_has_at_least_30_faults_and_every_file_is_in_the_table() -> None:
    files = {p.name for p in CORPUS.iterdir()}
    assert files == set(CASES)
    assert len(files) >= 30


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_malformed_file_fails_with_its_line_and_field(name: str) -> None:
    model_spec, role, line, field = CASES[name]
    report = validate_file(CORPUS / name, model=_model(model_spec), role=role)  # type: ignore[arg-type]
    assert not report.ok
    found = [(issue.line, issue.field) for issue in report.errors]
    assert found == [(line, field)], [str(issue) for issue in report.errors]
    issue = report.errors[0]
    assert issue.source == str(CORPUS / name)
    expected_prefix = f"{CORPUS / name}:{line}: {field}: " if line else f"{CORPUS / name}: file: "
    assert str(issue).startswith(expected_prefix)


@pytest.mark.parametrize("name", sorted(CASES)[::4])
def test_the_cli_reports_the_same_line_and_field(name: str) -> None:
    (model_id, backend), role, line, field = CASES[name]
    code, out = run_cli(
        "dataset",
        "validate",
        str(CORPUS / name),
        "--base-model",
        model_id,
        "--backend",
        backend,
        "--role",
        role,
        "--json",
    )
    assert code == 1
    errors = json.loads(out)["errors"]
    assert [(e["line"], e["field"]) for e in errors] == [(line, field)]
