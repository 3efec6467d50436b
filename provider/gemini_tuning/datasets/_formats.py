"""The three dataset formats, parsed into one shape and rendered back. Pure: no I/O.

- ``contents``: Gemini 1.5+ on Vertex, ``{"systemInstruction"?, "contents": [{"role", "parts"}]}``.
- ``messages``: Gemini 1.0 Pro on Vertex, ``{"messages": [{"role", "content"}]}``.
- ``text_pairs``: the Gemini API's ``{"text_input" | "textInput", "output"}`` (JSONL or CSV).

Parsing checks the schema (field names, types, empty text) and reports every fault of a line
with its JSON path; the per-model rules (role order, limits) live in ``_rules``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gemini_tuning.catalog import DatasetFormat

FORMATS: tuple[DatasetFormat, ...] = ("contents", "messages", "text_pairs")

Part = tuple[str, Any]  # ("text", str) or (kind, the part's raw value), e.g. ("fileData", {...})
Turn = tuple[str, tuple[Part, ...]]  # (role, parts)
Fault = tuple[str, str]  # (JSON path within the line, message)

# Canonical part kind for each spelling that proto JSON accepts.
PART_KINDS = {
    "text": "text",
    "fileData": "fileData",
    "file_data": "fileData",
    "inlineData": "inlineData",
    "inline_data": "inlineData",
    "functionCall": "functionCall",
    "function_call": "functionCall",
    "functionResponse": "functionResponse",
    "function_response": "functionResponse",
    "executableCode": "executableCode",
    "executable_code": "executableCode",
    "codeExecutionResult": "codeExecutionResult",
    "code_execution_result": "codeExecutionResult",
}
_CONTENTS_KEYS = frozenset(
    {"contents", "systemInstruction", "system_instruction", "tools", "toolConfig", "tool_config"}
)
_TURN_KEYS = frozenset({"role", "parts"})
_MESSAGE_KEYS = frozenset({"role", "content"})
TEXT_INPUT_KEYS = ("text_input", "textInput")


@dataclass(frozen=True, slots=True)
class Example:
    """One training example in a format-free shape."""

    system: tuple[Part, ...] | None
    turns: tuple[Turn, ...]
    extra: tuple[tuple[str, Any], ...] = ()  # contents-only fields kept verbatim (tools)


def detect_format(obj: Any) -> DatasetFormat | None:
    """The format a parsed line is written in, judged by its keys; None if it is none of them."""
    if not isinstance(obj, dict):
        return None
    if "contents" in obj:
        return "contents"
    if "messages" in obj:
        return "messages"
    if "output" in obj or "text_input" in obj or "textInput" in obj:
        return "text_pairs"
    return None


def parse_example(obj: Any, fmt: DatasetFormat) -> Example | list[Fault]:
    """The example in ``obj``, or every schema fault found in it."""
    if not isinstance(obj, dict):
        return [("$", f"each line must be a JSON object, got {_json_type(obj)}")]
    if fmt == "contents":
        return _parse_contents(obj)
    if fmt == "messages":
        return _parse_messages(obj)
    return _parse_text_pairs(obj)


def _parse_contents(obj: dict[str, Any]) -> Example | list[Fault]:
    faults: list[Fault] = []
    for key in obj:
        if key not in _CONTENTS_KEYS:
            faults.append((key, "unknown field; expected contents, systemInstruction or tools"))
    turns = _parse_turns(obj.get("contents"), faults)
    system = _parse_system_instruction(obj, faults)
    if faults:
        return faults
    extra = tuple((k, obj[k]) for k in ("tools", "toolConfig", "tool_config") if k in obj)
    return Example(system, turns, extra)


def _parse_turns(value: Any, faults: list[Fault]) -> tuple[Turn, ...]:
    if not isinstance(value, list):
        faults.append(("contents", f"must be a list of turns, got {_json_type(value)}"))
        return ()
    if not value:
        faults.append(("contents", "must hold at least one user and one model turn"))
    turns: list[Turn] = []
    for i, turn in enumerate(value):
        path = f"contents[{i}]"
        if not isinstance(turn, dict):
            faults.append((path, f"must be an object with role and parts, got {_json_type(turn)}"))
            continue
        for key in turn:
            if key not in _TURN_KEYS:
                faults.append((f"{path}.{key}", "unknown field; a turn has role and parts"))
        role = _parse_role(turn.get("role"), f"{path}.role", ("user", "model"), faults)
        turns.append((role, _parse_parts(turn.get("parts"), f"{path}.parts", faults)))
    return tuple(turns)


def _parse_role(value: Any, path: str, allowed: tuple[str, ...], faults: list[Fault]) -> str:
    if value is None:
        faults.append((path, f"missing; must be one of {', '.join(allowed)}"))
    elif not isinstance(value, str):
        faults.append((path, f"must be a string, got {_json_type(value)}"))
    elif value not in allowed:
        hint = ""
        if value == "system" and "system" not in allowed:
            hint = "; put the system prompt in systemInstruction"
        elif value == "assistant":
            hint = "; Gemini calls this role 'model'"
        faults.append((path, f"must be one of {', '.join(allowed)}, got {value!r}{hint}"))
    else:
        return value
    return ""


def _parse_parts(value: Any, path: str, faults: list[Fault]) -> tuple[Part, ...]:
    if not isinstance(value, list):
        faults.append((path, f"must be a list of parts, got {_json_type(value)}"))
        return ()
    if not value:
        faults.append((path, "must hold at least one part"))
    parts: list[Part] = []
    for j, part in enumerate(value):
        part_path = f"{path}[{j}]"
        if not isinstance(part, dict):
            faults.append(
                (part_path, f"must be an object such as {{'text': ...}}, got {_json_type(part)}")
            )
            continue
        parsed = _parse_part(part, part_path, faults)
        if parsed is not None:
            parts.append(parsed)
    return tuple(parts)


def _parse_part(part: dict[str, Any], path: str, faults: list[Fault]) -> Part | None:
    if len(part) != 1:
        kinds = ", ".join(sorted(part)) or "nothing"
        faults.append((path, f"a part holds exactly one of text, fileData, ...; got {kinds}"))
        return None
    ((key, value),) = part.items()
    kind = PART_KINDS.get(key)
    if kind is None:
        faults.append(
            (
                f"{path}.{key}",
                "unknown part kind; expected text, fileData, inlineData, "
                "functionCall or functionResponse",
            )
        )
        return None
    if kind == "text":
        return ("text", value) if _check_text(value, f"{path}.text", faults) else None
    if not isinstance(value, dict):
        faults.append((f"{path}.{key}", f"must be an object, got {_json_type(value)}"))
        return None
    return (kind, value)


def _check_text(value: Any, path: str, faults: list[Fault]) -> bool:
    if not isinstance(value, str):
        faults.append((path, f"must be a string, got {_json_type(value)}"))
        return False
    if not value.strip():
        faults.append((path, "empty text" if not value else "text is only whitespace"))
        return False
    return True


def _parse_system_instruction(obj: dict[str, Any], faults: list[Fault]) -> tuple[Part, ...] | None:
    key = "systemInstruction" if "systemInstruction" in obj else "system_instruction"
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, dict):
        faults.append((key, f"must be an object with parts, got {_json_type(value)}"))
        return None
    for field in value:
        if field not in _TURN_KEYS:
            faults.append((f"{key}.{field}", "unknown field; systemInstruction has parts"))
    return _parse_parts(value.get("parts"), f"{key}.parts", faults)


def _parse_messages(obj: dict[str, Any]) -> Example | list[Fault]:
    faults: list[Fault] = [(k, "unknown field; expected messages") for k in obj if k != "messages"]
    messages = obj.get("messages")
    if not isinstance(messages, list) or not messages:
        got = "an empty list" if messages == [] else _json_type(messages)
        faults.append(("messages", f"must be a non-empty list of messages, got {got}"))
        return faults
    system: tuple[Part, ...] | None = None
    turns: list[Turn] = []
    for i, message in enumerate(messages):
        path = f"messages[{i}]"
        if not isinstance(message, dict):
            faults.append(
                (path, f"must be an object with role and content, got {_json_type(message)}")
            )
            continue
        for key in message:
            if key not in _MESSAGE_KEYS:
                faults.append((f"{path}.{key}", "unknown field; a message has role and content"))
        role = _parse_role(message.get("role"), f"{path}.role", ("system", "user", "model"), faults)
        content = message.get("content")
        text_ok = _check_text(content, f"{path}.content", faults)
        if role == "system" and i > 0:
            faults.append((f"{path}.role", "system may only be the first message"))
        elif role == "system" and text_ok:
            system = (("text", content),)
        elif role and text_ok:
            turns.append((role, (("text", content),)))
    return faults or Example(system, tuple(turns))


def _parse_text_pairs(obj: dict[str, Any]) -> Example | list[Fault]:
    faults: list[Fault] = []
    for key in obj:
        if key not in ("text_input", "textInput", "output"):
            faults.append((key, "unknown field; expected text_input and output"))
    if "text_input" in obj and "textInput" in obj:
        faults.append(("textInput", "give text_input or textInput, not both"))
    input_key = "textInput" if "textInput" in obj else "text_input"
    for key in (input_key, "output"):
        if key not in obj:
            faults.append((key, "missing"))
        else:
            _check_text(obj[key], key, faults)
    if faults:
        return faults
    return Example(
        None, (("user", (("text", obj[input_key]),)), ("model", (("text", obj["output"]),)))
    )


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object"


# --- paths and rendering ---------------------------------------------------------------------


def turn_path(fmt: DatasetFormat, example: Example, index: int) -> str:
    """The JSON path of turn ``index`` in the line the example came from."""
    if fmt == "contents":
        return f"contents[{index}]"
    if fmt == "messages":
        return f"messages[{index + (example.system is not None)}]"
    return "text_input" if index == 0 else "output"


def text_of(parts: tuple[Part, ...]) -> str:
    """The text parts of one turn, joined by newlines."""
    return "\n".join(value for kind, value in parts if kind == "text")


class NotLosslessError(ValueError):
    """The example cannot be written in the target format without losing something."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def render(example: Example, fmt: DatasetFormat, source_fmt: DatasetFormat) -> dict[str, Any]:
    """The example as a JSON object in ``fmt``, or NotLosslessError naming what would be lost."""
    if fmt == "contents":
        return _render_contents(example)
    _require_text_only(example, fmt, source_fmt)
    if fmt == "messages":
        return _render_messages(example)
    return _render_text_pairs(example, source_fmt)


