"""Every file in corpus/ holds exactly one fault; each must fail with that fault's line and field,
from the library and from the CLI's --json output."""

from __future__ import annotations

import json

import pytest

from gemini_tuning.datasets import validate_file
from tests.support.datasets import (
    CASES,
    CORPUS,
    corpus_model,
    run_cli,
)


def test_the_corpus_has_at_least_30_faults_and_every_file_is_in_the_table() -> None:
    files = {p.name for p in CORPUS.iterdir()}
    assert files == set(CASES)
    assert len(files) >= 30


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_malformed_file_fails_with_its_line_and_field(name: str) -> None:
    model_spec, role, line, field = CASES[name]
    report = validate_file(CORPUS / name, model=corpus_model(model_spec), role=role)  # type: ignore[arg-type]
    assert not report.ok
    found = [(issue.line, issue.field) for issue in report.errors]
    assert found == [(line, field)], [str(issue) for issue in report.errors]
    issue = report.errors[0]
    assert issue.source == str(CORPUS / name)
    expected_prefix = f"{CORPUS / name}:{line}: {field}: " if line else f"{CORPUS / name}: file: "
    assert str(issue).startswith(expected_prefix)


@pytest.mark.parametrize("name", sorted(CASES)[::4])
def test_the_cli_reports_the_same_line_and_field(name: str) -> None:
    (model_id, backend), role, line, field = CASES[name]
    code, out = run_cli(
        "dataset",
        "validate",
        str(CORPUS / name),
        "--base-model",
        model_id,
        "--backend",
        backend,
        "--role",
        role,
        "--json",
    )
    assert code == 1
    errors = json.loads(out)["errors"]
    assert [(e["line"], e["field"]) for e in errors] == [(line, field)]
