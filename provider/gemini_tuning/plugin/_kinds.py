"""The resources the plugin serves: each one's controller and what its schema is made of.

A *controller* is the resource's ``ResourceProvider`` in ``gemini_tuning.resources`` (check,
diff, create, read, update, delete over plain dicts): the dynamic resource and this plugin both
call the same instance, so no behaviour differs between the two faces.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

PACKAGE = "gemini-tuning"
VERSION = "0.1.0"


@dataclass(frozen=True)
class Kind:
    """One resource type: ``gemini-tuning:index:<name>``."""

    name: str
    controller: Any  # a pulumi.dynamic.ResourceProvider
    spec: type[BaseModel]
    resource: type  # the dynamic Resource class: its Output annotations type the outputs
    computed_inputs: tuple[str, ...]  # added by check (dataset fingerprints, the stack)
    outputs: tuple[str, ...]
    secret_outputs: tuple[str, ...]
    replace_on_changes: tuple[str, ...]
    description: str

    @property
    def token(self) -> str:
        return f"{PACKAGE}:index:{self.name}"

    @property
    def inputs(self) -> tuple[str, ...]:
        """What a program declares: the spec's fields but the resource's name (from the URN)."""
        return tuple(f for f in self.spec.model_fields if f != "resource_name")

    @property
    def state(self) -> tuple[str, ...]:
        """Every property the engine stores: inputs echoed, computed inputs, outputs."""
        return tuple(
            dict.fromkeys(("resource_name", *self.inputs, *self.computed_inputs, *self.outputs))
        )


def kinds() -> dict[str, Kind]:
    """Token -> kind, for the three resources (imported lazily: the plugin starts fast)."""
    from gemini_tuning.resources import evaluation, tuned_model, tuning_job
    from gemini_tuning.resources._lifecycle import JOB_REPLACE_KEYS, MODEL_REPLACE_KEYS
    from gemini_tuning.specs import TunedModelSpec, TuningJobSpec

    job_replaces = tuple(k for k in JOB_REPLACE_KEYS if not k.endswith("_fingerprint"))
    found = [
        Kind(
            name="TuningJob",
            controller=tuning_job._PROVIDER,
            spec=TuningJobSpec,
            resource=tuning_job.TuningJob,
            computed_inputs=tuning_job.COMPUTED_INPUTS,
            outputs=tuning_job.OUTPUTS,
            secret_outputs=tuning_job.SECRET_OUTPUTS,
            # A dataset's *content* changing replaces the job too (its fingerprint, in check).
            replace_on_changes=(*job_replaces, "training_dataset", "validation_dataset"),
            description=_first_line(tuning_job.TuningJob.__doc__),
        ),
        Kind(
            name="TunedModel",
            controller=tuned_model._PROVIDER,
            spec=TunedModelSpec,
            resource=tuned_model.TunedModel,
            computed_inputs=("stack",),
            outputs=tuned_model.OUTPUTS,
            secret_outputs=(),
            replace_on_changes=MODEL_REPLACE_KEYS,
            description=_first_line(tuned_model.TunedModel.__doc__),
        ),
        Kind(
            name="Evaluation",
            controller=evaluation._PROVIDER,
            spec=evaluation.EvaluationSpec,
            resource=evaluation.Evaluation,
            computed_inputs=evaluation.COMPUTED_INPUTS,
            outputs=evaluation.OUTPUTS,
            secret_outputs=evaluation.SECRET_OUTPUTS,
            replace_on_changes=(),
            description=_first_line(evaluation.Evaluation.__doc__),
        ),
    ]
    return {kind.token: kind for kind in found}


def _first_line(doc: str | None) -> str:
    return (doc or "").strip().splitlines()[0] if doc else ""
