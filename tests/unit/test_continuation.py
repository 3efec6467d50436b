"""Continuous tuning (issue 25 item 5): the definition's ``continue_from``, the catalog's rules,
the release record a continuation resolves to, its aliases and the diff's reason. No engine, no
network."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gemini_tuning import _continuation, catalog
from gemini_tuning._continuation import ContinuationError, Origin, check_record
from gemini_tuning.definitions import DefinitionError, load_definition
from gemini_tuning.resources._lifecycle import pre_tuned_change_reason

MODEL = "projects/147599376447/locations/us-central1/models/8812"
STORE = "gs://b/gemini-tuning/releases/p/dev"

CONTINUED = """\
version: 1
base_model: gemini-2.5-flash
continue_from:
  model: squad-qa
  version: 1
datasets:
  training: train.jsonl
"""


def _write(tmp_path: Path, text: str, name: str = "qa-more") -> Path:
    (tmp_path / "train.jsonl").write_text('{"contents": []}\n')
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    return path


def test_a_definition_names_the_released_model_and_version(tmp_path: Path) -> None:
    definition = load_definition(_write(tmp_path, CONTINUED))
    assert definition.continue_from is not None
    assert (definition.continue_from.model, definition.continue_from.version) == ("squad-qa", 1)
    assert definition.line_of("continue_from.version") == 5


@pytest.mark.parametrize(
    ("text", "name", "line", "field", "reason"),
    [
        (CONTINUED.replace("  version: 1", "  versoin: 1"), "qa-more", 5, "continue_from.versoin", "did you mean version?"),  # noqa: E501
        (CONTINUED.replace("  version: 1", "  version: 0"), "qa-more", 5, "continue_from.version", "greater than or equal to 1"),  # noqa: E501
        (CONTINUED.replace("model: squad-qa", "model: Squad_QA"), "qa-more", 4, "continue_from.model", "not a definition name"),  # noqa: E501
        (CONTINUED.replace("gemini-2.5-flash", "translation-llm-002"), "qa-more", 3, "continue_from", "does not list translation-llm-002 among the models that support continuous tuning"),  # noqa: E501
        (CONTINUED.replace("base_model: gemini-2.5-flash", "backend: gemini-api\nbase_model: models/gemini-1.5-flash-001-tuning"), "qa-more", 4, "continue_from", "Vertex feature"),  # noqa: E501
        # Continuing itself: only an earlier version.
        (CONTINUED, "squad-qa", 5, "continue_from.version", "can only continue an earlier version of itself, not v1"),  # noqa: E501
    ],
)  # fmt: skip
def test_continue_from_errors_name_the_file_the_line_and_the_field(  # noqa: PLR0917
    tmp_path: Path, text: str, name: str, line: int, field: str, reason: str
) -> None:
    path = _write(tmp_path, text, name)
    with pytest.raises(DefinitionError) as failed:
        load_definition(path)
    message = str(failed.value)
    assert f"{path}:{line}: {field}: " in message, message
    assert reason in message


def test_a_definition_may_continue_an_earlier_version_of_itself(tmp_path: Path) -> None:
    text = CONTINUED.replace("version: 1\nbase", "version: 2\nbase")
    definition = load_definition(_write(tmp_path, text, "squad-qa"))
    assert definition.continue_from is not None
    assert definition.continue_from.version == 1


def test_the_catalog_says_which_models_support_continuous_tuning() -> None:
    supported = {m.id for m in catalog.VERTEX_MODELS.values() if m.continuous_tuning}
    # Google's list (gemini-use-continuous-tuning): 3.5 Flash, 3.1 Flash-Lite, 2.5 Pro, and
    # (our reading of the list's cut end) 2.5 Flash and Flash-Lite.
    assert supported == {
        "gemini-3.5-flash",
        "gemini-3.1-flash-lite",
        "gemini-2.5-pro",
        "gemini-2.5-flash",
        "gemini-2.5-flash-lite",
    }
    assert catalog.continuous_tuning_error(catalog.lookup("gemini-2.5-flash")) is None
    reason = catalog.continuous_tuning_error(catalog.lookup("translation-llm-002"))
    assert reason is not None
    assert "gemini-2.5-flash" in reason


def _origin(**overrides: Any) -> Origin:
    values: dict[str, Any] = {
        "model": "squad-qa",
        "version": 1,
        "base_model": "gemini-2.5-flash",
        "adapter_size": None,
        "location": "us-central1",
    }
    values.update(overrides)
    return Origin(**values)


RECORD = {
    "model": "squad-qa",
    "version": 1,
    "base_model": "gemini-2.5-flash",
    "hyperparameters": {"epoch_count": 3, "adapter_size": 4},
    "tuned_model": f"{MODEL}@1",
}


def test_a_released_version_resolves_to_its_tuned_model_version() -> None:
    assert check_record(_origin(), RECORD, store=STORE, released=[1]) == f"{MODEL}@1"
    # The same adapter size, or none, is a continuation; a base model named by its full name
    # is the same model.
    same = _origin(adapter_size=4, base_model="publishers/google/models/gemini-2.5-flash")
    assert check_record(same, RECORD, store=STORE, released=[1]) == f"{MODEL}@1"


@pytest.mark.parametrize(
    ("origin", "record", "field", "reason"),
    [
        (_origin(version=3), None, "continue_from.version", "squad-qa v3 was never released by this stack, or its record was pruned (no gs://b/gemini-tuning/releases/p/dev/squad-qa/v3.json; released versions: v1, v2)"),  # noqa: E501
        (_origin(), {**RECORD, "tuned_model": None}, "continue_from.version", "names no tuned model version"),  # noqa: E501
        (_origin(), {**RECORD, "tuned_model": MODEL}, "continue_from.version", "names no tuned model version"),  # noqa: E501
        (_origin(base_model="gemini-2.5-pro"), RECORD, "base_model", "was tuned from gemini-2.5-flash, not gemini-2.5-pro"),  # noqa: E501
        (_origin(adapter_size=8), RECORD, "hyperparameters.adapter_size", "was tuned with adapter size 4"),  # noqa: E501
        (_origin(location="europe-west4"), RECORD, "continue_from", "is in us-central1, this stack tunes in europe-west4"),  # noqa: E501
    ],
)  # fmt: skip
def test_a_release_that_cannot_be_continued_says_why(
    origin: Origin, record: dict[str, Any] | None, field: str, reason: str
) -> None:
    with pytest.raises(ContinuationError) as failed:
        check_record(origin, record, store=STORE, released=[2, 1])
    assert failed.value.field == field
    assert reason in str(failed.value)


def test_resolve_reads_the_record_of_the_asked_version_and_lists_only_when_missing() -> None:
    read: list[str] = []
    listed: list[str] = []

    def reader(uri: str) -> dict[str, Any] | None:
        read.append(uri)
        return RECORD if uri.endswith("/v1.json") else None

    def lister(prefix: str) -> list[int]:
        listed.append(prefix)
        return [1]

    found = _continuation.resolve(_origin(), STORE, read_record=reader, released=lister)
    assert found == f"{MODEL}@1"
    assert read == [f"{STORE}/squad-qa/v1.json"]
    assert listed == []
    with pytest.raises(ContinuationError, match="released versions: v1"):
        _continuation.resolve(_origin(version=2), STORE, read_record=reader, released=lister)
    assert listed == [f"{STORE}/squad-qa"]


def test_a_released_continuation_survives_its_parents_record_being_pruned() -> None:
    """``releases prune`` deletes the parent's record with its version; the continuation's own
    record still names what it was tuned from, so the job's input does not change."""
    own = {"model": "qa-more", "version": 1, "continued_from": {**_FROM, "version": 1}}
    records = {f"{STORE}/qa-more/v1.json": own, f"{STORE}/qa-more/v2.json": {"version": 2}}
    found = _continuation.resolve(
        _origin(), STORE, read_record=records.get, released=lambda _p: [], own=("qa-more", 1)
    )
    assert found == f"{MODEL}@1"
    # Its own record continued another version, or there is none: the usual refusal.
    for own_version in (2, 3):
        with pytest.raises(ContinuationError, match="never released by this stack"):
            _continuation.resolve(
                _origin(),
                STORE,
                read_record=records.get,
                released=lambda _p: [],
                own=("qa-more", own_version),
            )


