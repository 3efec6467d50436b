"""Runs the `dataset` command group in-process, as the top-level CLI would."""

from __future__ import annotations

import argparse
import contextlib
import io
from pathlib import Path

from gemini_tuning.catalog import BaseModel, lookup
from gemini_tuning.cli import _datasets


def run_cli(*argv: str) -> tuple[int, str]:
    """(exit code, stdout) of ``gemini-tuning`` with ``argv``."""
    parser = argparse.ArgumentParser(prog="gemini-tuning")
    _datasets.register(parser.add_subparsers(dest="group", required=True))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        try:
            args = parser.parse_args(list(argv))
        except SystemExit as exc:
            return int(exc.code or 0), out.getvalue()
        code = args.handler(args)
    return code, out.getvalue()


SQUAD = (
    Path(__file__).resolve().parents[2]
    / "stacks"
    / "data"
    / "squad"
    / "squad-v2.0-dev-5-articles.json"
)

SQUAD_SHA256 = "db71d0a19c3f656b1ebefafce642b828cfab269f0d906312dfb0efdc7173b31a"


FLASH = ("gemini-2.5-flash", "vertex")

FLASH_15 = ("gemini-1.5-flash-002", "vertex")

PRO_10 = ("gemini-1.0-pro-002", "vertex")

GEMINI_API = ("models/gemini-1.5-flash-001-tuning", "gemini-api")
CORPUS = Path(__file__).parents[1] / "datasets" / "corpus"

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


def corpus_model(spec: tuple[str, str]) -> BaseModel:
    model_id, backend = spec
    return lookup(model_id, backend, allow_retired=True)  # type: ignore[arg-type]
