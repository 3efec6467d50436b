"""Replays a recording (gemini_tuning/_recording.py) against the emulator and holds each live
answer to the recorded one: the status code; for an error, its code, status and message (as
redacted); for a JSON body, every recorded key present, the same JSON type for each value, and
enum values equal (names such as ``JOB_STATE_SUCCEEDED``, or ints where the client asked for
``enum-encoding=int``, at keys that are enum fields in aiplatform_v1's messages).

Placeholders: ``PROJECT`` becomes the emulator's project and ``BUCKET`` a bucket of the
emulator's GCS, where every ``gs://BUCKET/...`` object a request names is uploaded first (a small
valid training file: the recorded contents were redacted). ``ID_<hex>`` is bound from the first
live answer whose recorded twin has it, at the same position; a request that uses an id no
earlier answer named cannot be replayed (the recording must start with what made it).

Timing differs between a service and the emulator. A GET the recording makes again later
(before any other call on that resource) is a poll. A poll whose recorded state (enum values,
``done``, status) differs from that of the last such read is intermediate: it is repeated until
the live answer has the recorded state and passes the comparison, or has the last read's state
(the emulator went past it), and then passed over; its names are bound either way. Every other
GET is repeated until the live state reaches the recorded one (bounded), then compared.
"""

from __future__ import annotations

import functools
import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests

from gemini_tuning._recording import CHOSEN_ID_QUERY_KEYS
from gemini_tuning.testing import EmulatorProcess

