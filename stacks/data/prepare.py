"""Regenerate the example datasets in this folder (deterministic: same bytes on every run).

    .venv/bin/python stacks/data/prepare.py          # from the repository root

SQuAD question answering, from squad/squad-v2.0-dev-5-articles.json beside this file (5 articles,
SQuAD 2.0 dev, CC BY-SA 4.0; squad/README.md has the attribution), with the datasets package
(``squad_examples`` + ``prepare_lines``):

- unanswerable questions are skipped (as the SQuAD blog tunes on answerable spans);
- the evaluation set is a whole *held-out article* (the last one, Victoria (Australia)): its
  contexts never appear in training, so the score measures reading, not recall of a paragraph;
- the first four articles are de-duplicated and split with a seeded draw (seed 6, 10 % to
  validation, at most 64): squad-qa-train.jsonl / squad-qa-validation.jsonl.

Number successor (seed 001, the Gemini API tuning tutorial's 15 examples), written in Vertex
``contents`` format for the Vertex backend: number-successor-vertex.jsonl. Its evaluation set is
the same file (number-successor-vertex-eval.jsonl): a regression check that the tuned endpoint
answers what it was taught; the emulator cannot generalise arithmetic, so a held-out set would
only measure the simulation.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import orjson

from gemini_tuning.datasets import PrepareOptions, PrepareResult, prepare_lines, squad_examples

HERE = Path(__file__).resolve().parent
SQUAD = HERE / "squad" / "squad-v2.0-dev-5-articles.json"  # vendored: see squad/README.md
EVAL_ARTICLES = 1  # the last N articles are held out for evaluation
SEED = 6

NUMBER_SUCCESSOR = [
    ("1", "2"), ("3", "4"), ("-3", "-2"), ("twenty two", "twenty three"),
    ("two hundred", "two hundred one"), ("ninety nine", "one hundred"), ("8", "9"),
    ("-98", "-97"), ("1,000", "1,001"), ("10,100,000", "10,100,001"), ("thirteen", "fourteen"),
    ("eighty", "eighty one"), ("one", "two"), ("three", "four"), ("seven", "eight"),
]  # fmt: skip


def _lines(examples: list[dict[str, object]]) -> list[bytes]:
    return [orjson.dumps(example) + b"\n" for example in examples]


def prepare_squad(source: Path = SQUAD, out: Path = HERE) -> dict[str, int]:
    squad = json.loads(source.read_text(encoding="utf-8"))
    articles = squad["data"]
    tuning = {"data": articles[:-EVAL_ARTICLES]}
    held_out = {"data": articles[-EVAL_ARTICLES:]}
    options = PrepareOptions(dedup="exact", validation_fraction=0.1, seed=SEED, max_validation=64)
    result = PrepareResult()
    with (
        (out / "squad-qa-train.jsonl").open("wb") as train,
        (out / "squad-qa-validation.jsonl").open("wb") as validation,
    ):
        for split, line in prepare_lines(
            _lines(list(squad_examples(tuning))), options, result=result
        ):
            (validation if split == "validation" else train).write(line)
    evaluation = PrepareResult()
    with (out / "squad-qa-eval.jsonl").open("wb") as handle:
        for _, line in prepare_lines(
            _lines(list(squad_examples(held_out))), PrepareOptions(dedup="exact"), result=evaluation
        ):
            handle.write(line)
    return {
        "training": result.training,
        "validation": result.validation,
        "evaluation": evaluation.training,
    }


def prepare_number_successor(out: Path = HERE) -> int:
    lines = _lines(
        [
            {
                "contents": [
                    {"role": "user", "parts": [{"text": prompt}]},
                    {"role": "model", "parts": [{"text": answer}]},
                ]
            }
            for prompt, answer in NUMBER_SUCCESSOR
        ]
    )
    for name in ("number-successor-vertex.jsonl", "number-successor-vertex-eval.jsonl"):
        (out / name).write_bytes(b"".join(lines))
    return len(lines)


def main() -> int:
    counts = prepare_squad()
    counts["number-successor"] = prepare_number_successor()
    print(json.dumps(counts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
