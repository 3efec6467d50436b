"""Benchmark: dataset validation and fingerprint throughput and peak memory.

Generates a JSONL training file (1 GB by default; ``--mb 50`` for a quick run) in a temporary
directory, then runs each phase in its own subprocess so that each peak RSS is its own:

- parse-orjson, parse-msgspec: read every line and parse it with orjson or msgspec (the two
  parsers the Python side of validation uses), nothing else; the faster is the baseline
- validate:    gemini_tuning.datasets.validate_file (all rules, stats, sha256, duplicates), with
  the compiled scanner (provider/scan) when it is installed
- validate-py: the same with the scanner turned off (GEMINI_TUNING_NATIVE=0): the pure-Python path
- fingerprint: gemini_tuning.datasets.fingerprint_file (sha256 + example count)

Imports happen before each phase's clock starts. Prints MB/s, peak RSS, each phase's
throughput as a fraction of the baseline's, the cores it kept busy (its CPU seconds per wall
second: above 1 when hashing runs on a second core beside the scan), and validate's throughput
as a fraction of the fingerprint pass's.
Targets: validate >= 0.5 x baseline throughput; peak RSS < 150 MB. Figures are printed, never
asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

MB = 1_000_000
WORDS = [
    "the",
    "normans",
    "were",
    "people",
    "who",
    "in",
    "10th",
    "and",
    "11th",
    "centuries",
    "gave",
    "their",
    "name",
    "to",
    "normandy",
    "region",
    "france",
    "they",
    "descended",
    "from",
    "norse",
    "raiders",
    "pirates",
    "denmark",
    "iceland",
    "norway",
    "under",
    "leader",
    "rollo",
    "agreed",
    "swear",
    "fealty",
    "king",
    "west",
    "francia",
    "through",
    "generations",
    "assimilation",
    "mixing",
    "with",
    "native",
    "frankish",
    "roman",
    "gaulish",
    "populations",
    "descendants",
    "would",
    "gradually",
    "merge",
    "carolingian",
    "based",
    "cultures",
    "distinct",
    "cultural",
    "ethnic",
    "identity",
    "emerged",
    "initially",
    "first",
    "half",
    "century",
    "continued",
]


def _paragraphs(count: int, rng: random.Random) -> list[str]:
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(120, 220))) for _ in range(count)]


def generate(path: Path, megabytes: int, seed: int = 0) -> int:
    """Write about ``megabytes`` MB of distinct single-turn examples; the number written."""
    import orjson

    rng = random.Random(seed)
    contexts = _paragraphs(256, rng)
    target = megabytes * MB
    written = count = 0
    with path.open("wb", buffering=1 << 20) as out:
        while written < target:
            context = contexts[count % len(contexts)]
            question = f"Question {count}: who was {rng.choice(WORDS)} {rng.choice(WORDS)}?"
            example = {
                "systemInstruction": {"parts": [{"text": "Answer from the context only."}]},
                "contents": [
                    {"role": "user", "parts": [{"text": f"Context: {context}\n\n{question}"}]},
                    {"role": "model", "parts": [{"text": f"{rng.choice(WORDS)} {count}"}]},
                ],
            }
            line = orjson.dumps(example) + b"\n"
            out.write(line)
            written += len(line)
            count += 1
    return count


# --- phases (each runs in a fresh subprocess; imports are done before the clock starts) -------

Phase = Callable[[], dict[str, int]]


def _parse_only(path: Path, decode: Callable[[bytes], object]) -> Phase:
    def run() -> dict[str, int]:
        lines = 0
        with path.open("rb") as handle:
            for line in handle:
                decode(line)
                lines += 1
        return {"lines": lines}

    return run


def phase_parse_orjson(path: Path) -> Phase:
    import orjson

    return _parse_only(path, orjson.loads)


def phase_parse_msgspec(path: Path) -> Phase:
    import msgspec

    return _parse_only(path, msgspec.json.decode)


def phase_validate(path: Path) -> Phase:
    from gemini_tuning.catalog import lookup
    from gemini_tuning.datasets import validate_file

    model = lookup("gemini-2.5-flash")

    def run() -> dict[str, int]:
        report = validate_file(path, model=model)
        return {
            "examples": report.stats.examples,
            "errors": report.error_count,
            "warnings": report.warning_count,
        }

    return run


def phase_validate_python(path: Path) -> Phase:
    from gemini_tuning.datasets._native import NATIVE_ENV

    os.environ[NATIVE_ENV] = "0"
    return phase_validate(path)


def phase_fingerprint(path: Path) -> Phase:
    from gemini_tuning.datasets import fingerprint_file

    return lambda: {"examples": fingerprint_file(path).examples}


BASELINES = {"parse-orjson": phase_parse_orjson, "parse-msgspec": phase_parse_msgspec}
PHASES = BASELINES | {
    "validate": phase_validate,
    "validate-py": phase_validate_python,
    "fingerprint": phase_fingerprint,
}


def run_phase_here(name: str, path: Path) -> None:
    run = PHASES[name](path)
    before = resource.getrusage(resource.RUSAGE_SELF)
    cpu_before = before.ru_utime + before.ru_stime
    start = time.perf_counter()
    result = run()
    seconds = time.perf_counter() - start
    usage = resource.getrusage(resource.RUSAGE_SELF)
    peak_kib = usage.ru_maxrss  # KiB on Linux
    cpu = usage.ru_utime + usage.ru_stime - cpu_before
    print(
        json.dumps(
            result | {"seconds": seconds, "peak_rss_mb": peak_kib * 1024 / MB, "cpu": cpu / seconds}
        )
    )


def run_phase_in_subprocess(name: str, path: Path) -> dict[str, float]:
    completed = subprocess.run(
        [sys.executable, __file__, "--phase", name, "--path", str(path)],
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, float] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=1000, help="size of the generated file in MB")
    parser.add_argument("--phase", choices=sorted(PHASES), help=argparse.SUPPRESS)
    parser.add_argument("--path", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        run_phase_here(args.phase, args.path)
        return 0
    with tempfile.TemporaryDirectory(prefix="bench-datasets-") as scratch:
        path = Path(scratch) / "train.jsonl"
        started = time.perf_counter()
        examples = generate(path, args.mb)
        size = path.stat().st_size
        print(
            f"generated {size / MB:,.0f} MB, {examples:,} examples in "
            f"{time.perf_counter() - started:.1f} s"
        )
        results = {name: run_phase_in_subprocess(name, path) for name in PHASES}
    _print_table(results, size)
    return 0


def _print_table(results: dict[str, dict[str, float]], size: int) -> None:
    from gemini_tuning.datasets._native import native_available

    fastest = min(BASELINES, key=lambda name: results[name]["seconds"])
    baseline = size / MB / results[fastest]["seconds"]
    print(
        f"{'phase':<15}{'seconds':>9}{'MB/s':>9}{'peak RSS MB':>13}{'x baseline':>12}"
        f"{'cores busy':>12}"
    )
    for name, result in results.items():
        rate = size / MB / result["seconds"]
        print(
            f"{name:<15}{result['seconds']:>9.2f}{rate:>9.1f}{result['peak_rss_mb']:>13.1f}"
            f"{rate / baseline:>12.2f}{result['cpu']:>12.2f}"
        )
    validate = results["validate"]
    ratio = size / MB / validate["seconds"] / baseline
    print(
        f"validate{'' if native_available() else ' (pure Python: gemini_tuning_scan is not built)'}"
        f": {ratio:.2f} x baseline ({fastest}) throughput (target >= 0.50), peak RSS "
        f"{validate['peak_rss_mb']:.0f} MB (target < 150); "
        f"{int(validate['examples']):,} examples, {int(validate['errors'])} errors, "
        f"{int(validate['warnings'])} warnings"
    )
    print(
        f"validate: {results['fingerprint']['seconds'] / validate['seconds']:.2f} x the "
        f"fingerprint-only pass (read + SHA-256; target, issue 13: >= 0.80), "
        f"{validate['cpu']:.2f} cores busy (CPU seconds per second)"
    )


if __name__ == "__main__":
    sys.exit(main())
