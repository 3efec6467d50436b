"""Model definitions (schema, errors naming file/line/field), gates, promotion checks, the
Evaluation's scoring loop and diff, and the report table (issue 6). No engine, no network."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from pulumi.dynamic.dynamic import serialize_provider

from gemini_tuning import backends
from gemini_tuning.cli import _report
from gemini_tuning.definitions import (
    SCHEMA_FILE,
    DefinitionError,
    Gate,
    load_definition,
    load_definitions,
    schema_text,
)
from gemini_tuning.resources.evaluation import (
    EvaluationProvider,
    Example,
    gate_misses,
    load_examples,
    score,
)

REPO = Path(__file__).resolve().parents[2]
STACKS = REPO / "stacks"
MODELS = STACKS / "models"


def test_committed_schema_is_current() -> None:
    committed = (STACKS / "schema" / SCHEMA_FILE).read_text(encoding="utf-8")
    assert committed == schema_text(), "stale: run `python -m gemini_tuning.definitions`"


def test_every_example_definition_references_the_schema_and_loads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(STACKS)  # the program and provider run in stacks/
    definitions = load_definitions(MODELS)
    assert set(definitions) == {"squad-qa", "number-successor"}
    for name, definition in definitions.items():
        text = (MODELS / f"{name}.yaml").read_text()
        assert text.startswith(f"# yaml-language-server: $schema=../schema/{SCHEMA_FILE}")
        assert definition.evaluation is not None
        assert Path(definition.datasets.training).is_file()
        assert Path(definition.evaluation.dataset).is_file()
    assert definitions["squad-qa"].datasets.training == "data/squad-qa-train.jsonl"


def _write(tmp_path: Path, text: str, name: str = "qa") -> Path:
    (tmp_path / "train.jsonl").write_text('{"contents": []}\n')
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    return path


GOOD = """\
version: 1
base_model: gemini-2.5-flash
datasets:
  training: train.jsonl
hyperparameters:
  epoch_count: 3
