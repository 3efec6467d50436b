"""Pure release rules: claim labels, the owner rule, choosing a release to promote, pruning."""

from __future__ import annotations

import re
from typing import Any

import pytest

from gemini_tuning import _claims as claims
from gemini_tuning import _releases as rel
from gemini_tuning.backends import ModelStatus
from gemini_tuning.specs import Gate

MODEL_V1 = "projects/1/locations/l/models/9@1"
MODEL_V2 = "projects/1/locations/l/models/8@1"
STORE = "gs://b/gemini-tuning/releases/gemini-tuning/dev"
LABEL = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
VALUE = re.compile(r"^[a-z0-9_-]{0,63}$")


# -- claims ----------------------------------------------------------------------------------


def test_claim_labels_follow_vertex_label_rules_for_long_and_odd_stack_names() -> None:
    for stack in ("gemini-tuning/dev", "Org/My Project/Staging.EU", "p/" + "x" * 200):
        for key, value in claims.claim_labels(stack).items():
            assert LABEL.match(key), key
            assert VALUE.match(value), value


def test_organization_qualified_and_project_qualified_names_are_the_same_stack() -> None:
    assert claims.stack_key("organization/gemini-tuning/dev") == claims.stack_key(
        "gemini-tuning/dev"
    )
    assert claims.stack_key("gemini-tuning/dev") != claims.stack_key("gemini-tuning/staging")


def test_claimants_are_other_stacks_and_hand_set_aliases_never_the_owner_itself() -> None:
    labels = claims.with_claim(
        claims.with_claim({"team": "x"}, "gemini-tuning/dev"), "gemini-tuning/local-staging"
    )
    assert claims.claimants(labels, ["default"], except_stack="gemini-tuning/dev") == [
        "gemini-tuning-local-staging"
    ]
    released = claims.without_claim(labels, "gemini-tuning/local-staging")
    assert claims.claimants(released, ["default"], except_stack="gemini-tuning/dev") == []
    assert claims.has_served(released, "organization/gemini-tuning/local-staging")
    assert claims.claimants({}, ["default", "golden"], except_stack="gemini-tuning/dev") == [
        "alias golden"
    ]


def test_owner_rule_a_newer_token_takes_the_model_away() -> None:
    assert claims.may_delete({}, None)  # state from before owner tokens
    assert claims.may_delete({}, "mine")  # never stamped (the job had not finished)
    assert claims.may_delete({claims.OWNER_LABEL: "mine"}, "mine")
    assert not claims.may_delete({claims.OWNER_LABEL: "newer"}, "mine")
    assert not claims.may_delete({claims.OWNER_LABEL: "newer"}, None)


# -- choosing a release ----------------------------------------------------------------------


def _record(version: int = 1, model: str = MODEL_V1, em: float = 0.55) -> dict[str, Any]:
    return {
        "model": "qa",
        "version": version,
        "tuning_stack": "gemini-tuning/dev",
        "tuned_model": model,
        "endpoint": "projects/1/locations/l/endpoints/7",
        "job": "projects/1/locations/l/tuningJobs/5",
        "evaluation": {
            "metrics": {"exact_match": em, "token_f1": 0.8},
            "baseline": {"exact_match": 0.1},
            "dataset_fingerprint": "sha256:ab",
            "evaluated_at": "2026-12-01T00:00:00Z",
        },
    }


def _entry(version: int, model: str) -> dict[str, Any]:
    return {"version": float(version), "state": "SUCCEEDED", "model": model, "artifacts": {}}


def _choose(
    source: rel.Source,
    version: int,
    *,
    records: dict[str, dict[str, Any]],
    models: dict[str, ModelStatus],
    gate: Gate | None = None,
) -> dict[str, Any]:
    return rel.choose_release(
        source,
        "qa",
        version,
        stack="staging",
        gate=gate or Gate(exact_match=0.5),
        read_record=records.get,
        lookup_model=models.get,
    )


