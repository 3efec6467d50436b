"""The real engine runs our dynamic resources: up, preview (no changes), refresh, destroy,
with an inline program and with the project directory (language host + exec script)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pulumi
import pytest

from tests.support.engine import Run, inline_stack, project_stack, resources_of

pytestmark = pytest.mark.engine

MAX_PROVIDER_CHARS = 200


def _probe_program() -> None:
    from gemini_tuning.testing import Probe

    probe = Probe("inline-probe", value="hello")
    pulumi.export("echo", probe.echo)
    pulumi.export("digest", probe.digest)


def _assert_small_clean_provider(resources: list[dict]) -> None:
    assert resources, "no Probe resource in the exported state"
    for resource in resources:
        serialized = resource["inputs"]["__provider"]
        assert isinstance(serialized, str), (
            "provider should be stored in plain text (holds nothing)"
        )
        assert len(serialized) < MAX_PROVIDER_CHARS
        decoded = base64.b64decode(serialized)
        assert b"gemini_tuning.resources.probe" in decoded
        for secret_marker in (b"token", b"credential", b"api_key", b"passphrase"):
            assert secret_marker not in decoded.lower()


def test_inline_program_lifecycle(tmp_path: Path, pulumi_bin: Path) -> None:
    with inline_stack(tmp_path, pulumi_bin, _probe_program) as stack:
        run = Run()
        up = stack.up(**run.kwargs())
        assert up.summary.result == "succeeded"
        assert up.outputs["echo"].value == "hello"
        assert len(up.outputs["digest"].value) == 16
        assert up.summary.resource_changes == {"create": 2}  # the stack and the probe
        assert "inline-probe: created with value 'hello'" in run.text

        stack.preview(expect_no_changes=True, color="never")
        refreshed = stack.refresh(color="never")
        assert refreshed.summary.result == "succeeded"
        stack.preview(expect_no_changes=True, color="never")

        _assert_small_clean_provider(resources_of(stack, "testing:Probe"))
        state_text = json.dumps(stack.export_stack().deployment)
        assert "engine-tests" not in state_text  # the passphrase never lands in state

        down = stack.destroy(color="never")
        assert down.summary.resource_changes == {"delete": 2}
        assert resources_of(stack, "testing:Probe") == []


def test_project_directory_lifecycle(tmp_path: Path, pulumi_bin: Path) -> None:
    """`pulumi up` of the real project: the language host runs stacks/__main__.py."""
    with project_stack(
        tmp_path, pulumi_bin, config={"gemini-tuning:probes": '["alpha", "beta"]'}
    ) as stack:
        stack.set_config(
            "gemini-tuning:probes", __import__("pulumi").automation.ConfigValue('["alpha","beta"]')
        )
        up = stack.up(color="never")
        assert up.summary.result == "succeeded"
        assert up.outputs["alpha"].value["echo"] == "it:alpha"
        assert up.outputs["beta"].value["echo"] == "it:beta"

        stack.preview(expect_no_changes=True, color="never")
        stack.refresh(color="never")
        stack.preview(expect_no_changes=True, color="never")
        _assert_small_clean_provider(resources_of(stack, "testing:Probe"))

        down = stack.destroy(color="never")
        assert down.summary.resource_changes == {"delete": 3}
