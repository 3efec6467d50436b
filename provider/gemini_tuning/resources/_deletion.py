"""``deletion_policy``: what destroying or replacing a resource does to what it made. No I/O.

- ``delete`` (the default): a TuningJob deletes its tuned model version (and an endpoint left
  serving nothing), unless another stack claims it (see _claims).
- ``abandon``: nothing in the service is touched; the resource only leaves the state, with one
  line naming what stays and how to find or remove it. ``retain`` is its old spelling (state
  and stack config written before ``abandon`` existed hold it) and means the same.
- ``prevent``: a destroy or a replace is refused. Three guards, so that one missing is not a
  loss: the Resource classes set Pulumi's ``protect`` option, so the engine refuses a delete
  at preview (``pulumi destroy``, a model removed from the stack); ``diff`` refuses a replace
  at preview naming where the policy is declared (``deletion_policy_source``); and ``delete``
  refuses too (the plugin face has no ``protect`` of its own; ``pulumi state unprotect``).

Like Terraform's ``prevent_destroy`` the current declaration decides, and like Pulumi's
``protect`` the recorded one does too: a replace is refused while either says ``prevent``, so
the way out is always a ``pulumi up`` that changes only the policy, reviewed on its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

POLICIES = ("delete", "abandon", "prevent")
OLD_SPELLINGS = {"retain": "abandon"}
SOURCE_KEY = "deletion_policy_source"


class DeletionPreventedError(RuntimeError):
    """``deletion_policy: prevent`` refused a destroy or a replace."""


def policy(value: Any) -> str:
    """The policy a declared value means: unset is ``delete``, ``retain`` is ``abandon``."""
    text = str(value or "delete")
    return OLD_SPELLINGS.get(text, text)


def policy_of(props: Mapping[str, Any]) -> str:
    return policy(props.get("deletion_policy"))


def choose(
    declared: str | None, declared_at: str, configured: str | None, configured_at: str
) -> dict[str, str]:
    """A model's ``deletion_policy`` and ``deletion_policy_source`` inputs: the definition's
    policy (``declared``, at ``declared_at``: file:line), else the stack config's
    (``configured``, at ``configured_at``), else ``delete``, declared nowhere (no source)."""
    if declared is not None:
        return {"deletion_policy": declared, SOURCE_KEY: declared_at}
    if configured is None:
        return {"deletion_policy": "delete"}
    if configured not in (*POLICIES, *OLD_SPELLINGS):
        raise ValueError(f"must be delete, abandon or prevent, got {configured!r}")
    return {"deletion_policy": configured, SOURCE_KEY: configured_at}


def where(props: Mapping[str, Any]) -> str:
    """`` (stacks/models/qa.yaml:12)``: where the policy is declared, or nothing if unknown."""
    source = props.get(SOURCE_KEY)
    return f" ({source})" if isinstance(source, str) and source else ""


def refuse_replace(
    resource: str, olds: Mapping[str, Any], news: Mapping[str, Any], changes: list[str], loses: str
) -> None:
    """Raise DeletionPreventedError if a replace (``changes``: why) is refused: the declaration or
    the state says ``prevent``. ``loses``: what would go, for the message."""
    why = "; ".join(changes) or "a replace"
    if policy_of(news) == "prevent":
        raise DeletionPreventedError(
            f"deletion_policy: prevent{where(news)} refuses this change: {why}. "
            f"A replace of {resource}: {loses} would go. To allow it, set deletion_policy: "
            "delete there and run `pulumi up` (a change of the policy alone touches nothing), "
            "then make this change"
        )
    if policy_of(olds) == "prevent":
        raise DeletionPreventedError(
            f"the state records deletion_policy: prevent{where(olds)}, which "
            f"refuses this change: {why}. A replace of {resource}: {loses} would go. Run "
            "`pulumi up` with the policy change alone first, then make this change"
        )


def refuse_delete(resource: str, props: Mapping[str, Any], loses: str) -> None:
    """Raise DeletionPreventedError if the recorded policy is ``prevent``."""
    if policy_of(props) == "prevent":
        raise DeletionPreventedError(
            f"deletion_policy: prevent{where(props)} refuses to delete {resource} "
            f"({loses} would go); nothing was deleted. To allow it, declare it with "
            "deletion_policy: delete, run `pulumi up`, then destroy it (or remove it from the "
            "stack)"
        )
