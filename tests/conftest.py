"""Shared fixtures. Engine tests need the Pulumi CLI that `make setup` builds; without it they
skip, unless GT_REQUIRE_ENGINE=1 (CI), where a missing engine is a failure."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gemini_tuning._process import share_one_status_proto
from tests.support.engine import pulumi_bin_dir

REPO = Path(__file__).resolve().parents[1]

# A test run loads both the SDK's provider server (the plugin's tests) and the Google clients, as
# the plugin does: the same process patch as the plugin's main() (gemini_tuning/_process.py).
share_one_status_proto()


@pytest.fixture(scope="session")
def pulumi_bin() -> Path:
    found = pulumi_bin_dir()
    if found is None:
        message = "the Pulumi CLI is missing: run `make setup` (it builds one)"
        if os.environ.get("GT_REQUIRE_ENGINE") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return found


@pytest.fixture(autouse=True, scope="session")
def _fingerprint_cache_outside_the_checkout(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Checks made by tests keep their dataset fingerprint cache in a temporary directory, not
    in the checkout's .state/ (engine tests' providers inherit it through the environment)."""
    from gemini_tuning.datasets._cache import CACHE_ENV

    os.environ.setdefault(CACHE_ENV, str(tmp_path_factory.mktemp("fingerprints")))