def test_a_version_the_source_no_longer_carries_is_promoted_from_its_record() -> None:
    dev = rel.Source(
        "organization/gemini-tuning/dev",
        {"qa": _entry(2, MODEL_V2)},
        {"role": "tuning", "release_store": STORE},
    )
    records = {
        rel.record_uri(STORE, "qa", 1): _record(1),
        rel.record_uri(STORE, "qa", 2): _record(2, MODEL_V2),
    }
    models = {MODEL_V1: ModelStatus(MODEL_V1), MODEL_V2: ModelStatus(MODEL_V2)}
    chosen = _choose(dev, 1, records=records, models=models)
    assert chosen["model"] == MODEL_V1
    assert chosen["metrics"]["exact_match"] == 0.55
    assert chosen["release"] == f"{STORE}/qa/v1.json"
    assert chosen["eval_dataset_fingerprint"] == "sha256:ab"
    assert _choose(dev, 2, records=records, models=models)["model"] == MODEL_V2


def test_promotion_refusals_say_why() -> None:
    dev = rel.Source(
        "o/p/dev", {"qa": _entry(2, MODEL_V2)}, {"role": "tuning", "release_store": STORE}
    )
    v1 = {rel.record_uri(STORE, "qa", 1): _record(1)}
    alive = {MODEL_V1: ModelStatus(MODEL_V1)}
    cases: list[tuple[rel.Source, int, dict[str, Any], dict[str, ModelStatus], str]] = [
        (dev, 3, v1, alive, f"o/p/dev carries qa v2; no release record of v3 in {STORE}"),
        (dev, 1, v1, {}, f"its model {MODEL_V1} no longer exists (deleted or pruned)"),
        (
            dev,
            1,
            {rel.record_uri(STORE, "qa", 1): _record(1, em=0.45)},
            alive,
            "evaluation gate not met: exact_match 0.45 < gate 0.50 (short by 0.05)",
        ),
        (
            rel.Source("o/p/dev", {"other": _entry(1, MODEL_V1)}, {}),
            1,
            {},
            alive,
            "carries no model qa",
        ),
    ]
    for source, version, records, models, reason in cases:
        with pytest.raises(rel.PromotionError) as refused:
            _choose(source, version, records=records, models=models)
        assert str(refused.value).startswith(
            f"cannot promote qa v{version} from {source.name} to staging: "
        )
        assert reason in str(refused.value), str(refused.value)
    # The version is printed as a whole number, not "v2.0".
    with pytest.raises(rel.PromotionError, match=r"carries qa v2\. Promote"):
        _choose(rel.Source("o/p/dev", {"qa": _entry(2, MODEL_V2)}, {}), 1, records={}, models=alive)


def test_a_promoting_source_passes_on_only_what_it_serves_or_served() -> None:
    staging = rel.Source(
        "organization/gemini-tuning/staging",
        {"qa": _entry(2, MODEL_V2)},
        {"role": "promotion", "release_store": STORE},
    )
    records = {rel.record_uri(STORE, "qa", 1): _record(1)}
    never = {MODEL_V1: ModelStatus(MODEL_V1, labels={})}
    with pytest.raises(rel.PromotionError, match="never served v1; promote it there first"):
        _choose(staging, 1, records=records, models=never)
    served = claims.without_claim(
        claims.with_claim({}, "gemini-tuning/staging"), "gemini-tuning/staging"
    )
    once = {MODEL_V1: ModelStatus(MODEL_V1, labels=served)}
    assert _choose(staging, 1, records=records, models=once)["model"] == MODEL_V1


