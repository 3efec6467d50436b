"""Endpoint safety and defaults (backends/_settings.py), before any credential is fetched."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gemini_tuning.backends import SettingsError
from gemini_tuning.backends._settings import resolve


@pytest.fixture(autouse=True)
def no_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in (
        "GEMINI_TUNING_PROJECT",
        "GOOGLE_CLOUD_PROJECT",
        "GEMINI_TUNING_API_ENDPOINT",
        "GEMINI_TUNING_LOCATION",
        "STORAGE_EMULATOR_HOST",
        "GEMINI_TUNING_GEMINI_API_ENDPOINT",
    ):
        monkeypatch.delenv(key, raising=False)

    def no_credentials(*_args: Any, **_kwargs: Any) -> Any:
        raise AssertionError("credentials were fetched")

    monkeypatch.setattr("google.auth.default", no_credentials)


def _config(**values: str) -> dict[str, str]:
    return {f"gemini-tuning:{k}": v for k, v in values.items()}


def test_a_project_without_an_endpoint_gets_the_regional_vertex_endpoint() -> None:
    settings = resolve(_config(project="my-project", location="europe-west4"))
    assert settings.api_endpoint == "https://europe-west4-aiplatform.googleapis.com"
    assert not settings.local


@pytest.mark.parametrize(
    ("key", "url"),
    [
        ("apiEndpoint", "http://aiplatform.example.com"),
        ("apiEndpoint", "http://10.0.0.8:8080"),
        ("storageEndpoint", "http://storage.example.com"),
        ("geminiApiEndpoint", "http://192.168.1.2"),
    ],
)
def test_plain_http_off_loopback_is_refused(key: str, url: str) -> None:
    with pytest.raises(SettingsError, match="plain http:// to a host that is not loopback"):
        resolve(_config(project="p", **{key: url}))


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8080", "http://127.0.0.2:1", "http://localhost:9", "http://[::1]:9"]
)
def test_plain_http_on_loopback_is_the_emulator(url: str) -> None:
    settings = resolve(_config(apiEndpoint=url))
    assert settings.local
    assert settings.api_endpoint == url


def _emulator_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **urls: str) -> None:
    (tmp_path / "emulator.json").write_text(json.dumps({"pid": 1, **urls}))
    monkeypatch.setenv("GEMINI_TUNING_EMULATOR_HOME", str(tmp_path))


@pytest.mark.parametrize(
    "urls",
    [
        {"url": "https://evil.example.com", "gcs_host": "http://127.0.0.1:2"},
        {"url": "http://127.0.0.1:1", "gcs_host": "http://storage.example.com"},
    ],
)
def test_an_emulator_file_naming_a_foreign_host_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, urls: dict[str, str]
) -> None:
    _emulator_home(tmp_path, monkeypatch, **urls)
    with pytest.raises(SettingsError, match="not on loopback"):
        resolve(_config(apiEndpoint="emulator"))


def test_the_emulator_file_on_loopback_is_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _emulator_home(tmp_path, monkeypatch, url="http://127.0.0.1:5", gcs_host="http://127.0.0.1:6")
    settings = resolve(_config(apiEndpoint="emulator"))
    assert (settings.api_endpoint, settings.storage_endpoint) == (
        "http://127.0.0.1:5",
        "http://127.0.0.1:6",
    )


def test_an_emulator_stack_without_a_bucket_uses_the_one_the_emulator_created(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GEMINI_TUNING_DATASET_BUCKET", raising=False)
    _emulator_home(tmp_path, monkeypatch, url="http://127.0.0.1:5", bucket="gemini-tuning-dev")
    assert resolve(_config(apiEndpoint="emulator")).dataset_bucket == "gemini-tuning-dev"
    chosen = resolve(_config(apiEndpoint="emulator", datasetBucket="mine"))
    assert chosen.dataset_bucket == "mine"
    # Only the emulator's own file is read for it: an explicit endpoint has no default bucket.
    assert resolve(_config(apiEndpoint="http://127.0.0.1:5")).dataset_bucket is None


def test_no_project_and_no_endpoint_is_the_emulator(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _emulator_home(tmp_path, monkeypatch, url="http://127.0.0.1:5")
    assert resolve({}).api_endpoint == "http://127.0.0.1:5"


def test_timeouts_and_the_job_bound_are_config_keys() -> None:
    settings = resolve(
        _config(
            project="p",
            requestTimeoutSeconds="5",
            operationTimeoutSeconds="30",
            maxConcurrentJobs="4",
        )
    )
    assert (
        settings.request_timeout_seconds,
        settings.operation_timeout_seconds,
        settings.max_concurrent_jobs,
    ) == (5.0, 30.0, 4)
    for bad in ({"requestTimeoutSeconds": "0"}, {"maxConcurrentJobs": "1.5"}):
        with pytest.raises(SettingsError):
            resolve(_config(project="p", **bad))
