"""Which host each location's calls go to (_locations.py, _settings.endpoint_for, the
Vertex backend's choice per resource name) and where each base model tunes (catalog)."""

from __future__ import annotations

from typing import Any

import pytest

from gemini_tuning import catalog
from gemini_tuning._locations import UnknownLocationError, location_of, service_host
from gemini_tuning.backends import SettingsError
from gemini_tuning.backends._settings import resolve
from gemini_tuning.backends.vertex import _target_location


@pytest.fixture(autouse=True)
def no_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("GEMINI_TUNING_PROJECT", "GOOGLE_CLOUD_PROJECT", "GEMINI_TUNING_API_ENDPOINT"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.delenv("GEMINI_TUNING_LOCATION", raising=False)


@pytest.mark.parametrize(
    ("location", "host"),
    [
        ("us-central1", "us-central1-aiplatform.googleapis.com"),
        ("europe-west4", "europe-west4-aiplatform.googleapis.com"),
        ("northamerica-northeast1", "northamerica-northeast1-aiplatform.googleapis.com"),
        ("us", "aiplatform.us.rep.googleapis.com"),
        ("eu", "aiplatform.eu.rep.googleapis.com"),
        ("global", "aiplatform.googleapis.com"),
    ],
)
def test_each_location_has_its_documented_host(location: str, host: str) -> None:
    assert service_host(location) == host


@pytest.mark.parametrize("location", ["", "asia", "US", "us-central", "europe-west4/x"])
def test_a_name_that_is_no_location_has_no_host(location: str) -> None:
    with pytest.raises(UnknownLocationError):
        service_host(location)


def test_the_location_comes_from_the_resource_name() -> None:
    assert location_of("projects/1/locations/eu/models/7@2") == "eu"
    assert location_of("projects/p/locations/us-east4") == "us-east4"
    assert location_of("gs://bucket/projects/x") is None


def _config(**values: str) -> dict[str, str]:
    return {f"gemini-tuning:{k}": v for k, v in values.items()}


def test_google_settings_pick_the_host_of_each_location() -> None:
    settings = resolve(_config(project="p", location="us"))
    assert settings.api_endpoint == "https://aiplatform.us.rep.googleapis.com"
    assert settings.endpoint_for("us") == "https://aiplatform.us.rep.googleapis.com"
    assert settings.endpoint_for("europe-west4") == "https://europe-west4-aiplatform.googleapis.com"
    assert settings.endpoint_for("global") == "https://aiplatform.googleapis.com"


def test_an_explicit_endpoint_is_an_override_for_every_location() -> None:
    settings = resolve(_config(project="p", location="us", apiEndpoint="https://proxy.example"))
    assert settings.endpoint_for("us") == "https://proxy.example"
    assert settings.endpoint_for("europe-west4") == "https://proxy.example"


def test_the_emulator_is_told_the_host_google_would_be_asked() -> None:
    settings = resolve(_config(project="p", location="eu", apiEndpoint="http://127.0.0.1:9"))
    assert (
        settings.endpoint_for("eu") == "http://127.0.0.1:9/_host/aiplatform.eu.rep.googleapis.com"
    )
    assert settings.endpoint_for("us-central1") == (
        "http://127.0.0.1:9/_host/us-central1-aiplatform.googleapis.com"
    )


def test_a_location_no_host_serves_is_a_settings_error() -> None:
    with pytest.raises(SettingsError, match="gemini-tuning:location"):
        resolve(_config(project="p", location="mars-north1x"))


class _Model:
    name = "projects/p/locations/europe-west4/models/9@1"


@pytest.mark.parametrize(
    ("kwargs", "location"),
    [
        ({"name": "projects/p/locations/us/tuningJobs/1"}, "us"),
        ({"parent": "projects/p/locations/eu"}, "eu"),
        ({"request": {"parent": "projects/p/locations/us-east4", "filter": ""}}, "us-east4"),
        ({"request": {"model": "projects/p/locations/us/endpoints/5"}}, "us"),
        ({"model": _Model(), "update_mask": None}, "europe-west4"),
        ({"endpoint": "projects/p/locations/eu/endpoints/3", "deployed_model_id": "1"}, "eu"),
        (
            {"tensorboard_time_series": "projects/p/locations/us/tensorboards/1/x/y/z"},
            "us",
        ),
        ({"request": {"model": "gemini-2.5-flash"}}, None),
    ],
)
def test_a_call_goes_where_the_resource_it_acts_on_lives(
    kwargs: dict[str, Any], location: str | None
) -> None:
    assert _target_location(kwargs) == location


@pytest.mark.parametrize(
    ("model", "location"),
    [
        ("gemini-2.5-flash", "us-central1"),
        ("gemini-2.5-flash", "us"),
        ("gemini-2.5-pro", "eu"),
        ("gemini-2.5-flash-lite", "asia-northeast1"),
        ("gemini-3.5-flash", "us"),
        ("gemini-3.5-flash", "europe-west4"),
        ("translation-llm-002", "us-central1"),
    ],
)
def test_the_documented_tuning_locations_are_accepted(model: str, location: str) -> None:
    assert catalog.tuning_location_error(catalog.lookup(model), location) is None


@pytest.mark.parametrize(
    ("model", "location", "why"),
    [
        ("gemini-2.5-flash", "global", "no tuning on the global endpoint"),
        ("gemini-3.5-flash", "asia-east1", "does not list 'asia-east1'"),
        ("gemini-3.1-flash-lite", "europe-west1", "does not list 'europe-west1'"),
        ("translation-llm-002", "eu", "does not list 'eu'"),
    ],
)
def test_an_undocumented_model_and_location_pair_is_refused(
    model: str, location: str, why: str
) -> None:
    reason = catalog.tuning_location_error(catalog.lookup(model), location)
    assert reason is not None
    assert why in reason
    assert "set gemini-tuning:location" in reason


def test_the_gemini_api_is_not_location_bound() -> None:
    model = catalog.lookup("models/gemini-1.0-pro-001", "gemini-api", allow_retired=True)
    assert catalog.tuning_location_error(model, "global") is None


@pytest.fixture
def stack_in(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Point the provider's settings at a stack in ``location`` (an emulator URL: no
    credential), and put the settings back afterwards."""
    from gemini_tuning import backends

    def configure(location: str) -> None:
        config = _config(project="p", location=location, apiEndpoint="http://127.0.0.1:9")
        backends.configure(config.get)

    yield configure
    backends.configure(None)


def _news(base_model: str, tmp_path: Any) -> dict[str, Any]:
    data = tmp_path / "t.jsonl"
    data.write_text('{"contents": [{"role": "user", "parts": [{"text": "q"}]}]}\n')
    return {
        "resource_name": "qa",
        "stack": "it",
        "backend": "vertex",
        "base_model": base_model,
        "training_dataset": str(data),
    }


def test_a_hand_declared_job_fails_check_on_base_model_outside_its_locations(
    stack_in: Any, tmp_path: Any
) -> None:
    from gemini_tuning.resources.tuning_job import TuningJobProvider

    stack_in("asia-east1")
    result = TuningJobProvider().check({}, _news("gemini-3.5-flash", tmp_path))
    assert [(f.property, f.reason.split(":")[0]) for f in result.failures] == [
        ("base_model", "base model gemini-3.5-flash cannot be tuned in location 'asia-east1'")
    ]


def test_a_hand_declared_job_where_its_model_tunes_passes_the_location_check(
    stack_in: Any, tmp_path: Any
) -> None:
    from gemini_tuning.resources.tuning_job import _location_failure
    from gemini_tuning.specs import TuningJobSpec, parse

    stack_in("us")
    news = {k: v for k, v in _news("gemini-3.5-flash", tmp_path).items() if k != "stack"}
    assert _location_failure(parse(TuningJobSpec, news)) is None
