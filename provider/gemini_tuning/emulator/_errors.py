"""Google's error model: canonical status codes, their HTTP codes and the JSON error body."""

from __future__ import annotations

from typing import Any

# canonical status -> (HTTP status, google.rpc.Code int)
CANONICAL: dict[str, tuple[int, int]] = {
    "OK": (200, 0),
    "CANCELLED": (499, 1),
    "UNKNOWN": (500, 2),
    "INVALID_ARGUMENT": (400, 3),
    "DEADLINE_EXCEEDED": (504, 4),
    "NOT_FOUND": (404, 5),
    "ALREADY_EXISTS": (409, 6),
    "PERMISSION_DENIED": (403, 7),
    "RESOURCE_EXHAUSTED": (429, 8),
    "FAILED_PRECONDITION": (400, 9),
    "ABORTED": (409, 10),
    "OUT_OF_RANGE": (400, 11),
    "UNIMPLEMENTED": (501, 12),
    "INTERNAL": (500, 13),
    "UNAVAILABLE": (503, 14),
    "DATA_LOSS": (500, 15),
    "UNAUTHENTICATED": (401, 16),
}

STATUS_BY_HTTP: dict[int, str] = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


class ApiError(Exception):
    """An error answered with Google's JSON error body."""

    def __init__(self, status: str, message: str) -> None:
        super().__init__(message)
        if status not in CANONICAL:
            raise ValueError(f"unknown canonical status {status!r}")
        self.status = status
        self.message = message
        self.details: list[dict[str, Any]] = []  # google.rpc error details, as JSON

    @property
    def http_code(self) -> int:
        return CANONICAL[self.status][0]

    @property
    def rpc_code(self) -> int:
        return CANONICAL[self.status][1]

    def body(self) -> dict[str, Any]:
        return error_body(self.http_code, self.status, self.message, self.details)


def error_body(
    http_code: int, status: str, message: str, details: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    error = {"code": http_code, "message": message, "status": status, "details": details or []}
    return {"error": error}


def rpc_status(status: str, message: str) -> dict[str, Any]:
    """A google.rpc.Status as it appears inside an LRO or a TuningJob (`error.code` is the int)."""
    return {"code": CANONICAL[status][1], "message": message}


def invalid(message: str) -> ApiError:
    return ApiError("INVALID_ARGUMENT", message)


def check_display_name(value: object, field: str, limit: int) -> str:
    """A display name from a request body: a string of at most ``limit`` characters, or 400."""
    display = value or ""
    if not isinstance(display, str):
        raise invalid(f"{field} must be a string.")
    if len(display) > limit:
        raise invalid(f"{field} is {len(display)} characters long; at most {limit} are allowed.")
    return display


def not_found(message: str) -> ApiError:
    return ApiError("NOT_FOUND", message)


def precondition(message: str) -> ApiError:
    return ApiError("FAILED_PRECONDITION", message)