def _render_contents(example: Example) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    if example.system is not None:
        obj["systemInstruction"] = {"role": "system", "parts": _render_parts(example.system)}
    obj["contents"] = [
        {"role": role, "parts": _render_parts(parts)} for role, parts in example.turns
    ]
    obj.update(example.extra)
    return obj


def _render_parts(parts: tuple[Part, ...]) -> list[dict[str, Any]]:
    return [{kind: value} for kind, value in parts]


def _require_text_only(example: Example, fmt: DatasetFormat, source_fmt: DatasetFormat) -> None:
    if example.extra:
        raise NotLosslessError(example.extra[0][0], f"{fmt} has no place for {example.extra[0][0]}")
    if example.system is not None and len(example.system) != 1:
        raise NotLosslessError(
            "systemInstruction.parts",
            f"{fmt} holds one system text, this has {len(example.system)} parts",
        )
    for index, (_, parts) in enumerate(example.turns):
        path = turn_path(source_fmt, example, index)
        for j, (kind, _) in enumerate(parts):
            if kind != "text":
                raise NotLosslessError(f"{path}.parts[{j}]", f"{fmt} holds text only, not {kind}")
        if len(parts) != 1:
            raise NotLosslessError(
                f"{path}.parts", f"{fmt} holds one text per turn, this turn has {len(parts)} parts"
            )


