"""Wall time of `pulumi preview`: 50 model definitions (``--definitions N``, repeatable) against
the engine's own floor and an empty stack, uncached and with the dataset fingerprint cache warm.

All previews run in the same run, interleaved, with the real engine and a local file backend:
- **empty**: the project with no model definitions (engine, language host, program start);
- **floor N**: a stack of 5N Probe resources (no-op dynamic resources: what the engine and the
  dynamic-provider plumbing cost by themselves for as many resources as N models declare: a
  TuningJob, a TunedModel, an Evaluation, a Release and a RunArtifacts each);
- **shaped floor N**: the same 5N no-op resources, each with as many inputs and declared
  outputs as the model resource it stands for (``model_shapes``): the Python SDK's work grows
  with every property a resource registers and resolves, so this is the floor for resources of
  this shape;
- **models N, uncached**: N definitions (each a TuningJob, TunedModel, Evaluation, Release,
  RunArtifacts), the fingerprint cache off, so the provider validates and fingerprints every
  dataset in check (every preview before the cache);
- **models N, cached**: the same stack, the cache warm (a second preview): each dataset file is
  recognised by its identity and not read; the figure printed beside it counts real reads.
The API endpoint is a closed loopback port, so a preview that tried to reach the service would
fail: check and diff make no network call. Figures are printed, never asserted.

    .venv/bin/python bench/preview.py [--definitions 50] [--runs 2] [--large] [--dataset-mb 10]

The default (50 definitions, 2 runs) takes about 2 minutes on 2 cores; ``--definitions 10
--definitions 50`` adds the small stack, ``--large`` 200 definitions.

The demo's datasets are a few KB, so reading them is not what a preview costs; `--dataset-mb`
trains every definition on one generated file of that size (each check reads it when uncached)
to show what the cache saves on real data.

Figures (before and after issue 24's one declaration per resource, and where the gap to the
floor goes): bench/README.md, "One declaration per resource (issue 24)".
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.engine import copy_project, pulumi_bin_dir  # noqa: E402

from gemini_tuning._state import local_backend_url  # noqa: E402
from gemini_tuning.datasets._cache import CACHE_ENV, RACY_MARGIN_NS  # noqa: E402
from gemini_tuning.testing import provider_hooks  # noqa: E402


def _pulumi_bin() -> Path:
    found = pulumi_bin_dir()
    if found is None:
        sys.exit("no Pulumi CLI: run `make setup`")
    return found


FLOOR_PROGRAM = """\
import pulumi
import pulumi.dynamic as dyn

from gemini_tuning.testing import Probe
from gemini_tuning.resources.probe import _PROVIDER


class Shaped(dyn.Resource, module="testing", name="Shaped"):
    \"\"\"A Probe (the same no-op provider) with as many inputs and declared outputs as asked.\"\"\"

    def __init__(self, name, inputs, outputs):
        props = {f"out_{i}": None for i in range(outputs)}
        props.update({f"in_{i}": f"{name} {i}" for i in range(inputs)})
        props.update(value=name, resource_name=name)
        super().__init__(_PROVIDER, name, props)


config = pulumi.Config("floor")
shapes = config.get_object("shapes")
for index in range(config.get_int("count") or 0):
    if shapes is None:
        Probe(f"probe-{index:03d}", value=f"value {index}")
        continue
    for kind, (inputs, outputs) in enumerate(shapes):
        Shaped(f"shaped-{index:03d}-{kind}", inputs, outputs)
