"""A delete the service refuses (issue 22): the TuningJob's delete and `releases prune` finish,
with one line saying what the service kept; only this stack's claim is taken off."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gemini_tuning import _claims as claims
from gemini_tuning import _releases as rel
from gemini_tuning.backends import DeleteRefusedError, ModelStatus
from gemini_tuning.cli import _releases as cli
from gemini_tuning.resources.tuning_job import _retire_model

MODEL = "projects/p/locations/us-central1/models/42@1"
STACK = "gemini-tuning/dev"
KEPT = f"the service kept tuned model {MODEL} (it refused the delete: kept)"


class RefusingBackend:
    """Removes what serves the version, then refuses to delete it."""

    def __init__(self, labels: Mapping[str, str]) -> None:
        self.labels = dict(labels)
        self.label_writes = 0

    def get_model(self, name: str) -> ModelStatus:
        return ModelStatus(name=name, labels=self.labels, version_aliases=("default",))

    def delete_version(self, name: str, endpoint: str | None) -> list[str]:
        raise DeleteRefusedError(KEPT, ["undeployed 7 from e1", "deleted endpoint e1"])

    def update_labels(self, name: str, change: Any) -> ModelStatus:
        self.label_writes += 1
        self.labels = dict(change(self.labels))
        return self.get_model(name)


def test_a_refused_delete_is_one_kept_line_and_takes_only_this_stacks_claim() -> None:
    other = claims.claim_labels("gemini-tuning/staging")
    served_only = {k: v for k, v in other.items() if k.startswith(claims.SERVED_PREFIX)}
    backend = RefusingBackend({**claims.claim_labels(STACK), **served_only, "team": "qa"})
    lines = _retire_model(backend, MODEL, {"stack": STACK, "owner_token": None})  # type: ignore[arg-type]
    assert lines == [
        "undeployed 7 from e1",
        "deleted endpoint e1",
        f"removed this stack's claim from {MODEL}",
        KEPT,
    ]
    assert f"{claims.CLAIM_PREFIX}{claims.stack_key(STACK)}" not in backend.labels
    assert backend.labels["team"] == "qa"  # nothing else is touched
    assert claims.has_served(backend.labels, STACK)  # the served mark stays, as on release


def test_no_claim_to_take_means_no_label_write() -> None:
    backend = RefusingBackend({"team": "qa"})
    lines = _retire_model(backend, MODEL, {"stack": STACK})  # type: ignore[arg-type]
    assert lines[-1] == KEPT
    assert backend.label_writes == 0


def test_prune_says_the_service_kept_it() -> None:
    view = rel.ReleaseView(
        uri="gs://b/r/qa/v1.json",
        record={"model": "qa", "version": 1, "tuned_model": MODEL},
        model=ModelStatus(name=MODEL),
        current=False,
    )
    plan = rel.PrunePlan(delete_versions=[view])
    text = cli._describe(plan, applied=True, done=[f"{KEPT}; its release record stays"])
    assert text.splitlines()[0] == f"the service kept qa v1 ({MODEL})"
    assert cli._describe(plan, applied=True, done=["deleted model x"]).startswith("deleted qa v1")
