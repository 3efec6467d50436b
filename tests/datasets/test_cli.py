"""`gemini-tuning dataset ...`: exit codes, --json output, readable output."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from tests.support.datasets import CORPUS, SQUAD, run_cli


@pytest.fixture
def valid(tmp_path: Path) -> Path:
    path = tmp_path / "train.jsonl"
    path.write_text(
        "".join(
            f'{{"contents": [{{"role": "user", "parts": [{{"text": "question {i}"}}]}}, '
            f'{{"role": "model", "parts": [{{"text": "answer {i}"}}]}}]}}\n'
            for i in range(120)
        )
    )
    return path


def test_validate_ok_prints_a_verdict_and_exits_0(valid: Path) -> None:
    code, out = run_cli("dataset", "validate", str(valid))
    assert code == 0
    assert out.strip().startswith("OK:")
    assert "120 valid examples for gemini-2.5-flash" in out


def test_validate_invalid_exits_1_with_file_line_field(valid: Path) -> None:
    code, out = run_cli("dataset", "validate", str(CORPUS / "roles_not_alternating.jsonl"))
    assert code == 1
    assert f"error: {CORPUS / 'roles_not_alternating.jsonl'}:2: contents[1].role: " in out


def test_validate_json_output(valid: Path) -> None:
    code, out = run_cli("dataset", "validate", str(valid), "--json")
    document = json.loads(out)
    assert code == 0
    assert document["ok"] is True
    assert document["stats"]["examples"] == 120
    assert document["stats"]["sha256"] == hashlib.sha256(valid.read_bytes()).hexdigest()


def test_usage_errors_exit_2(valid: Path) -> None:
    assert run_cli("dataset", "validate", str(valid), "--base-model", "gpt-4")[0] == 2
    assert run_cli("dataset", "validate")[0] == 2
    assert run_cli("dataset", "estimate", str(valid))[0] == 2  # vertex needs --epochs
    assert (
        run_cli("dataset", "prepare", str(valid), "--out", "x", "--validation-fraction", "0.2")[0]
        == 2
    )


def test_missing_file_exits_1() -> None:
    code, out = run_cli("dataset", "validate", "/no/such/file.jsonl", "--json")
    assert code == 1
    assert json.loads(out)["errors"][0]["field"] == "file"


def test_stats_table_and_json(valid: Path) -> None:
    code, out = run_cli("dataset", "stats", str(valid))
    assert code == 0
    assert "estimated tokens" in out
    assert "input tokens" in out
    code, out = run_cli("dataset", "stats", str(valid), "--json")
    assert json.loads(out)["stats"]["turns_per_example"]["max"] == 2


def test_estimate_json(valid: Path, tmp_path: Path) -> None:
    prices = tmp_path / "prices.toml"
    prices.write_text('as_of = "test"\n[vertex]\n"gemini-2.5-flash" = 2.0\n')
    code, out = run_cli(
        "dataset", "estimate", str(valid), "--epochs", "3", "--prices", str(prices), "--json"
    )
    document = json.loads(out)
    assert code == 0
    assert document["training_tokens"] == document["dataset_tokens"] * 3
    assert document["cost_usd"] == round(document["training_tokens"] * 2.0 / 1e6, 2)


def test_estimate_of_invalid_data_exits_1() -> None:
    code, _ = run_cli("dataset", "estimate", str(CORPUS / "empty_text.jsonl"), "--epochs", "1")
    assert code == 1


def test_convert_and_refusal(valid: Path, tmp_path: Path) -> None:
    out_csv = tmp_path / "pairs.csv"
    assert run_cli("dataset", "convert", str(valid), str(out_csv), "--to", "text_pairs")[0] == 0
    code, _ = run_cli("dataset", "validate", str(out_csv), "--backend", "gemini-api")
    assert code == 0
    chat = tmp_path / "chat.jsonl"
    chat.write_text(
        '{"contents": [{"role": "user", "parts": [{"text": "a"}]}, {"role": "model", '
        '"parts": [{"text": "b"}]}, {"role": "user", "parts": [{"text": "c"}]}, '
        '{"role": "model", "parts": [{"text": "d"}]}]}\n'
    )
    code, out = run_cli(
        "dataset", "convert", str(chat), str(tmp_path / "x.jsonl"), "--to", "text_pairs", "--json"
    )
    assert code == 1
    assert (json.loads(out)["line"], json.loads(out)["field"]) == (1, "contents[2]")
    assert (
        run_cli("dataset", "convert", str(valid), str(tmp_path / "x.csv"), "--to", "messages")[0]
        == 2
    )


def test_prepare_squad_is_reproducible(tmp_path: Path) -> None:
    digests = []
    for run in ("a", "b"):
        train, val = tmp_path / f"t{run}.jsonl", tmp_path / f"v{run}.jsonl"
        code, out = run_cli(
            "dataset",
            "prepare",
            str(SQUAD),
            "--squad",
            "--out",
            str(train),
            "--validation-out",
            str(val),
            "--validation-fraction",
            "0.1",
            "--seed",
            "7",
            "--json",
        )
        assert code == 0
        assert json.loads(out)["squad"]["questions"] == 1407
        digests.append(hashlib.sha256(train.read_bytes() + val.read_bytes()).hexdigest())
    assert digests[0] == digests[1]
    assert run_cli("dataset", "validate", str(tmp_path / "ta.jsonl"))[0] == 0
