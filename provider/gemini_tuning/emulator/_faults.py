"""Fault rules: what the emulator answers instead of the real answer, and whether the request
took effect first. A real front end can lose an answer after the service acted on the request
(a 503 or a timeout from the load balancer, a reset connection); an "after" rule does exactly
that: the handler runs, its effect is stored, and the client gets the fault instead.

A rule (``POST /emulator/config {"faults": [...]}``, or ``EmulatorProcess.add_fault``)::

    {"method": "CreateTuningJob",  # a substring of the RPC name; "" (the default) = every one
     "when": "after",              # "before" (nothing happens) or "after" (the effect happens)
     "answer": "503",              # "429", "500", "503", "504", "timeout" or "drop"
     "next": 3,                    # only the next N matching requests (omit: no limit) ...
     "rate": 0.5}                  # ... and of those this share, by the seeded dice (default 1)

"timeout" holds the response for ``hang_seconds`` and then answers 504 DEADLINE_EXCEEDED (a
client with a shorter timeout gives up first); "drop" closes the connection without a response.
The first matching rule wins; a rule whose ``next`` reaches 0 is removed. "after" rules apply
only to requests that succeeded (a refused request had no effect to lose the answer of).
"""

from __future__ import annotations

import random
import threading
from typing import Any, Protocol

ANSWERS = ("429", "500", "503", "504", "timeout", "drop")
WHEN = ("before", "after")
_KEYS = frozenset({"method", "when", "answer", "next", "rate"})


def check_rules(value: Any) -> list[dict[str, Any]]:
    """The rules in their normal form, or ValueError naming what is wrong."""
    if not isinstance(value, list):
        raise ValueError("faults must be a list of rules")
    return [_check_rule(rule) for rule in value]


def _check_rule(rule: Any) -> dict[str, Any]:
    if not isinstance(rule, dict) or not set(rule) <= _KEYS:
        raise ValueError(f"a fault rule is an object with keys {sorted(_KEYS)}; got {rule!r}")
    answer = str(rule.get("answer", ""))
    if answer not in ANSWERS:
        raise ValueError(f"fault answer must be one of {', '.join(ANSWERS)}; got {answer!r}")
    when = str(rule.get("when", "before"))
    if when not in WHEN:
        raise ValueError(f"fault 'when' must be 'before' or 'after'; got {when!r}")
    rate = float(rule.get("rate", 1.0))
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"fault rate must be within [0, 1]; got {rate}")
    count = rule.get("next")
    if count is not None and (isinstance(count, bool) or int(count) < 1):
        raise ValueError(f"fault 'next' must be a whole number >= 1; got {count!r}")
    return {
        "method": str(rule.get("method", "")),
        "when": when,
        "answer": answer,
        "next": None if count is None else int(count),
        "rate": rate,
    }


def rate_rules(rate_429: float = 0.0, rate_503: float = 0.0) -> list[dict[str, Any]]:
    """Rules that answer that share of every request 429 and that share 503, before the
    handler: the `--rate-429` / `--rate-503` options. The first rule is tried first, so the
    second's rate is of the requests the first let through."""
    rules: list[dict[str, Any]] = []
    if rate_429 > 0:
        rules.append({"answer": "429", "rate": rate_429})
    if rate_503 > 0:
        rest = 1.0 - rate_429
        rules.append({"answer": "503", "rate": min(1.0, rate_503 / rest) if rest > 0 else 0.0})
    return check_rules(rules)


class _FaultSettings(Protocol):
    """What the rules read from the emulator's settings (EmulatorConfig): _config imports this
    module to check rules, so this module names the two fields it needs instead of the class."""

    seed: int | None
    faults: list[dict[str, Any]]


class FaultRules:
    """Picks the answer for one request from the configured rules (thread-safe)."""

    def __init__(self, config: _FaultSettings) -> None:
        self._config = config  # its `faults` list: spent rules are removed from it
        self._rng = random.Random(config.seed)
        self._lock = threading.Lock()

    def pick(self, rpc: str, when: str) -> str | None:
        with self._lock:
            rules = self._config.faults
            for rule in list(rules):
                if rule["when"] != when or rule["method"] not in rpc:
                    continue
                if self._rng.random() >= rule["rate"]:
                    continue
                if rule["next"] is not None:
                    rule["next"] -= 1
                    if rule["next"] <= 0:
                        rules.remove(rule)
                return str(rule["answer"])
        return None
