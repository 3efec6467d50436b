"""JSON wire conventions (wire-contract.md section 0): field case, enums, int64, timestamps.

Request bodies are checked and answers written through the real message types (_protos.py);
these helpers serve the handlers in between."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from gemini_tuning import catalog
from gemini_tuning.emulator._errors import invalid

# Keys whose value is a map with user-chosen keys: never re-case those keys.
_MAP_KEYS = frozenset({"labels", "trafficSplit", "properties", "metadata", "systemLabels"})

JOB_STATES: dict[str, int] = {
    "JOB_STATE_UNSPECIFIED": 0,
    "JOB_STATE_QUEUED": 1,
    "JOB_STATE_PENDING": 2,
    "JOB_STATE_RUNNING": 3,
    "JOB_STATE_SUCCEEDED": 4,
    "JOB_STATE_FAILED": 5,
    "JOB_STATE_CANCELLING": 6,
    "JOB_STATE_CANCELLED": 7,
    "JOB_STATE_PAUSED": 8,
    "JOB_STATE_EXPIRED": 9,
    "JOB_STATE_UPDATING": 10,
    "JOB_STATE_PARTIALLY_SUCCEEDED": 11,
}
TERMINAL_STATES = frozenset(
    {"JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED", "JOB_STATE_EXPIRED"}
)

# Note: the AdapterSize ints are not in size order (TWO is 6).
ADAPTER_SIZES: dict[str, int] = {
    "ADAPTER_SIZE_UNSPECIFIED": 0,
    "ADAPTER_SIZE_ONE": 1,
    "ADAPTER_SIZE_TWO": 6,
    "ADAPTER_SIZE_FOUR": 2,
    "ADAPTER_SIZE_EIGHT": 3,
    "ADAPTER_SIZE_SIXTEEN": 4,
    "ADAPTER_SIZE_THIRTY_TWO": 5,
}
ADAPTER_SIZE_VALUE: dict[str, int] = {
    "ADAPTER_SIZE_UNSPECIFIED": 0,
    "ADAPTER_SIZE_ONE": 1,
    "ADAPTER_SIZE_TWO": 2,
    "ADAPTER_SIZE_FOUR": 4,
    "ADAPTER_SIZE_EIGHT": 8,
    "ADAPTER_SIZE_SIXTEEN": 16,
    "ADAPTER_SIZE_THIRTY_TWO": 32,
}
ADAPTER_SIZE_NAME: dict[int, str] = {v: k for k, v in ADAPTER_SIZE_VALUE.items()}


def camel(key: str) -> str:
    if "_" not in key or key.startswith("@"):
        return key
    head, *rest = key.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def snake(key: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", key).lower()


def normalize_keys(value: Any) -> Any:
    """Re-case every field name to camelCase (proto3 JSON accepts both), except map keys."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            k = camel(str(key))
            out[k] = item if k in _MAP_KEYS else normalize_keys(item)
        return out
    if isinstance(value, list):
        return [normalize_keys(v) for v in value]
    return value


def parse_enum(value: Any, table: dict[str, int], field: str) -> str:
    """An enum given as a name or an int (or a numeric string) -> its name."""
    if isinstance(value, bool):
        raise invalid(f"Invalid value for enum field {field}: {value!r}")
    if isinstance(value, int) or (isinstance(value, str) and value.isdigit()):
        number = int(value)
        for name, n in table.items():
            if n == number:
                return name
        raise invalid(f"Invalid value for enum field {field}: {value!r}")
    if isinstance(value, str) and value in table:
        return value
    raise invalid(f"Invalid value for enum field {field}: {value!r}")


def parse_int64(value: Any, field: str) -> int:
    """int64 arrives as a JSON string (gapic) or a number (google-genai)."""
    if isinstance(value, bool):
        raise invalid(f"Invalid value for int64 field {field}: {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
        return int(value)
    raise invalid(f"Invalid value for int64 field {field}: {value!r}")


def parse_double(value: Any, field: str) -> float:
    if isinstance(value, bool):
        raise invalid(f"Invalid value for double field {field}: {value!r}")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    raise invalid(f"Invalid value for double field {field}: {value!r}")


def parse_learning_rate_multiplier(value: Any) -> float:
    """A learning_rate_multiplier within the service's range, else INVALID_ARGUMENT."""
    multiplier = parse_double(value, "learning_rate_multiplier")
    if not 0 < multiplier <= catalog.MAX_LEARNING_RATE_MULTIPLIER:
        raise invalid(
            "learning_rate_multiplier must be in (0, "
            f"{catalog.MAX_LEARNING_RATE_MULTIPLIER:g}], got {multiplier:g}."
        )
    return multiplier


def timestamp(t: float) -> str:
    """RFC 3339 UTC with microseconds, e.g. 2025-01-01T00:00:00.123456Z."""
    d = dt.datetime.fromtimestamp(t, tz=dt.UTC)
    return d.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_timestamp(value: str) -> float:
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    # Python < 3.11 style fractional seconds beyond 6 digits: trim to microseconds.
    text = re.sub(r"(\.\d{6})\d+", r"\1", text)
    try:
        d = dt.datetime.fromisoformat(text)
    except ValueError as exc:
        raise invalid(f"Invalid timestamp: {value!r}") from exc
    if d.tzinfo is None:
        d = d.replace(tzinfo=dt.UTC)
    return d.timestamp()


def prune(value: Any) -> Any:
    """Drop proto3 default values (None, "", 0, False, empty list or map) from a JSON object."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            pv = v if (k in _MAP_KEYS and isinstance(v, dict)) else prune(v)
            if pv is None or pv is False or pv in ("", [], {}):
                if k.startswith("@"):
                    out[k] = pv
                continue
            if isinstance(pv, int | float) and not isinstance(pv, bool) and pv == 0:
                continue
            out[k] = pv
        return out
    if isinstance(value, list):
        return [prune(v) for v in value]
    return value


def wants_int_enums(alt: str | None) -> bool:
    return bool(alt) and "enum-encoding=int" in (alt or "").replace(" ", "")