def test_a_source_without_a_store_promotes_what_it_carries() -> None:
    dev = rel.Source(
        "o/p/dev", {"qa": {**_entry(1, MODEL_V1), "metrics": {"exact_match": 0.6}}}, {}
    )
    chosen = _choose(dev, 1, records={}, models={MODEL_V1: ModelStatus(MODEL_V1)})
    assert (chosen["model"], chosen["release"]) == (MODEL_V1, None)
    running = rel.Source("o/p/dev", {"qa": {**_entry(1, MODEL_V1), "state": "RUNNING"}}, {})
    with pytest.raises(rel.PromotionError, match="its tuning job is RUNNING"):
        _choose(running, 1, records={}, models={})


# -- records and pruning ---------------------------------------------------------------------


def test_records_are_deterministic_and_whole_numbers_stay_whole() -> None:
    record = {"version": 2.0, "evaluation": {"metrics": {"examples": 15.0, "exact_match": 0.5}}}
    assert rel.record_bytes(record) == rel.record_bytes(dict(reversed(record.items())))
    assert b'"version": 2\n' in rel.record_bytes(record)
    assert rel.record_uri(STORE + "/", "qa", 2.0) == f"{STORE}/qa/v2.json"  # type: ignore[arg-type]


def _view(
    version: int,
    *,
    labels: dict[str, str] | None = None,
    aliases: tuple[str, ...] = ("default",),
    current: bool = False,
    gone: bool = False,
) -> rel.ReleaseView:
    model = f"projects/1/locations/l/models/{version}@1"
    status = None if gone else ModelStatus(model, labels=labels or {}, version_aliases=aliases)
    return rel.ReleaseView(f"{STORE}/qa/v{version}.json", _record(version, model), status, current)


def test_prune_deletes_only_unclaimed_retained_versions_beyond_keep() -> None:
    staging = claims.with_claim({}, "gemini-tuning/staging")
    views = [
        _view(1, gone=True),
        _view(2),
        _view(3),
        _view(4, labels=staging, aliases=("default", "staging")),
        _view(5),
        _view(6, current=True, aliases=("default", "dev")),
    ]
    plan = rel.plan_prune(views, keep=1)
    assert [v.record["version"] for v in plan.delete_versions] == [3, 2]
    assert [v.record["version"] for v in plan.delete_records] == [1]
    kept = {v.record["version"]: why for v, why in plan.kept}
    assert kept == {
        6: "the tuning stack carries it",
        5: "--keep 1",
        4: "served by gemini-tuning-staging, alias staging",
    }
    assert [v.record["version"] for v in rel.plan_prune(views, keep=0).delete_versions] == [5, 3, 2]
    assert views[3].to_dict()["status"] == "claimed"


def test_the_tuning_stacks_own_alias_is_not_a_claim_but_anyone_elses_is() -> None:
    model = "projects/1/locations/l/models/7@1"
    status = ModelStatus(model, version_aliases=("default", "dev", "golden"))
    view = rel.ReleaseView(f"{STORE}/qa/v7.json", _record(7, model), status, False, ("dev",))
    assert view.claims == ["alias golden"]
    assert view.status == "claimed"
    mine = rel.ReleaseView(
        view.uri, view.record, ModelStatus(model, version_aliases=("dev",)), False, ("dev",)
    )
    assert mine.status == "retained"


def test_models_the_state_holds_count_as_current_even_when_the_outputs_are_stale() -> None:
    from gemini_tuning.cli._releases import models_in_state

    exported = {
        "deployment": {
            "resources": [
                {"type": "pulumi:pulumi:Stack", "outputs": {"models": {}}},
                {
                    "type": "pulumi-python:dynamic/vertex:TuningJob",
                    "outputs": {"tuned_model": MODEL_V2},
                },
                {"type": "pulumi-python:dynamic/vertex:TunedModel", "outputs": {"model": MODEL_V1}},
                {"type": "gemini-tuning:index:TuningJob", "outputs": {"tuned_model": ""}},
                {"type": "pulumi-python:dynamic/vertex:Release", "outputs": {"model": "squad-qa"}},
            ]
        }
    }
    assert models_in_state(exported) == {MODEL_V1, MODEL_V2}
    assert models_in_state({}) == set()