_FROM = {"model": "squad-qa", "tuned_model": f"{MODEL}@1"}


def test_a_definition_continuing_another_model_takes_aliases_of_its_own() -> None:
    assert _continuation.aliases_for("qa-more", "squad-qa", ["dev"]) == ["dev-qa-more"]
    assert _continuation.aliases_for("squad-qa", "squad-qa", ["dev"]) == ["dev"]
    assert _continuation.aliases_for("squad-qa", None, ["dev", "x"]) == ["dev", "x"]


def test_the_diff_says_which_version_a_re_tune_continues() -> None:
    reason = pre_tuned_change_reason(
        {"pre_tuned_model": f"{MODEL}@1"}, {"pre_tuned_model": f"{MODEL}@2"}
    )
    assert "continues another model version (models/8812@1 -> models/8812@2)" in reason
    assert "new job" in reason
    added = pre_tuned_change_reason({"base_model": "gemini-2.5-flash"}, {"pre_tuned_model": MODEL})
    assert added.startswith("pre_tuned_model added (continuous tuning from models/8812)")


def test_the_example_loads_where_its_readme_puts_it(tmp_path: Path) -> None:
    """examples/continuous/models/squad-qa-more.yaml, copied to stacks/models/ as its README
    says, is a valid definition continuing squad-qa v1."""
    repo = Path(__file__).resolve().parents[2]
    example = repo / "examples" / "continuous" / "models" / "squad-qa-more.yaml"
    target = tmp_path / "squad-qa-more.yaml"
    target.write_text(example.read_text())
    definition = load_definition(target, check_files=False)
    assert definition.continue_from is not None
    assert (definition.continue_from.model, definition.continue_from.version) == ("squad-qa", 1)
    assert definition.line_of("continue_from.version") == 11
    squad = load_definition(repo / "stacks" / "models" / "squad-qa.yaml", check_files=False)
    assert definition.base_model == squad.base_model


