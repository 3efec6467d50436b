"""A fast check for the common case: a plain-text ``contents`` example that is valid as is.

Validation is dominated by walking each parsed line in Python. Most lines of a real dataset are
plain text turns in the right order, so this one flat function accepts those and returns their
sizes; anything unusual (another part kind, a fault of any sort) returns None and goes through
the full parser, which explains what is wrong. It must accept nothing the full path rejects.
"""

from __future__ import annotations

from typing import Any

import msgspec


def plain_contents_sizes(obj: Any) -> tuple[int, int, int] | None:  # noqa: PLR0911 - flat on purpose
    """(input chars, output chars, turns) of a valid plain-text example, else None."""
    if type(obj) is not dict:
        return None
    contents = obj.get("contents")
    system = obj.get("systemInstruction")
    if type(contents) is not list or len(obj) != (1 if system is None else 2):
        return None
    input_chars = output_chars = 0
    if system is not None:
        if type(system) is not dict or not system.keys() <= {"role", "parts"}:
            return None
        input_chars = _text_chars(system.get("parts"))
        if input_chars < 0:
            return None
    expected = "user"
    for turn in contents:
        if type(turn) is not dict or len(turn) != 2 or turn.get("role") != expected:
            return None
        chars = _text_chars(turn.get("parts"))
        if chars < 0:
            return None
        if expected == "user":
            input_chars += chars
            expected = "model"
        else:
            output_chars += chars
            expected = "user"
    if expected != "user" or not contents:
        return None  # empty, or the last turn is the user's
    return input_chars, output_chars, len(contents)


def _text_chars(parts: Any) -> int:
    """Characters of a list of non-blank text parts; -1 for anything else."""
    if type(parts) is not list or not parts:
        return -1
    total = 0
    for part in parts:
        if type(part) is not dict or len(part) != 1:
            return -1
        text = part.get("text")
        if type(text) is not str or not text or text.isspace():
            return -1
        total += len(text)
    return total


# -- typed decoding ---------------------------------------------------------------------------
# The same acceptance as plain_contents_sizes, but the JSON is decoded straight into typed
# structs by msgspec (in C): unknown fields, wrong types or a missing field fail the decode, and
# the caller falls back to the full path, which explains the fault. Python only checks what a
# type cannot say: role order and blank text.


class _Part(msgspec.Struct, forbid_unknown_fields=True):
    text: str


class _Turn(msgspec.Struct, forbid_unknown_fields=True):
    role: str
    parts: list[_Part]


class _System(msgspec.Struct, forbid_unknown_fields=True):
    parts: list[_Part]
    role: Any = msgspec.UNSET  # present or not, any value: the role of a system turn is ignored


class _Example(msgspec.Struct, forbid_unknown_fields=True):
    contents: list[_Turn]
    systemInstruction: _System | msgspec.UnsetType = msgspec.UNSET  # noqa: N815 - the JSON name


_DECODE = msgspec.json.Decoder(_Example).decode
_DECODE_ERRORS = (msgspec.ValidationError, msgspec.DecodeError, UnicodeDecodeError)


def decoded_contents_sizes(line: bytes) -> tuple[int, int, int] | None:
    """plain_contents_sizes for one raw JSONL line, decoded by msgspec; None for anything else."""
    try:
        example = _DECODE(line)
    except _DECODE_ERRORS:
        return None
    input_chars = output_chars = 0
    system = example.systemInstruction
    if system is not msgspec.UNSET:
        input_chars = _struct_text_chars(system.parts)
        if input_chars < 0:
            return None
    contents = example.contents
    if not contents or len(contents) % 2:
        return None  # empty, or the last turn is the user's
    user = True
    for turn in contents:
        if turn.role != ("user" if user else "model"):
            return None
        chars = _struct_text_chars(turn.parts)
        if chars < 0:
            return None
        if user:
            input_chars += chars
        else:
            output_chars += chars
        user = not user
    return input_chars, output_chars, len(contents)


def _struct_text_chars(parts: list[_Part]) -> int:
    if not parts:
        return -1
    total = 0
    for part in parts:
        text = part.text
        if not text or text.isspace():
            return -1
        total += len(text)
    return total
