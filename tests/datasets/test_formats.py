"""Format detection, lossless conversion round trips and refusals, and (prompt, answer) pairs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gemini_tuning.datasets import (
    ConversionError,
    convert_file,
    convert_lines,
    iter_file_text_pairs,
    iter_text_pairs,
)


def _turn(role: str, text: str) -> dict[str, object]:
    return {"role": role, "parts": [{"text": text}]}


def _lines(*objs: object) -> list[bytes]:
    return [json.dumps(o).encode() + b"\n" for o in objs]


SINGLE = {"contents": [_turn("user", "1"), _turn("model", "2")]}
WITH_SYSTEM = {
    "systemInstruction": {"role": "system", "parts": [{"text": "You are a pirate dog."}]},
    "contents": [
        _turn("user", "Hi"),
        _turn("model", "Argh!"),
        _turn("user", "Name?"),
        _turn("model", "Captain Barktholomew."),
    ],
}


def test_contents_to_messages_and_back_is_lossless() -> None:
    original = _lines(WITH_SYSTEM, SINGLE)
    messages = list(convert_lines(original, "messages"))
    assert json.loads(messages[0])["messages"][0] == {
        "role": "system",
        "content": "You are a pirate dog.",
    }
    back = list(convert_lines(messages, "contents"))
    assert [json.loads(line) for line in back] == [WITH_SYSTEM, SINGLE]


def test_text_pairs_to_contents_and_back_is_lossless() -> None:
    pairs = _lines({"text_input": "1", "output": "2"}, {"textInput": "x", "output": "y"})
    contents = list(convert_lines(pairs, "contents"))
    assert json.loads(contents[0]) == SINGLE
    back = [json.loads(line) for line in convert_lines(contents, "text_pairs")]
    assert back == [{"text_input": "1", "output": "2"}, {"text_input": "x", "output": "y"}]


def test_conversion_output_converts_back_to_the_same_bytes() -> None:
    contents = list(convert_lines(_lines(WITH_SYSTEM, SINGLE), "contents"))
    via_messages = list(convert_lines(convert_lines(contents, "messages"), "contents"))
    assert via_messages == contents


def test_multi_turn_to_text_pairs_is_refused_naming_the_line_and_turn() -> None:
    with pytest.raises(ConversionError) as caught:
        list(
            convert_lines(
                _lines(SINGLE, {"contents": WITH_SYSTEM["contents"]}),
                "text_pairs",
                source="chat.jsonl",
            )
        )
    issue = caught.value.issue
    assert (issue.source, issue.line, issue.field) == ("chat.jsonl", 2, "contents[2]")
    assert "without loss" in issue.message


def test_system_instruction_to_text_pairs_is_refused() -> None:
    example = {"systemInstruction": {"parts": [{"text": "be brief"}]}, **SINGLE}
    with pytest.raises(ConversionError) as caught:
        list(convert_lines(_lines(example), "text_pairs"))
    assert (caught.value.issue.line, caught.value.issue.field) == (1, "systemInstruction")


def test_file_data_to_messages_is_refused() -> None:
    media = {
        "contents": [
            {
                "role": "user",
                "parts": [
                    {"text": "what is it?"},
                    {"fileData": {"mimeType": "image/png", "fileUri": "gs://b/c"}},
                ],
            },
            _turn("model", "a cat"),
        ]
    }
    with pytest.raises(ConversionError) as caught:
        list(convert_lines(_lines(SINGLE, SINGLE, media), "messages"))
    assert (caught.value.issue.line, caught.value.issue.field) == (3, "contents[0].parts[1]")


def test_convert_file_csv_round_trip_and_no_partial_output(tmp_path: Path) -> None:
    source = tmp_path / "pairs.jsonl"
    source.write_bytes(
        b"".join(
            _lines(
                {"text_input": 'a "quoted",\nvalue', "output": "b"},
                {"text_input": "c", "output": "d"},
            )
        )
    )
    assert convert_file(source, tmp_path / "pairs.csv", "text_pairs") == 2
    assert convert_file(tmp_path / "pairs.csv", tmp_path / "again.jsonl", "text_pairs") == 2
    again = (tmp_path / "again.jsonl").read_bytes().splitlines()
    assert [json.loads(line) for line in again] == [
        json.loads(line) for line in source.read_bytes().splitlines()
    ]
    chat = tmp_path / "chat.jsonl"
    chat.write_bytes(b"".join(_lines(WITH_SYSTEM)))
    with pytest.raises(ConversionError):
        convert_file(chat, tmp_path / "out.jsonl", "text_pairs")
    assert not (tmp_path / "out.jsonl").exists()
    assert not (tmp_path / "out.jsonl.partial").exists()


def test_iter_text_pairs_uses_the_final_turns_and_the_system_instruction() -> None:
    lines = _lines(
        WITH_SYSTEM, {"messages": [{"role": "user", "content": "skip: other format"}]}, SINGLE
    )
    lines.insert(1, b"not json\n")
    assert list(iter_text_pairs(lines)) == [
        ("You are a pirate dog.\n\nName?", "Captain Barktholomew."),
        ("1", "2"),
    ]


def test_iter_file_text_pairs_reads_csv(tmp_path: Path) -> None:
    path = tmp_path / "pairs.csv"
    path.write_text("textInput,output\nthree,four\n")
    assert list(iter_file_text_pairs(path)) == [("three", "four")]
