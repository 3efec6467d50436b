"""The property map a Resource subclass hands to the engine."""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Mapping
from typing import Any

from gemini_tuning.specs import Declared


def declared_props(
    kind: str, resource_name: str, args: Mapping[str, Any], declared: Declared
) -> dict[str, Any]:
    """``args`` plus the resource's name, with every property the resource adds present (as
    None) so the engine exposes it on the Resource. Unknown argument names fail here, in the
    program, at once."""
    unknown = set(args) - set(declared.arguments)
    if unknown:
        raise TypeError(f"{kind} {resource_name}: unknown inputs {sorted(unknown)}")
    props: dict[str, Any] = dict.fromkeys(declared.added)
    props.update(args)
    props["resource_name"] = resource_name
    return props


class OutputTypes:
    """Base of the generated ``<Resource>Attributes`` (resources/_declared.py): gives a resource
    class their annotations as its *own*. The SDK reads only a class's own annotations
    (``inspect.get_annotations`` in pulumi/_types.py) to convert what the engine returns: a
    number comes back a float, and an ``Output[int]`` makes it an int again."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        declared: dict[str, Any] = {}
        for base in reversed(cls.__mro__[1:]):
            if issubclass(base, OutputTypes) and base is not OutputTypes:
                declared.update(inspect.get_annotations(base))
        cls.__annotations__ = {**declared, **inspect.get_annotations(cls)}


def with_secret_outputs(opts: Any, names: Iterable[str]) -> Any:
    """``opts`` (a ResourceOptions or None) with ``names`` added to additional_secret_outputs:
    the engine stores those outputs encrypted in state (user text: evaluation samples, service
    error messages). The dynamic servicer returns plain values; secrecy is the engine's job."""
    import pulumi

    base = opts if opts is not None else pulumi.ResourceOptions()
    wanted = [*(base.additional_secret_outputs or []), *names]
    return pulumi.ResourceOptions.merge(
        base, pulumi.ResourceOptions(additional_secret_outputs=list(dict.fromkeys(wanted)))
    )


def protected_if_prevented(opts: Any, deletion_policy: Any) -> Any:
    """``opts`` with Pulumi's ``protect`` set when ``deletion_policy`` is ``prevent``: the
    engine then refuses, at preview, to delete the resource (``pulumi destroy``, or the resource
    removed from the program), and to replace it. A policy that is not known yet (an Output)
    sets nothing: its ``diff`` and ``delete`` still refuse (see _deletion).

    https://www.pulumi.com/docs/iac/concepts/resources/options/protect/: "it will be an error to
    do a Pulumi deployment which tries to delete a protected resource for any reason"; measured
    with the engine in tests/engine/test_deletion_policy.py."""
    import pulumi

    from gemini_tuning.resources import _deletion

    if not isinstance(deletion_policy, str) or _deletion.policy(deletion_policy) != "prevent":
        return opts
    return pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(protect=True))
