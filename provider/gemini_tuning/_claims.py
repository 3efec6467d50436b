"""Ownership and claims, as labels on a tuned model version: pure rules, no I/O.

- **Owner.** The TuningJob that produced a version (or adopted its job) stamps ``OWNER_LABEL``
  with a token kept in its own outputs. Only a TuningJob whose token is on the version (or a
  version with no token yet) may delete it: after ``pulumi up --replace`` the new resource
  re-stamps the version it adopted, so the old resource's delete leaves it alone.
- **Claims.** Every stack that serves a version (its TunedModel) adds ``gemini-tuning-claim-<key>``
  (value: the stack, readable) and ``gemini-tuning-served-<key>`` (kept after the claim goes, so
  a later stack can see that this one served the version: rolling prod back to what staging once
  carried). The owner never deletes a version another stack claims, or one that carries an
  alias it did not set.

Vertex labels: keys start with a lowercase letter, keys and values at most 63 characters of
lowercase letters, digits, ``_`` and ``-``; at most 64 labels per resource.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence

OWNER_LABEL = "gemini-tuning-owner"
CLAIM_PREFIX = "gemini-tuning-claim-"
SERVED_PREFIX = "gemini-tuning-served-"
SERVICE_ALIASES = frozenset({"default"})  # set by the service, not a claim


def stack_key(stack: str) -> str:
    """A label-safe key for a stack (``project/stack`` or ``org/project/stack``)."""
    return hashlib.sha256(_qualified(stack).encode()).hexdigest()[:16]


def readable(stack: str) -> str:
    """The stack as a label value: lowercase, [a-z0-9_-], at most 63 characters."""
    text = re.sub(r"[^a-z0-9_-]+", "-", _qualified(stack).lower()).strip("-")
    return text[-63:]


def claim_key(stack: str) -> str:
    """The label key of ``stack``'s claim."""
    return f"{CLAIM_PREFIX}{stack_key(stack)}"


def claim_labels(stack: str) -> dict[str, str]:
    """What a stack that serves a version adds to its labels."""
    key = stack_key(stack)
    return {f"{CLAIM_PREFIX}{key}": readable(stack), f"{SERVED_PREFIX}{key}": readable(stack)}


def without_claim(labels: Mapping[str, str], stack: str) -> dict[str, str]:
    """The labels once ``stack`` stops serving the version (its served mark stays)."""
    gone = f"{CLAIM_PREFIX}{stack_key(stack)}"
    return {k: v for k, v in labels.items() if k != gone}


def with_claim(labels: Mapping[str, str], stack: str) -> dict[str, str]:
    return {**labels, **claim_labels(stack)}


def claimants(labels: Mapping[str, str], aliases: Sequence[str], *, except_stack: str) -> list[str]:
    """Who else serves a version: other stacks' claims, and aliases someone set by hand or
    through a stack that has not recorded a claim. Empty means nobody: the owner may delete."""
    own = f"{CLAIM_PREFIX}{stack_key(except_stack)}"
    stacks = sorted(v for k, v in labels.items() if k.startswith(CLAIM_PREFIX) and k != own)
    foreign = sorted(f"alias {a}" for a in aliases if a not in SERVICE_ALIASES)
    return [*stacks, *foreign]


def other_stacks(labels: Mapping[str, str], *, except_stack: str) -> list[str]:
    """The other stacks that claim a version (their claim labels; aliases aside, since this
    stack's own TunedModel sets some)."""
    own = f"{CLAIM_PREFIX}{stack_key(except_stack)}"
    return sorted(v for k, v in labels.items() if k.startswith(CLAIM_PREFIX) and k != own)


def has_served(labels: Mapping[str, str], stack: str) -> bool:
    """True if ``stack`` serves, or once served, the version."""
    return f"{SERVED_PREFIX}{stack_key(stack)}" in labels


def may_delete(labels: Mapping[str, str], owner_token: str | None) -> bool:
    """The owner rule: no token on the version yet, or this resource's own token."""
    stamped = labels.get(OWNER_LABEL)
    return stamped is None or stamped == owner_token


def _qualified(stack: str) -> str:
    """``project/stack`` and ``organization/project/stack`` name the same local stack."""
    parts = stack.split("/")
    return "/".join(parts[-2:]) if len(parts) >= 2 else stack
