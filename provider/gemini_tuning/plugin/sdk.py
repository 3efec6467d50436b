"""A Python SDK for the plugin: ``TuningJob``, ``TunedModel`` and ``Evaluation`` as ordinary
custom resources of the ``gemini-tuning`` package (no pickled provider in state).

This is what ``pulumi package gen-sdk`` would generate from the schema, kept minimal: the same
keyword arguments and snake_case output attributes as the dynamic resources, sent to the engine
under the schema's camelCase names. Python programs normally use the dynamic resources
(``from gemini_tuning import TuningJob``); this face runs the same controllers through the
plugin, which the shared lifecycle tests and the benchmark compare.
"""

from __future__ import annotations

from typing import Any, Unpack

import pulumi

from gemini_tuning.plugin._kinds import PACKAGE, kinds
from gemini_tuning.plugin._names import to_wire
from gemini_tuning.resources._declared import EvaluationArgs, TunedModelArgs, TuningJobArgs
from gemini_tuning.resources._props import protected_if_prevented


class _PluginResource(pulumi.CustomResource):
    _kind_name = ""

    def __init__(
        self, resource_name: str, opts: pulumi.ResourceOptions | None = None, **args: Any
    ) -> None:
        kind = kinds()[f"{PACKAGE}:index:{self._kind_name}"]
        unknown = set(args) - set(kind.inputs)
        if unknown:
            raise TypeError(f"{self._kind_name} {resource_name}: unknown inputs {sorted(unknown)}")
        # snake_case keys (the attributes); translate_input_property names them on the wire.
        props: dict[str, Any] = dict.fromkeys(kind.state)
        props.pop("resource_name")
        props.update(args)
        # deletion_policy: prevent -> Pulumi's protect, as on the dynamic resources.
        opts = protected_if_prevented(opts, args.get("deletion_policy"))
        super().__init__(kind.token, resource_name, props, opts)

    # The SDK applies these to nested map keys too (labels, gate): translate only the
    # resource's own property names, as generated SDKs do with their name tables.
    def translate_output_property(self, prop: str) -> str:
        return _TO_PYTHON.get(prop, prop)

    def translate_input_property(self, prop: str) -> str:
        return _TO_WIRE.get(prop, prop)


_NAMES = {name for kind in kinds().values() for name in kind.state}
_TO_WIRE = {name: to_wire(name) for name in _NAMES}
_TO_PYTHON = {to_wire(name): name for name in _NAMES}


class TuningJob(_PluginResource):
    """A supervised tuning job, through the plugin (see resources/tuning_job.md)."""

    _kind_name = "TuningJob"

    def __init__(
        self,
        resource_name: str,
        opts: pulumi.ResourceOptions | None = None,
        **args: Unpack[TuningJobArgs],
    ) -> None:
        super().__init__(resource_name, opts, **args)


class TunedModel(_PluginResource):
    """A tuned model version this stack serves, through the plugin."""

    _kind_name = "TunedModel"

    def __init__(
        self,
        resource_name: str,
        opts: pulumi.ResourceOptions | None = None,
        **args: Unpack[TunedModelArgs],
    ) -> None:
        super().__init__(resource_name, opts, **args)


class Evaluation(_PluginResource):
    """Exact match and token F1 of a tuned model, through the plugin."""

    _kind_name = "Evaluation"

    def __init__(
        self,
        resource_name: str,
        opts: pulumi.ResourceOptions | None = None,
        **args: Unpack[EvaluationArgs],
    ) -> None:
        super().__init__(resource_name, opts, **args)