"""


def model_shapes() -> list[tuple[int, int]]:
    """(inputs, declared outputs) of the five resources a model declares, as program/_tuning.tune
    passes them: a TuningJob (backend, base model, training data, labels, deletion policy,
    epochs, description), a TunedModel (backend, model, endpoint, aliases, labels, deletion
    policy), an Evaluation (backend, target, data, gate, concurrency, retries, baseline), a
    Release (store, and the record's 12 entries counted as inputs) and a RunArtifacts (model,
    version, stack, folder, bucket folder, model, endpoint, two loss curves, the evaluation)."""
    from gemini_tuning.resources import evaluation, release, tuned_model, tuning_job

    return [
        (7, len(tuning_job.OUTPUTS) + len(tuning_job.COMPUTED_INPUTS)),
        (6, len(tuned_model.OUTPUTS)),
        (7, len(evaluation.OUTPUTS) + len(evaluation.COMPUTED_INPUTS)),
        (13, len(release.OUTPUTS)),
        (10, 1),
    ]


def _project(root: Path, models: int, dataset_mb: int) -> Path:
    project = copy_project(root / "project")
    template = (project / "stacks" / "models" / "number-successor.yaml").read_text()
    if dataset_mb:
        _write_dataset(project / "stacks" / "data" / "bench-train.jsonl", dataset_mb)
        template = template.replace("number-successor-vertex.jsonl", "bench-train.jsonl")
    for index in range(models):
        name = f"bench-{index:03d}"
        (project / "stacks" / "models" / f"{name}.yaml").write_text(template)
    return project


def _write_dataset(path: Path, megabytes: int) -> None:
    """A valid `contents` training file of about ``megabytes`` MB, every example distinct."""
    with path.open("w") as handle:
        index = 0
        while handle.tell() < megabytes * 1_000_000:
            example = {
                "contents": [
                    {"role": "user", "parts": [{"text": f"What number comes after {index}?"}]},
                    {"role": "model", "parts": [{"text": f"{index + 1}"}]},
                ]
            }
            handle.write(json.dumps(example) + "\n")
            index += 1


def _floor_project(root: Path) -> Path:
    """A project whose program declares only Probes: the engine's floor."""
    floor = root / "floor"
    floor.mkdir()
    (floor / "Pulumi.yaml").write_text(
        textwrap.dedent(f"""\
            name: gt-bench-floor
            runtime:
              name: python
              options:
                virtualenv: {sys.prefix}
            """)
    )
    (floor / "__main__.py").write_text(FLOOR_PROGRAM)
    return floor


def _env(root: Path, pulumi_bin: Path) -> dict[str, str]:
    (root / "backend").mkdir()
    return {
        **os.environ,
        "PULUMI_BACKEND_URL": local_backend_url(root / "backend"),
        "PULUMI_HOME": str(root / "home"),
        "PULUMI_CONFIG_PASSPHRASE": "bench",
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
        "PATH": os.pathsep.join(
            [str(pulumi_bin), str(Path(sys.executable).parent), os.environ["PATH"]]
        ),
    }


