"""The resources the plugin serves: each one's controller and what its schema is made of.

A *controller* is the resource's ``ResourceProvider`` in ``gemini_tuning.resources`` (check,
diff, create, read, update, delete over plain dicts): the dynamic resource and this plugin both
call the same instance, so no behaviour differs between the two faces.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

if TYPE_CHECKING:
    from gemini_tuning.specs import Declared

PACKAGE = "gemini-tuning"
VERSION = "0.1.0"


@dataclass(frozen=True)
class Kind:
    """One resource type: ``gemini-tuning:index:<name>``. Its properties are the declaration's
    in gemini_tuning.specs (inputs, computed inputs, outputs, secrets)."""

    name: str
    controller: Any  # a pulumi.dynamic.ResourceProvider
    declared: Declared
    replace_on_changes: tuple[str, ...]
    description: str

    @property
    def token(self) -> str:
        return f"{PACKAGE}:index:{self.name}"

    @property
    def spec(self) -> type[BaseModel]:
        return self.declared.inputs

    @property
    def inputs(self) -> tuple[str, ...]:
        """What a program declares: the spec's fields but the resource's name (from the URN)."""
        return self.declared.arguments

    @property
    def computed_inputs(self) -> tuple[str, ...]:
        """Added by check (dataset fingerprints) or the resource class (the stack)."""
        return self.declared.computed_inputs

    @property
    def outputs(self) -> tuple[str, ...]:
        return self.declared.provider_outputs

    @property
    def secret_outputs(self) -> tuple[str, ...]:
        return self.declared.secret_outputs

    @property
    def state(self) -> tuple[str, ...]:
        """Every property the engine stores: inputs echoed, computed inputs, outputs."""
        return tuple(
            dict.fromkeys(("resource_name", *self.inputs, *self.computed_inputs, *self.outputs))
        )


def kinds() -> dict[str, Kind]:
    """Token -> kind, for the three resources (imported lazily: the plugin starts fast)."""
    from gemini_tuning.resources import evaluation, tuned_model, tuning_job
    from gemini_tuning.specs import EVALUATION, TUNED_MODEL, TUNING_JOB

    found = [
        Kind(
            name="TuningJob",
            controller=tuning_job._PROVIDER,
            declared=TUNING_JOB,
            # A dataset's *content* changing replaces the job too (its fingerprint, in check).
            replace_on_changes=TUNING_JOB.replacing_inputs,
            description=_first_line(tuning_job.TuningJob.__doc__),
        ),
        Kind(
            name="TunedModel",
            controller=tuned_model._PROVIDER,
            declared=TUNED_MODEL,
            replace_on_changes=TUNED_MODEL.replacing_inputs,
            description=_first_line(tuned_model.TunedModel.__doc__),
        ),
        Kind(
            name="Evaluation",
            controller=evaluation._PROVIDER,
            declared=EVALUATION,
            replace_on_changes=EVALUATION.replacing_inputs,
            description=_first_line(evaluation.Evaluation.__doc__),
        ),
    ]
    return {kind.token: kind for kind in found}


def _first_line(doc: str | None) -> str:
    return (doc or "").strip().splitlines()[0] if doc else ""