def _render_messages(example: Example) -> dict[str, Any]:
    messages = []
    if example.system is not None:
        messages.append({"role": "system", "content": example.system[0][1]})
    messages.extend({"role": role, "content": parts[0][1]} for role, parts in example.turns)
    return {"messages": messages}


def _render_text_pairs(example: Example, source_fmt: DatasetFormat) -> dict[str, Any]:
    if example.system is not None:
        field = "systemInstruction" if source_fmt == "contents" else "messages[0]"
        raise NotLosslessError(field, "input/output pairs have no system instruction")
    roles = [role for role, _ in example.turns]
    if roles != ["user", "model"]:
        path = turn_path(source_fmt, example, min(2, len(roles) - 1))
        raise NotLosslessError(
            path,
            f"input/output pairs hold one user and one model turn, this "
            f"example has {len(roles)} turns ({', '.join(roles)})",
        )
    return {"text_input": example.turns[0][1][0][1], "output": example.turns[1][1][0][1]}


def json_error(line: bytes, exc: Exception) -> str:
    """'invalid JSON at column N: why' for one line that did not decode, N counted in characters
    of that line. The decoder counts from the text it was given: a line handed over with its
    newline and broken at its end would otherwise be reported at "column 1" of a next line."""
    text = line.rstrip(b"\r\n").decode("utf-8", errors="replace")
    column = min(int(getattr(exc, "pos", 0) or 0), len(text)) + 1  # pos counts characters
    return f"invalid JSON at column {column}: {getattr(exc, 'msg', exc)}"
