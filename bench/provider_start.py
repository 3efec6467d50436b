"""Start time of the dynamic-provider process: what it costs before it answers its first check.

Each phase runs in a fresh Python process (the interpreter's own start is not counted):
- **engine floor**: what `python -m pulumi.dynamic` imports before it serves a request (dill,
  grpc, pulumi.runtime, pulumi.dynamic): paid by any dynamic provider, the Probe's too;
- **+ first check**: the floor, then what a TuningJob's first request needs: the resource module
  (unpickled by reference), `configure`, and one `check` of a small local dataset (fingerprint
  cache off, so it validates the file);
- **+ all of aiplatform_v1**: the floor, then `import google.cloud.aiplatform_v1` (every service
  and message type of Vertex AI), which the backend used to pay at its first create/read/delete;
- **+ the 6 clients used**: what the backend imports in a provider process
  (backends/_aiplatform.py: only the six services it calls, turned on by the provider
  processes' patches, gemini_tuning/_process.py);
- **+ the 6 clients elsewhere**: what building the six clients costs in any other process
  (a program, the CLI): the whole package, no module left half-imported.
Figures are printed as the added time over the floor, never asserted.

    .venv/bin/python bench/provider_start.py [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

FLOOR = "import dill, grpc, pulumi.runtime, pulumi.dynamic"
FIRST_CHECK = """
from gemini_tuning.resources.tuning_job import TuningJobProvider
config = {"gemini-tuning:apiEndpoint": "http://127.0.0.1:9", "gemini-tuning:project": "p",
          "gemini-tuning:datasetBucket": "b"}
class Request:
    class config:
        get = staticmethod(config.get)
provider = TuningJobProvider()
provider.configure(Request)
news = {"resource_name": "qa", "base_model": "gemini-2.5-flash", "training_dataset": DATA}
assert not provider.check({}, news).failures
"""
VERTEX = "from google.cloud import aiplatform_v1"
VERTEX_LAZY = (
    "from gemini_tuning.backends import _aiplatform; _aiplatform.import_services_lazily(); "
    "_aiplatform.client_classes()"
)
VERTEX_ELSEWHERE = "from gemini_tuning.backends import _aiplatform; _aiplatform.client_classes()"

PHASES = {
    "engine floor": "",
    "+ first check": FIRST_CHECK,
    "+ all of aiplatform_v1": VERTEX,
    "+ the 6 clients used": VERTEX_LAZY,
    "+ the 6 clients elsewhere": VERTEX_ELSEWHERE,
}


def _timed(code: str, data: Path) -> dict[str, float]:
    script = f"""
import json, time
started = time.perf_counter()
{FLOOR}
floor = time.perf_counter()
DATA = {str(data)!r}
{code}
done = time.perf_counter()
print(json.dumps({{"floor": floor - started, "added": done - floor}}))
"""
    env = {**os.environ, "GEMINI_TUNING_FINGERPRINT_CACHE": "off"}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True
    )
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _dataset(directory: Path) -> Path:
    path = directory / "train.jsonl"
    line = {
        "contents": [
            {"role": "user", "parts": [{"text": "What is 1 + 1?"}]},
            {"role": "model", "parts": [{"text": "2"}]},
        ]
    }
    path.write_text("\n".join(json.dumps(line).replace("1 + 1", f"{i} + 1") for i in range(100)))
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    timings: dict[str, list[dict[str, float]]] = {phase: [] for phase in PHASES}
    with tempfile.TemporaryDirectory(prefix="gt-bench-start-") as tmp:
        data = _dataset(Path(tmp))
        for _ in range(args.runs):  # interleaved, so drift on a shared machine hits all
            for phase, code in PHASES.items():
                timings[phase].append(_timed(code, data))
    floor = statistics.median(t["floor"] for runs in timings.values() for t in runs)
    load = " ".join(f"{value:.2f}" for value in os.getloadavg())
    cores = os.cpu_count()
    print(f"provider process start, median of {args.runs} runs ({cores} cores, load {load})")
    print(f"  engine floor (dill, grpc, pulumi.dynamic): {floor:.3f} s")
    for phase in list(PHASES)[1:]:
        added = statistics.median(t["added"] for t in timings[phase])
        print(f"  {phase:<27} +{added:.3f} s over the floor ({(floor + added) / floor:.2f}x)")
    print("  target (issue 13, item 3): + first check <= 0.3 s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