def test_a_continuous_job_is_priced_and_checked_by_the_base_model_it_continues() -> None:
    """The TuningJob of a continuation sends no base model, yet preview still prices it and
    applies the base model's rules: the program passes it as pre_tuned_base_model."""
    from gemini_tuning.specs import SpecError, TuningJobSpec, parse

    job = {
        "resource_name": "qa-more",
        "pre_tuned_model": f"{MODEL}@1",
        "training_dataset": "gs://b/train.jsonl",
    }
    spec = parse(TuningJobSpec, {**job, "pre_tuned_base_model": "gemini-2.5-flash"})
    assert spec.catalog_model is not None
    assert spec.catalog_model.id == "gemini-2.5-flash"
    assert parse(TuningJobSpec, job).catalog_model is None  # a hand-declared one, as before
    with pytest.raises(SpecError) as refused:
        parse(TuningJobSpec, {**job, "pre_tuned_base_model": "translation-llm-002"})
    assert refused.value.failures[0][0] == "pre_tuned_base_model"
    with pytest.raises(SpecError) as alone:
        parse(
            TuningJobSpec,
            {**job, "pre_tuned_model": None, "base_model": "gemini-2.5-flash",
             "pre_tuned_base_model": "gemini-2.5-flash"},
        )  # fmt: skip
    assert alone.value.failures[0][0] == "pre_tuned_base_model"