def _pulumi(args: list[str], cwd: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(
        ["pulumi", *args, "--non-interactive", "--color", "never"],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,  # an inherited stdin cost each command 4-5 s in a background job
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"pulumi {' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return elapsed


def _stack(name: str, config: dict[str, str], cwd: Path, env: dict[str, str]) -> None:
    _pulumi(["stack", "init", name], cwd, env)
    for key, value in config.items():
        _pulumi(["config", "set", "--stack", name, key, value], cwd, env)


RESOURCES_PER_MODEL = 5  # TuningJob, TunedModel, Evaluation, Release, RunArtifacts (tune)


def _models_config(count: int) -> dict[str, str]:
    return {
        "gemini-tuning:apiEndpoint": "http://127.0.0.1:9",  # discard port: nothing answers
        "gemini-tuning:project": "bench-project",
        "gemini-tuning:datasetBucket": "bench-bucket",
        "gemini-tuning:models": json.dumps([f"bench-{i:03d}" for i in range(count)]),
    }


class Bench:
    """The stacks of one run and their timings, by label."""

    def __init__(self, root: Path, sizes: list[int], dataset_mb: int) -> None:
        self.root = root
        self.sizes = sizes
        self.project = _project(root, max(sizes), dataset_mb)
        self.floor = _floor_project(root)
        self.env = _env(root, _pulumi_bin())
        self.uncached = {**self.env, CACHE_ENV: "off"}
        self.reads = root / "reads.log"
        self.cached = {**self.env, CACHE_ENV: str(root / "fingerprints")}
        self.timings: dict[str, list[float]] = {}
        self.cached_reads: dict[int, int] = {}

    def create_stacks(self) -> None:
        _stack("empty", _models_config(0), self.project, self.env)
        for size in self.sizes:
            _stack(f"models-{size}", _models_config(size), self.project, self.env)
            _stack(
                f"floor-{size}",
                {"floor:count": str(RESOURCES_PER_MODEL * size)},
                self.floor,
                self.env,
            )
            shapes = json.dumps(model_shapes())
            _stack(
                f"shaped-{size}",
                {"floor:count": str(size), "floor:shapes": shapes},
                self.floor,
                self.env,
            )

    def warm_the_cache(self) -> None:
        _wait_out_the_racy_window(self.project / "stacks" / "data")
        for size in self.sizes:
            _pulumi(["preview", "--stack", f"models-{size}"], self.project, self.cached)

    def run_once(self) -> None:
        """One preview of each stack, interleaved, so drift on a shared machine hits all."""
        self._time("empty", "empty", self.project, self.env)
        for size in self.sizes:
            self._time(f"floor {size}", f"floor-{size}", self.floor, self.env)
            self._time(f"shaped floor {size}", f"shaped-{size}", self.floor, self.env)
            self._time(f"models {size} uncached", f"models-{size}", self.project, self.uncached)
            self.reads.write_text("")
            logged = {
                **self.cached,
                **provider_hooks(self.root / "hooks", dataset_read_log=self.reads),
            }
            self._time(f"models {size} cached", f"models-{size}", self.project, logged)
            read = len(self.reads.read_text().splitlines())
            self.cached_reads[size] = max(self.cached_reads.get(size, 0), read)

    def _time(self, label: str, stack: str, cwd: Path, env: dict[str, str]) -> None:
        elapsed = _pulumi(["preview", "--stack", stack], cwd, env)
        self.timings.setdefault(label, []).append(elapsed)

    def median(self, label: str) -> float:
        return statistics.median(self.timings[label])

    def report(self, runs: int) -> None:
        print(f"pulumi preview, median of {runs} runs (real engine, local file backend)")
        for label, values in self.timings.items():
            print(f"  {label:<22} {self.median(label):6.2f} s  {_runs(values)}")
        empty = self.median("empty")
        print("\nratios (target at 50: uncached and cached <= 1.25x floor, <= 2.0x empty)")
        for size in self.sizes:
            floor = self.median(f"floor {size}")
            for kind in ("uncached", "cached"):
                models = self.median(f"models {size} {kind}")
                per_model = (models - floor) / size * 1000
                print(
                    f"  {size:>3} models {kind:<8}: {models / floor:.2f}x floor, "
                    f"{models / empty:.2f}x empty; {per_model:+.0f} ms per model over the floor"
                )
            shaped = self.median(f"shaped floor {size}")
            print(
                f"  {size:>3} models: shaped floor {shaped:.2f} s ({shaped / floor:.2f}x floor); "
                f"uncached {self.median(f'models {size} uncached') / shaped:.2f}x, cached "
                f"{self.median(f'models {size} cached') / shaped:.2f}x the shaped floor"
            )
            print(
                f"  {size:>3} models cached: {self.cached_reads[size]} dataset file(s) read "
                f"(uncached: {2 * size} checks read one each); floor {floor / empty:.2f}x empty"
            )


def _wait_out_the_racy_window(data: Path) -> None:
    """Until every dataset file is older than the cache's racy margin (a fresh copy is not
    trusted before that, by design)."""
    newest = max(max(p.stat().st_mtime_ns, p.stat().st_ctime_ns) for p in data.iterdir())
    time.sleep(max(0.0, (newest + RACY_MARGIN_NS - time.time_ns()) / 1e9 + 0.05))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument(
        "--definitions",
        type=int,
        action="append",
        metavar="N",
        help="model definitions in the stack (repeatable; default 50)",
    )
    parser.add_argument("--large", action="store_true", help="also 200 definitions (slow)")
    parser.add_argument(
        "--dataset-mb",
        type=int,
        default=0,
        help="train every definition on one generated file of this size (default: the demo's)",
    )
    args = parser.parse_args()
    sizes = sorted({*(args.definitions or [50]), *([200] if args.large else [])})
    with tempfile.TemporaryDirectory(prefix="gt-bench-preview-") as tmp:
        bench = Bench(Path(tmp), sizes, args.dataset_mb)
        bench.create_stacks()
        bench.warm_the_cache()
        for _ in range(args.runs):
            bench.run_once()
    print(f"machine: {os.cpu_count()} cores, load average {_load()} at the end")
    data = f"one generated {args.dataset_mb} MB file" if args.dataset_mb else "the demo's"
    print(f"training data: {data}")
    bench.report(args.runs)
    return 0


def _load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def _runs(values: list[float]) -> str:
    return "[" + ", ".join(f"{v:.2f}" for v in values) + "]"


if __name__ == "__main__":
    sys.exit(main())
