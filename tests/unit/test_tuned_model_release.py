"""TunedModel._release: names are resolved to the version before anything is written, and a
claim that stays after the version lost it (a label of the model) is reported, not hidden."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pytest

from gemini_tuning import _claims as claims
from gemini_tuning.backends import ModelStatus
from gemini_tuning.resources import tuned_model

STACK = "gemini-tuning/prod"
MODEL = "projects/1/locations/l/models/5"


class TwoLevelRegistry:
    """Just enough of a backend: labels at the model level and on version @1, merged on read
    (as Vertex returns them); writes must name the version."""

    def __init__(self, model_labels: dict[str, str], version_labels: dict[str, str]) -> None:
        self.model_labels = model_labels
        self.version_labels = version_labels
        self.written: list[str] = []

    def version_name(self, name: str) -> str:
        return name if "@" in name else f"{name}@1"

    def _status(self) -> ModelStatus:
        return ModelStatus(f"{MODEL}@1", labels={**self.model_labels, **self.version_labels})

    def merge_aliases(self, name: str, *, add: Sequence[str], remove: Sequence[str]) -> ModelStatus:
        self.written.append(name)
        return self._status()

    def update_labels(self, name: str, change: object) -> ModelStatus:
        self.written.append(name)
        assert callable(change)
        merged: Mapping[str, str] = self._status().labels
        self.version_labels = dict(change(merged))
        return self._status()


def test_release_writes_to_the_version_and_reports_a_claim_on_the_model(
    capsys: pytest.CaptureFixture[str],
) -> None:
    registry = TwoLevelRegistry(claims.claim_labels(STACK), {})
    tuned_model._release(registry, "vertex", MODEL, ["prod"], stack=STACK, resource="served")  # type: ignore[arg-type]
    assert registry.written == [f"{MODEL}@1", f"{MODEL}@1"]  # never the bare name
    err = capsys.readouterr().err
    assert f"warning: the claim {claims.claim_key(STACK)} is still on {MODEL}@1" in err
    assert f"it is a label of the model {MODEL}" in err


def test_release_of_a_version_claim_says_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    registry = TwoLevelRegistry({}, claims.claim_labels(STACK))
    tuned_model._release(registry, "vertex", f"{MODEL}@1", [], stack=STACK, resource="served")  # type: ignore[arg-type]
    assert claims.claim_key(STACK) not in registry.version_labels
    assert "warning" not in capsys.readouterr().err