"""


def test_a_good_definition_resolves_paths_relative_to_its_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "models").mkdir()
    path = _write(tmp_path / "models", GOOD)
    monkeypatch.chdir(tmp_path)
    definition = load_definition(path)
    assert definition.name == "qa"
    assert definition.datasets.training == "models/train.jsonl"
    assert definition.hyperparameters.epoch_count == 3


@pytest.mark.parametrize(
    ("text", "line", "field", "reason"),
    [
        (GOOD.replace("epoch_count: 3", "epoch_count: 0"), 6, "hyperparameters.epoch_count", "greater than or equal to 1"),  # noqa: E501
        (GOOD.replace("epoch_count: 3", "epochs: 3"), 6, "hyperparameters.epochs", "unknown field; did you mean epoch_count?"),  # noqa: E501
        (GOOD.replace("hyperparameters:", "hyperparameter:"), 5, "hyperparameter", "unknown field; did you mean hyperparameters?"),  # noqa: E501
        (GOOD.replace("epoch_count: 3", "zzz: 3"), 6, "hyperparameters.zzz", "unknown field (this level takes: adapter_size, batch_size, epoch_count"),  # noqa: E501
        (GOOD.replace("gemini-2.5-flash", "gemini-9"), 2, "base_model", "cannot be tuned"),
        (GOOD.replace("version: 1\n", ""), None, "version", "required field is missing"),
        (GOOD.replace("train.jsonl", "missing.jsonl"), 4, "datasets.training", "file not found: missing.jsonl (relative to this file: /"),  # noqa: E501  # as written
        (GOOD + "labels:\n  Team: x\n", 7, "labels", "must start with a lowercase letter"),
        (GOOD + "evaluation:\n  dataset: train.jsonl\n  gate: {exact_match: 1.5}\n", 9, "evaluation.gate.exact_match", "less than or equal to 1"),  # noqa: E501
        (GOOD + "name: other\n", 7, "name", "must match the file name"),
        # A key written twice: YAML keeps the last silently, a reviewer reads the first.
        (GOOD + "  epoch_count: 5\n", 7, "hyperparameters.epoch_count", "written twice in one mapping (first at line 6)"),  # noqa: E501
        (GOOD + "version: 2\n", 7, "version", "written twice"),
        # The catalog's rules, at the definition's line (not from the TuningJob at preview).
        (GOOD.replace("gemini-2.5-flash", "gemini-2.5-pro") + "  adapter_size: 16\n", 7, "hyperparameters.adapter_size", "adapter size 16 is not supported for gemini-2.5-pro"),  # noqa: E501
        (GOOD + "  batch_size: 4\n", 7, "hyperparameters.batch_size", "Gemini API setting"),
        (GOOD + f"tuned_model_display_name: {'x' * 129}\n", 7, "tuned_model_display_name", "at most 128"),  # noqa: E501
    ],
)  # fmt: skip
def test_errors_name_the_file_the_line_and_the_field(
    tmp_path: Path, text: str, line: int | None, field: str, reason: str
) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(DefinitionError) as failed:
        load_definition(path)
    message = str(failed.value)
    where = f"{path}:{line}: {field}: " if line else f"{path}: {field}: "
    assert where in message, message
    assert reason in message


@pytest.mark.parametrize(
    ("model", "location", "reason"),
    [
        ("gemini-3.5-flash", "asia-east1", "does not list 'asia-east1'"),
        ("gemini-2.5-flash", "global", "no tuning on the global endpoint"),
    ],
)
def test_a_model_google_does_not_tune_in_the_stacks_location_names_the_line(
    tmp_path: Path, model: str, location: str, reason: str
) -> None:
    path = _write(tmp_path, GOOD.replace("gemini-2.5-flash", model))
    load_definition(path)  # without a location, the pair is not checked
    with pytest.raises(DefinitionError) as failed:
        load_definitions(tmp_path, ["qa"], location=location)
    assert f"{path}:2: base_model: base model {model} cannot be tuned in location" in str(
        failed.value
    )
    assert reason in str(failed.value)


@pytest.mark.parametrize("location", ["us-central1", "us", "europe-west4"])
def test_the_example_models_tune_where_the_docs_say(location: str) -> None:
    for name in ("squad-qa", "number-successor"):
        load_definition(MODELS / f"{name}.yaml", check_files=False, location=location)


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "version: 1\nbase_model: [unclosed\n")
    with pytest.raises(DefinitionError, match=r"qa\.yaml:3: yaml: "):
        load_definition(path)


def test_a_missing_definition_is_named(tmp_path: Path) -> None:
    _write(tmp_path, GOOD)
    with pytest.raises(DefinitionError, match=r"no definition nope\.yaml in .* \(found: qa\)"):
        load_definitions(tmp_path, ["nope"])


def test_gate_misses_name_the_metric_and_the_gap() -> None:
    gate = Gate(exact_match=0.6, token_f1=0.7)
    assert gate.misses({"exact_match": 0.55, "token_f1": 0.71}) == [
        "exact_match 0.55 < gate 0.60 (short by 0.05)"
    ]
    assert gate.misses({"exact_match": 0.6, "token_f1": 0.7}) == []
    assert gate.misses({"exact_match": 0.6}) == ["token_f1 was not recorded (gate 0.70)"]
    # A gap hidden by rounding is shown with more digits.
    assert Gate(token_f1=0.155).misses({"token_f1": 0.1546}) == [
        "token_f1 0.1546 < gate 0.1550 (short by 0.0004)"
    ]
    assert gate_misses({"exact_match": 0.1}, {"exact_match": 0.2}) == [
        "exact_match 0.10 < gate 0.20 (short by 0.10)"
    ]


def _entry(**overrides: Any) -> dict[str, Any]:
    entry = {
        "version": 3,
        "state": "SUCCEEDED",
        "model": "projects/1/locations/l/models/9@1",
        "endpoint": "projects/1/locations/l/endpoints/7",
        "metrics": {"exact_match": 0.55, "token_f1": 0.8, "examples": 500},
    }
    entry.update(overrides)
    return entry


# -- evaluation ------------------------------------------------------------------------------


def test_score_runs_calls_concurrently_and_uses_squad_normalisation() -> None:
    examples = [Example(f"q{i}", None, "The Answer." if i % 2 else "x y") for i in range(40)]
    in_flight = peak = 0
    lock = threading.Lock()
    # Every call waits until 8 are in flight together: calls made one after another would
    # break the barrier (a failed call, counted as an error) instead of passing it.
    together = threading.Barrier(8, timeout=30)

    def generate(prompt: str, _system: str | None) -> str:
        nonlocal in_flight, peak
        with lock:
            in_flight += 1
            peak = max(peak, in_flight)
        together.wait()
        with lock:
            in_flight -= 1
        return "answer" if int(prompt[1:]) % 2 else "x z"

    result = score(generate, examples, concurrency=8, retries=0)
    assert peak == 8  # 8 calls at once, never more
    assert result.errors == 0
    assert result.examples == 40
    assert result.exact_match == pytest.approx(0.5)  # "answer" == "The Answer." once normalised
    assert result.token_f1 == pytest.approx(0.75)  # half 1.0, half F1("x z", "x y") = 0.5
    assert len(result.samples) == 3


def test_score_retries_failed_calls_then_counts_them_as_errors() -> None:
    attempts: dict[str, int] = {}

    def generate(prompt: str, _system: str | None) -> str:
        attempts[prompt] = attempts.get(prompt, 0) + 1
        if prompt == "always" or attempts[prompt] < 3:
            raise backends.BackendError("503 unavailable")
        return "ok"

    examples = [Example("flaky", None, "ok"), Example("always", None, "ok")]
    result = score(generate, examples, concurrency=2, retries=2, sleep=lambda _s: None)
    assert attempts == {"flaky": 3, "always": 3}
    assert result.errors == 1
    assert result.exact_match == pytest.approx(0.5)


def test_load_examples_reads_prompt_system_and_reference(tmp_path: Path) -> None:
    path = tmp_path / "eval.jsonl"
    path.write_text(
        '{"systemInstruction": {"role": "system", "parts": [{"text": "Be brief."}]},'
        ' "contents": [{"role": "user", "parts": [{"text": "Q?"}]},'
        ' {"role": "model", "parts": [{"text": "A."}]}]}\n'
    )
    assert load_examples(path) == [Example("Q?", "Be brief.", "A.")]
    assert len(load_examples(STACKS / "data" / "squad-qa-eval.jsonl", limit=10)) == 10


def _props(**overrides: Any) -> dict[str, Any]:
    props = {
        "resource_name": "qa-eval",
        "backend": "vertex",
        "target": "projects/1/locations/l/endpoints/7",
        "baseline_model": "gemini-2.5-flash",
        "eval_dataset": "data/eval.jsonl",
        "eval_dataset_fingerprint": "sha256:aa",
        "eval_dataset_examples": 10,
        "gate": {"exact_match": 0.5},
        "concurrency": 8,
        "retries": 3,
    }
    props.update(overrides)
    return props


@pytest.mark.parametrize(
    ("change", "rerun"),
    [
        ({"target": "projects/1/locations/l/endpoints/8"}, True),
        ({"eval_dataset_fingerprint": "sha256:bb", "eval_dataset_examples": 12}, True),
        ({"eval_dataset": "elsewhere/eval.jsonl"}, False),  # moved, same content
        ({"gate": {"exact_match": 0.9}}, False),
        ({"concurrency": 16}, False),
        ({}, None),
    ],
)
def test_evaluation_diff_reruns_only_when_what_it_measures_changes(
    change: dict[str, Any], rerun: bool | None, capsys: pytest.CaptureFixture[str]
) -> None:
    result = EvaluationProvider().diff("id", _props(), _props(**change))
    assert result.replaces == []
    assert result.changes is (rerun is not None)
    said = capsys.readouterr().err
    assert ("re-evaluate:" in said) is bool(rerun)
    if "eval_dataset_examples" in change:
        assert "eval dataset content changed (sha256 aa.. -> bb.., 10 -> 12 examples)" in said


def test_evaluation_provider_holds_nothing() -> None:
    provider = EvaluationProvider()
    assert vars(provider) == {}
    assert len(serialize_provider(provider)) < 200


# -- report ----------------------------------------------------------------------------------


def test_report_orders_the_stacks_it_finds_from_dev_to_prod() -> None:
    found = ["prod", "sandbox", "local-staging", "dev", "cloud-dev", "staging"]
    assert _report.in_pipeline_order(found) == [
        "cloud-dev",
        "dev",
        "local-staging",
        "staging",
        "prod",
        "sandbox",
    ]


def test_report_renders_one_row_per_model_and_environment() -> None:
    outputs = {
        "dev": {"models": {"qa": {**_entry(), "aliases": ["default", "dev"], "gate": {"exact_match": 0.5}, "gate_passed": True, "baseline": {"exact_match": 0.1, "token_f1": 0.3}}}},  # noqa: E501
        "staging": {"models": {"qa": {**_entry(), "promoted_from": "o/p/dev", "aliases": ["dev", "staging"], "gate": {"exact_match": 0.5}, "gate_passed": True}}},  # noqa: E501
    }  # fmt: skip
    rows = _report.collect(["dev", "staging", "prod"], outputs.get)
    table = _report.render(rows)
    lines = table.splitlines()
    assert lines[0].split()[:4] == ["ENV", "MODEL", "VER", "STATE"]
    assert lines[2].split()[:9] == [
        "dev", "qa", "v3", "SUCCEEDED", "0.550", "0.800", "0.100", "0.300", "500",
    ]  # fmt: skip
    assert "met EM>=0.50" in lines[2]  # the gate says what it asks, not only met / MISSED
    assert "SUCCEEDED (promoted)" in lines[3]
    assert "dev,staging" in lines[3]
    assert lines[4].split()[:3] == ["prod", "-", "-"]
    assert "no such stack" in lines[4]


@pytest.mark.parametrize(
    "text",
    [
        *(p.read_text() for p in sorted((REPO / "stacks" / "models").glob("*.yaml"))),
        "version: 1\nbase_model: x\nlabels: {a: 'yes', b: 1.0, c: 2026-01-01}\nversion: 2\n",
        "datasets:\n  training: a.jsonl\n  training: b.jsonl\nlist: [1, {k: v}]\n",
    ],
)
def test_one_libyaml_parse_gives_what_the_pure_python_parser_gives(text: str) -> None:
    import yaml

    from gemini_tuning import definitions

    raw, root = definitions._parse(text)
    assert raw == yaml.safe_load(text)
    pure = yaml.compose(text, Loader=yaml.SafeLoader)
    assert definitions._key_lines(root) == definitions._key_lines(pure)
    assert definitions._duplicate_keys(root) == definitions._duplicate_keys(pure)


def test_a_file_that_does_not_parse_keeps_the_pure_python_parsers_message() -> None:
    import yaml

    from gemini_tuning import definitions

    text = "version: 1\nlabels: {a: [1, 2}\n"
    with pytest.raises(yaml.YAMLError) as pure:
        yaml.safe_load(text)
    with pytest.raises(yaml.YAMLError) as ours:
        definitions._parse(text)
    assert str(ours.value) == str(pure.value)


def test_the_schema_command_writes_checks_and_has_help(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from gemini_tuning import definitions

    assert definitions.main(["--check", str(tmp_path)]) == 1  # nothing written yet: stale
    assert definitions.main([str(tmp_path)]) == 0
    assert definitions.main(["--check", str(tmp_path)]) == 0
    with pytest.raises(SystemExit) as done:
        definitions.main(["--help"])
    assert done.value.code == 0
    assert "DIR" in capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.iterdir()) == [definitions.SCHEMA_FILE]
