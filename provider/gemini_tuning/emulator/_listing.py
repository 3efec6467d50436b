"""List support: the AIP-160 filter subset the emulator understands, ordering and page tokens.

Grammar (case-insensitive AND; no OR, NOT or parentheses):
    filter := term ( "AND" term )*
    term   := field op value | field ":" "*" | "labels" ":" key
    op     := "=" | "!=" | ">" | ">=" | "<" | "<=" | ":"
    value  := "double-quoted string" | bare-token
Fields are resolved per resource kind (snake_case or camelCase). Anything else is 400.
"""

from __future__ import annotations

import base64
import hashlib
import json
import operator
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from gemini_tuning.emulator._errors import invalid
from gemini_tuning.emulator._wire import parse_timestamp

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<str>"(?:[^"\\]|\\.)*")
      | (?P<op>!=|>=|<=|=|>|<|:)
      | (?P<word>[^\s=!<>:"]+)
    )""",
    re.VERBOSE,
)

# A field getter returns the resource's value for a field: a string, a list of strings (any
# match), or for labels the dict.
Getter = Callable[[dict[str, Any]], Any]


@dataclass(frozen=True)
class Term:
    field: str
    op: str
    value: str
    label: str | None = None  # for labels.k


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise invalid(f"Invalid filter: cannot parse {text[pos:]!r}")
        pos = m.end()
        kind = m.lastgroup or "word"
        raw = m.group(kind)
        if kind == "str":
            raw = json.loads(raw)
        out.append((kind, raw))
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return out


def parse_filter(text: str, fields: Sequence[str]) -> list[Term]:
    """Parse ``text`` into AND-ed terms over the allowed ``fields`` (plus labels)."""
    if not text or not text.strip():
        return []
    toks = _tokens(text)
    terms: list[Term] = []
    i = 0
    allowed = {f.lower() for f in fields}
    while True:
        if i + 3 > len(toks):
            raise invalid(f"Invalid filter {text!r}: incomplete comparison")
        (kind, field), (opk, op), (vk, value) = toks[i : i + 3]
        if kind != "word":
            raise invalid(f"Invalid filter {text!r}: expected a field name, got {field!r}")
        if opk != "op":
            raise invalid(f"Invalid filter {text!r}: expected an operator after {field!r}")
        if vk == "op":
            raise invalid(f"Invalid filter {text!r}: unexpected {value!r}")
        terms.append(_term(text, field, op, value, allowed))
        i += 3
        if i == len(toks):
            return terms
        kind, word = toks[i]
        if kind != "word" or word.upper() != "AND":
            raise invalid(
                f"Invalid filter {text!r}: only AND-ed comparisons are supported, got {word!r}"
            )
        i += 1
        if i == len(toks):
            raise invalid(f"Invalid filter {text!r}: dangling AND")


def _canon(field: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", field).lower()


def _term(text: str, field: str, op: str, value: str, allowed: set[str]) -> Term:
    if field.lower() == "labels" and op == ":":
        return Term("labels", ":", "*", label=value)
    if field.startswith("labels."):
        key = field[len("labels.") :]
        if not key:
            raise invalid(f"Invalid filter {text!r}: empty label key")
        if op not in ("=", "!=", ":"):
            raise invalid(f"Invalid filter {text!r}: labels support =, != and :")
        return Term("labels", op, value, label=key)
    name = _canon(field)
    if name not in allowed:
        raise invalid(
            f"Invalid filter {text!r}: unsupported field {field!r}; "
            f"supported: {', '.join(sorted(allowed))}, labels.<key>"
        )
    return Term(name, op, value)


def _compare(actual: Any, op: str, value: str, *, is_time: bool) -> bool:
    if actual is None:
        return op == "!="
    if isinstance(actual, list):
        hits = [_compare(a, op, value, is_time=is_time) for a in actual]
        return all(hits) if op == "!=" else any(hits)
    if is_time:
        a: Any = parse_timestamp(str(actual))
        v: Any = parse_timestamp(value)
    else:
        a, v = str(actual), value
    if op == ":" and value == "*":
        return True
    return bool(_OPS[op](a, v))


_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq,
    ":": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}


def matches(doc: dict[str, Any], terms: Sequence[Term], getters: dict[str, Getter]) -> bool:
    for t in terms:
        if t.field == "labels":
            labels = doc.get("labels") or {}
            assert t.label is not None
            present = t.label in labels
            if t.op == ":":
                ok = present if t.value == "*" else present and labels[t.label] == t.value
            elif t.op == "=":
                ok = present and labels[t.label] == t.value
            else:
                ok = not present or labels[t.label] != t.value
        else:
            actual = getters[t.field](doc)
            ok = _compare(actual, t.op, t.value, is_time=t.field.endswith("_time"))
        if not ok:
            return False
    return True


def order(
    docs: list[dict[str, Any]], order_by: str | None, allowed: Sequence[str]
) -> list[dict[str, Any]]:
    """Apply `orderBy` ("display_name", "create_time desc", comma-separated)."""
    if not order_by or not order_by.strip():
        return docs
    keys: list[tuple[str, bool]] = []
    for part in order_by.split(","):
        words = part.split()
        if (
            not words
            or len(words) > 2
            or (len(words) == 2 and words[1].lower() not in ("asc", "desc"))
        ):
            raise invalid(f"Invalid orderBy {order_by!r}")
        field = _canon(words[0])
        if field not in allowed:
            raise invalid(
                f"Invalid orderBy field {words[0]!r}; supported: {', '.join(sorted(allowed))}"
            )
        keys.append((field, len(words) == 2 and words[1].lower() == "desc"))
    out = list(docs)
    for field, desc in reversed(keys):
        camel = re.sub(r"_([a-z])", lambda m: m.group(1).upper(), field)
        out.sort(key=lambda d, c=camel: str(d.get(c, "")), reverse=desc)  # type: ignore[misc]
    return out


def paginate(
    items: list[Any], page_size: str | None, page_token: str | None, query_key: str
) -> tuple[list[Any], str]:
    """One page of ``items`` and the next token ("" on the last page).

    A token is bound to the query (parent, filter, order) that produced it: a token used with a
    different query, or one that cannot be decoded, is 400 INVALID_ARGUMENT.
    """
    size = DEFAULT_PAGE_SIZE
    if page_size not in (None, ""):
        try:
            size = int(str(page_size))
        except ValueError as exc:
            raise invalid(f"Invalid page_size {page_size!r}") from exc
        if size < 0:
            raise invalid(f"Invalid page_size {size}: must not be negative")
        size = min(size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
    digest = hashlib.sha256(query_key.encode()).hexdigest()[:16]
    offset = 0
    if page_token:
        try:
            padded = page_token + "=" * (-len(page_token) % 4)
            decoded = json.loads(base64.urlsafe_b64decode(padded.encode()))
            offset = int(decoded["o"])
            bound = str(decoded["q"])
        except (ValueError, KeyError, TypeError) as exc:
            raise invalid(f"Invalid page token {page_token!r}") from exc
        if bound != digest or offset < 0:
            raise invalid(
                f"Invalid page token {page_token!r}: it belongs to a different list request"
            )
    page = items[offset : offset + size]
    nxt = ""
    if offset + size < len(items):
        raw = json.dumps({"o": offset + size, "q": digest}).encode()
        nxt = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    return page, nxt


def page_response(key: str, page: list[Any], token: str) -> dict[str, Any]:
    """A list method's answer: ``{key: [...], "nextPageToken": ...}``, each part left out when
    empty (proto3 JSON omits defaults; the client pagers stop on a missing token)."""
    out: dict[str, Any] = {}
    if page:
        out[key] = page
    if token:
        out["nextPageToken"] = token
    return out