PLACEHOLDER = re.compile(r"(?<![A-Za-z0-9_])(PROJECT|BUCKET|ID_[0-9a-f]+)(?![A-Za-z0-9_])")
ENUM_NAME = re.compile(r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+")
POLL_TIMEOUT = 30.0
REPLAY_BUCKET = "replay-bucket"


class ReplayError(AssertionError):
    """The recording cannot be replayed (not a mismatch: a broken or incomplete recording)."""


@functools.cache
def enum_keys() -> frozenset[str]:
    """JSON names of enum fields in aiplatform_v1's messages, less those that are 32-bit
    integers in another message (a JSON number that is not an enum there)."""
    from google.cloud import aiplatform_v1
    from google.protobuf.descriptor import FieldDescriptor

    enums: set[str] = set()
    others: set[str] = set()
    seen: set[str] = set()

    def walk(message: Any) -> None:
        if message.full_name in seen:
            return
        seen.add(message.full_name)
        for f in message.fields:
            if f.type == FieldDescriptor.TYPE_ENUM:
                enums.add(f.json_name)
            elif f.cpp_type in (FieldDescriptor.CPPTYPE_INT32, FieldDescriptor.CPPTYPE_UINT32):
                others.add(f.json_name)  # a JSON number too: not an enum there
        for nested in message.nested_types:
            walk(nested)

    for name in aiplatform_v1.__all__:
        pb = getattr(getattr(getattr(aiplatform_v1, name), "meta", None), "pb", None)
        if pb is not None and hasattr(pb, "DESCRIPTOR"):
            for message in pb.DESCRIPTOR.file.message_types_by_name.values():
                walk(message)
    return frozenset(enums - others)


def load(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(path.read_text())
    if not str(document.get("format", "")).startswith("gemini-tuning-recording/"):
        raise ReplayError(f"{path} is not a gemini-tuning recording")
    return document


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return {str: "string", list: "array", dict: "object"}[type(value)]


def _walk(value: Any, where: str = "$", key: str = "") -> Iterator[tuple[str, str, Any]]:
    """(path, key, scalar) of every scalar in ``value``."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _walk(v, f"{where}.{k}", k)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _walk(v, f"{where}[{i}]", key)
    else:
        yield where, key, value


def _is_enum(key: str, value: Any) -> bool:
    if isinstance(value, str):
        return bool(ENUM_NAME.fullmatch(value)) and not PLACEHOLDER.fullmatch(value)
    return isinstance(value, int) and not isinstance(value, bool) and key in enum_keys()


def _progress(value: Any) -> dict[str, Any]:
    """The values that change as a resource moves on: enum values and ``done``."""
    return {w: v for w, k, v in _walk(value) if k == "done" or _is_enum(k, v)}


def compare(
    recorded: Any, live: Any, bound: dict[str, str], where: str = "$", key: str = ""
) -> list[str]:
    """What ``live`` lacks or has differently from ``recorded`` (keys, JSON types, enums); a map
    key that is a placeholder (an id) is looked up by its live value."""
    if json_type(recorded) != json_type(live):
        return [f"{where}: {json_type(live)} where the recording has {json_type(recorded)}"]
    problems: list[str] = []
    if isinstance(recorded, dict):
        for k, v in recorded.items():
            live_key = bound.get(k, k)
            if live_key not in live:
                problems.append(f"{where}.{k}: missing (the recording has {json_type(v)})")
            else:
                problems += compare(v, live[live_key], bound, f"{where}.{k}", k)
    elif isinstance(recorded, list):
        if recorded and not live:
            problems.append(f"{where}: empty where the recording has {len(recorded)} items")
        for i, (r, v) in enumerate(zip(recorded, live, strict=False)):
            problems += compare(r, v, bound, f"{where}[{i}]", key)
    elif _is_enum(key, recorded) and recorded != live:
        problems.append(f"{where}: {live!r} where the recording has {recorded!r}")
    return problems


def _pattern(recorded: str) -> re.Pattern[str]:
    """``recorded`` as a regex: each placeholder a group that matches one name segment."""
    out, last = [], 0
    for match in PLACEHOLDER.finditer(recorded):
        out += [re.escape(recorded[last : match.start()]), r"([^/\s@:]+?)"]
        last = match.end()
    return re.compile("".join([*out, re.escape(recorded[last:])]))


def bind(recorded: Any, live: Any, bound: dict[str, str]) -> None:
    """Learn each placeholder's live value from the same position in ``live``."""
    if isinstance(recorded, dict) and isinstance(live, dict):
        for k, v in recorded.items():
            if bound.get(k, k) in live:
                bind(v, live[bound.get(k, k)], bound)
    elif isinstance(recorded, list) and isinstance(live, list):
        for r, v in zip(recorded, live, strict=False):
            bind(r, v, bound)
    elif isinstance(recorded, str) and isinstance(live, str) and PLACEHOLDER.search(recorded):
        match = _pattern(recorded).fullmatch(live)
        if match:
            for name, value in zip(PLACEHOLDER.findall(recorded), match.groups(), strict=True):
                bound.setdefault(name, value)


def substitute(value: Any, bound: dict[str, str], where: str) -> Any:
    """``value`` with each placeholder replaced by its live value."""
    if isinstance(value, dict):
        return {k: substitute(v, bound, where) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, bound, where) for v in value]
    if isinstance(value, str):

        def live(match: re.Match[str]) -> str:
            if match.group(0) not in bound:
                raise ReplayError(
                    f"{where} uses {match.group(0)}, which no earlier answer named: a recording "
                    "must start with the calls that made what it uses"
                )
            return bound[match.group(0)]

        return PLACEHOLDER.sub(live, value)
    return value


def _objects(value: Any) -> set[str]:
    found = set()
    for _, _, scalar in _walk(value):
        if isinstance(scalar, str):
            found.update(re.findall(r"gs://BUCKET/[^\s\"']+", scalar))
    return found


def _training_file() -> bytes:
    lines = [
        json.dumps(
            {
                "contents": [
                    {"role": "user", "parts": [{"text": f"What is the capital of region {i}?"}]},
                    {"role": "model", "parts": [{"text": f"The capital of region {i} is {i}."}]},
                ]
            }
        )
        for i in range(24)
    ]
    return ("\n".join(lines) + "\n").encode()


def _last_read(exchanges: list[dict[str, Any]], i: int) -> dict[str, Any] | None:
    """When exchange ``i`` is a GET made again later, before any other call on the same resource
    (a write, a custom method): the last of those GETs. Else None."""
    here = exchanges[i]
    if here["method"] != "GET":
        return None
    last = None
    for later in exchanges[i + 1 :]:
        if later["method"] == "GET" and later["path"] == here["path"]:
            last = later
        elif later["path"].split(":", 1)[0] == here["path"]:
            break
    return last


@dataclass
class Answer:
    status: int
    body: Any


@dataclass
class Replayer:
    """Replays recordings against ``emu`` (reset before each one)."""

    emu: EmulatorProcess
    poll_timeout: float = POLL_TIMEOUT
    bound: dict[str, str] = field(default_factory=dict)

    def run(self, recording: dict[str, Any]) -> list[str]:
        """Every difference between the recorded answers and the emulator's, as lines."""
        self.emu.reset(gcs=True)
        # The number, as the service's answers name projects (and filters built from them).
        self.bound = {"PROJECT": self.emu.project_number, "BUCKET": REPLAY_BUCKET}
        exchanges = recording["exchanges"]
        for uri in sorted(_objects([ex["request"] for ex in exchanges])):
            self.emu.upload(_training_file(), substitute(uri, self.bound, uri))
        problems: list[str] = []
        for i, exchange in enumerate(exchanges):
            problems += self._exchange(i, exchange, _last_read(exchanges, i))
        return problems

    def _exchange(
        self, i: int, recorded: dict[str, Any], last_read: dict[str, Any] | None
    ) -> list[str]:
        """One exchange; ``last_read`` is the last GET of the same resource when this GET is
        made again later (a poll), else None."""
        where = f"exchange {i} ({recorded['method']} {recorded['path']})"
        intermediate = last_read is not None and not self._same_state(
            last_read, Answer(recorded["status"], recorded["response"])
        )
        deadline = time.monotonic() + self.poll_timeout
        while True:
            answer = self._send(recorded, where)
            if self._same_state(recorded, answer) and (
                not intermediate or not self._differences(recorded, answer)
            ):
                break
            passed = last_read is not None and self._same_state(last_read, answer)
            if intermediate and (passed or time.monotonic() > deadline):
                # A state the emulator went past, or showed with less progress: the last read
                # of the resource is held instead.
                bind(recorded["response"], answer.body, self.bound)
                return []
            if recorded["method"] != "GET" or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        problems = [f"{where}: {p}" for p in self._differences(recorded, answer)]
        bind(recorded["response"], answer.body, self.bound)
        return problems

    def _send(self, recorded: dict[str, Any], where: str) -> Answer:
        for key, value in recorded["query"].items():
            if key in CHOSEN_ID_QUERY_KEYS and value not in self.bound:
                # An id the client picks (Gemini API tunedModelId): this replay picks its own.
                self.bound[value] = f"replay-{value.removeprefix('ID_')}"
        path = substitute(recorded["path"], self.bound, where)
        query = substitute(recorded["query"], self.bound, where)
        body = substitute(recorded["request"], self.bound, where)
        response = requests.request(
            recorded["method"],
            f"{self.emu.url}{quote(path, safe='/:')}",  # as the clients send it (@ as %40)
            params=query,
            data=None if body is None else json.dumps(body),
            # Recordings hold no credential; the emulator's Gemini API wants some key, as Google's.
            headers={"Content-Type": "application/json", "x-goog-api-key": "replay-key"},
            timeout=30,
        )
        try:
            parsed = response.json() if response.content else None
        except ValueError:
            parsed = "<redacted>"
        return Answer(response.status_code, parsed)

    def _same_state(self, recorded: dict[str, Any], answer: Answer) -> bool:
        if answer.status != recorded["status"]:
            return False
        live = _progress(answer.body)
        return all(live.get(w) == v for w, v in _progress(recorded["response"]).items())

    def _differences(self, recorded: dict[str, Any], answer: Answer) -> list[str]:
        if answer.status != recorded["status"]:
            return [f"status {answer.status} where the recording has {recorded['status']}"]
        problems = compare(recorded["response"], answer.body, self.bound)
        error, live_error = _error(recorded["response"]), _error(answer.body)
        if error is None or live_error is None:
            return problems
        if error.get("code") != live_error.get("code"):
            problems.append(
                f"error code {live_error.get('code')} where the recording has {error.get('code')}"
            )
        message = str(error.get("message", ""))
        if not _pattern(message).fullmatch(str(live_error.get("message", ""))):
            problems.append(
                f"error message {live_error.get('message')!r} where the recording has {message!r}"
            )
        return problems


def _error(body: Any) -> dict[str, Any] | None:
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else None