def test_a_claim_on_every_version_is_reported_as_a_model_level_claim() -> None:
    """A claim written to the bare model name is the model's label, merged into every version
    the service returns (issue 22 item 4): `releases list` says so; a claim on one version, or a
    model with one version (nothing to compare), is not reported."""
    from gemini_tuning.cli._releases import render

    stray = claims.with_claim({}, "gemini-tuning/prod")
    staging = claims.with_claim({}, "gemini-tuning/staging")
    model = "projects/1/locations/l/models/9"
    versions = [
        ModelStatus(f"{model}@1", labels={**stray, **staging}),
        ModelStatus(f"{model}@2", labels={**stray, "tune-type": "sft"}),
    ]
    found = rel.model_level_claims(versions)
    assert found == {claims.claim_key("gemini-tuning/prod"): "gemini-tuning-prod"}
    assert rel.model_level_claims(versions[:1]) == {}
    assert rel.model_level_claims([versions[0], ModelStatus(f"{model}@2", labels=staging)]) == {
        claims.claim_key("gemini-tuning/staging"): "gemini-tuning-staging"
    }

    view = rel.ReleaseView(
        f"{STORE}/qa/v2.json", _record(2, f"{model}@2"), versions[1], False, (), found
    )
    assert view.status == "claimed"  # still held: never pruned while the label is there
    row = view.to_dict()
    assert row["notes"] == [
        "claim at model level: gemini-tuning-prod (on every version of the model: a label "
        "written to the bare model name; remove it there, unless that stack serves every version)"
    ]
    table = render([row])
    assert "NOTES" in table.splitlines()[0]
    assert "claim at model level: gemini-tuning-prod" in table
    assert _view(3).to_dict()["notes"] == []
    assert render([_view(3).to_dict()]).splitlines()[1].endswith("-")


class _RefusingBlob:
    def __init__(self, error: Exception) -> None:
        self.error = error

    def download_as_bytes(self) -> bytes:
        raise self.error


class _RefusingClient:
    """A storage client whose every object read fails with ``error``."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def bucket(self, _name: str) -> Any:
        client = self

        class _Bucket:
            def blob(self, _name: str) -> _RefusingBlob:
                return _RefusingBlob(client.error)

        return _Bucket()


def test_a_missing_record_reads_as_none_and_a_refused_read_says_the_services_code() -> None:
    from google.api_core import exceptions

    from gemini_tuning.backends import BackendError
    from gemini_tuning.backends import _storage as storage

    assert storage.read_object(_RefusingClient(exceptions.NotFound("gone")), "b", "r.json") is None
    refused = _RefusingClient(exceptions.Forbidden("caller lacks storage.objects.get"))
    with pytest.raises(BackendError, match=r"^403 caller lacks storage\.objects\.get$"):
        storage.read_object(refused, "b", "r.json")


def test_a_record_keeps_the_epoch_advice_and_an_older_record_without_it_still_lists() -> None:
    """Issue 25, item 3: the record holds the advice as structured fields (program.py writes
    EpochAdvice.as_dict()); records written before it, and jobs whose loss improved to the end,
    have none."""
    from gemini_tuning._advice import advise

    advice = advise([2.0, 1.2, 0.9, 0.9, 0.9], None, 5)
    assert advice is not None
    status = ModelStatus(MODEL_V1)
    record = {**_record(3, MODEL_V1), "advice": advice.as_dict()}
    row = rel.ReleaseView(f"{STORE}/qa/v3.json", record, status, True).to_dict()
    assert row["advice"]["suggested_epoch_count"] == 3
    assert row["advice"]["message"].startswith("validation loss no better after epoch 3 of 5")
    old = rel.ReleaseView(f"{STORE}/qa/v3.json", _record(3, MODEL_V1), status, True).to_dict()
    assert old["advice"] is None
    assert old["metrics"] == row["metrics"]
