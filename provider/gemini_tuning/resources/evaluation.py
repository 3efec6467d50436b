"""Evaluation: a held-out set run against a tuned model (and its base model). Docs: evaluation.md.

Scores are SQuAD exact match and token F1 (``gemini_tuning.datasets`` normalisation), over
generateContent answers. Calls run in a thread pool (``concurrency``, default 8) with retries, so
500 examples are not 500 round trips in series. The resource re-runs only when what it measures
changes: the target model (and its default checkpoint), the baseline model, the evaluation
set's *content* (fingerprint), the system instruction or the example limit. Changing the gate,
concurrency or retries is stored.

The provider is pickled by reference and holds no attributes (no client, no credential).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Unpack

import pulumi
import pulumi.dynamic as dyn

from gemini_tuning import backends
from gemini_tuning.resources._dataset_inputs import fingerprint_local
from gemini_tuning.resources._declared import EvaluationArgs, EvaluationAttributes
from gemini_tuning.resources._lifecycle import EVAL_RERUN_KEYS, dataset_change_reason, plan_diff
from gemini_tuning.resources._props import declared_props, with_secret_outputs
from gemini_tuning.resources._unknowns import is_unknown, with_stand_ins
from gemini_tuning.resources._wait import say
from gemini_tuning.specs import EVALUATION, EvaluationSpec, SpecError, parse

SAMPLES_KEPT = 3


# Changing these re-runs the evaluation; everything else is stored (see _lifecycle).
RERUN_KEYS = EVAL_RERUN_KEYS
COMPUTED_INPUTS = EVALUATION.computed_inputs
OUTPUTS = EVALUATION.provider_outputs
# Prompts, expected and model answers from the user's data: encrypted in state (the engine's
# additional_secret_outputs). The readable copy is the evaluation summary in the artifacts.
SECRET_OUTPUTS = EVALUATION.secret_outputs
INPUT_KEYS = EVALUATION.input_keys


@dataclass(frozen=True)
class Example:
    prompt: str
    system: str | None
    reference: str


@dataclass(frozen=True)
class Score:
    exact_match: float
    token_f1: float
    examples: int
    errors: int
    seconds: float
    samples: tuple[dict[str, str], ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "exact_match": round(self.exact_match, 4),
            "token_f1": round(self.token_f1, 4),
            "examples": self.examples,
            "errors": self.errors,
            "seconds": round(self.seconds, 2),
        }


class EvaluationProvider(dyn.ResourceProvider):
    serialize_as_secret_always = False  # holds nothing; a unit test asserts vars(self) == {}

    def configure(self, req: dyn.ConfigureRequest) -> None:
        backends.configure(req.config.get)

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> dyn.CheckResult:
        raw = {k: v for k, v in news.items() if k in EvaluationSpec.model_fields}
        stand_ins = {"target": "projects/p/locations/l/endpoints/unknown", "baseline_model": None}
        try:
            spec = parse(EvaluationSpec, with_stand_ins(raw, stand_ins))
        except SpecError as err:
            return dyn.CheckResult(news, [dyn.CheckFailure(p, r) for p, r in err.failures])
        if is_unknown(raw.get("eval_dataset")):
            return dyn.CheckResult(news, [])
        path = Path(spec.eval_dataset)
        if not path.is_file():
            reason = f"{spec.eval_dataset}: file not found (looked in {path.resolve()})"
            return dyn.CheckResult(news, [dyn.CheckFailure("eval_dataset", reason)])
        fingerprint, examples = fingerprint_local(spec.eval_dataset)
        computed = {"eval_dataset_fingerprint": fingerprint, "eval_dataset_examples": examples}
        return dyn.CheckResult({**news, **computed}, [])

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dyn.DiffResult:
        plan = _plan(olds, news)
        for line in plan.describe():
            say(str(news.get("resource_name")), line.replace("update: ", "re-evaluate: ", 1))
        return dyn.DiffResult(changes=bool(plan.changed), replaces=[], delete_before_replace=False)

    def create(self, props: dict[str, Any]) -> dyn.CreateResult:
        spec = parse(EvaluationSpec, _spec_inputs(props))
        outs = _run(spec, props)
        return dyn.CreateResult(f"eval-{spec.resource_name}", outs)

    def read(self, id_: str, props: dict[str, Any]) -> dyn.ReadResult:
        # A measurement has nothing to refresh: what was recorded stays the record.
        return dyn.ReadResult(id_, props, {k: props[k] for k in INPUT_KEYS if k in props})

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dyn.UpdateResult:
        spec = parse(EvaluationSpec, _spec_inputs(news))
        plan = _plan(olds, news)
        if set(plan.changed) & set(RERUN_KEYS):
            return dyn.UpdateResult(_run(spec, news))
        outs = {k: v for k, v in olds.items() if k != "__provider"}
        outs.update({k: news.get(k) for k in INPUT_KEYS})
        misses = gate_misses(outs.get("metrics"), spec.gate)
        outs.update(gate_passed=not misses, gate_misses=misses)
        return dyn.UpdateResult(outs)

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        return  # a record only: nothing to delete in the service


# One instance per process; pickled by reference into each resource's state.
_PROVIDER = EvaluationProvider()


class Evaluation(EvaluationAttributes, dyn.Resource, module="vertex", name="Evaluation"):
    """Exact match and token F1 of a tuned model (and its base model) on a held-out set."""

    def __init__(
        self,
        resource_name: str,
        opts: pulumi.ResourceOptions | None = None,
        **args: Unpack[EvaluationArgs],
    ) -> None:
        props = declared_props("Evaluation", resource_name, args, EVALUATION)
        super().__init__(_PROVIDER, resource_name, props, with_secret_outputs(opts, SECRET_OUTPUTS))


# -- the measurement -------------------------------------------------------------------------


def gate_misses(metrics: dict[str, Any] | None, gate: dict[str, float] | None) -> list[str]:
    from gemini_tuning.specs import Gate

    return Gate.model_validate(gate or {}).misses(metrics)


def load_examples(path: str | Path, limit: int | None = None) -> list[Example]:
    """(prompt, system instruction, reference answer) of each example with a final user turn
    followed by a model turn."""
    from gemini_tuning.datasets import iter_examples
    from gemini_tuning.datasets._formats import text_of

    examples: list[Example] = []
    with Path(path).open("rb") as handle:
        for _, _, example in iter_examples(handle):
            turns = example.turns
            if len(turns) < 2 or turns[-1][0] != "model" or turns[-2][0] != "user":
                continue
            system = text_of(example.system) if example.system is not None else None
            examples.append(Example(text_of(turns[-2][1]), system, text_of(turns[-1][1])))
            if limit is not None and len(examples) >= limit:
                break
    return examples


def score(
    generate: Callable[[str, str | None], str],
    examples: Sequence[Example],
    *,
    concurrency: int = 8,
    retries: int = 3,
    system_instruction: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Score:
    """Ask ``generate(prompt, system)`` for every example, ``concurrency`` at a time; a call
    that fails is retried ``retries`` times with jittered backoff, then counts as wrong."""
    from gemini_tuning.datasets import exact_match, token_f1

    started = time.monotonic()
    lock = threading.Lock()
    done = [0]

    def one(example: Example) -> tuple[str | None, Example]:
        answer: str | None = None
        for attempt in range(retries + 1):
            try:
                answer = generate(example.prompt, system_instruction or example.system)
                break
            except backends.BackendError:
                if attempt == retries:
                    break
                sleep(min(8.0, 0.25 * 2**attempt) * random.uniform(0.8, 1.2))
        with lock:
            done[0] += 1
            if progress is not None:
                progress(done[0], len(examples))
        return answer, example

    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        results = list(pool.map(one, examples))
    em = f1 = 0.0
    errors = 0
    samples: list[dict[str, str]] = []
    for answer, example in results:
        if answer is None:
            errors += 1
            continue
        hit = exact_match(answer, example.reference)
        em += hit
        f1 += token_f1(answer, example.reference)
        if not hit and len(samples) < SAMPLES_KEPT:
            samples.append(
                {"prompt": _clip(example.prompt), "expected": example.reference, "got": answer}
            )
    count = len(results)
    return Score(
        exact_match=em / count if count else 0.0,
        token_f1=f1 / count if count else 0.0,
        examples=count,
        errors=errors,
        seconds=time.monotonic() - started,
        samples=tuple(samples),
    )


def _run(spec: EvaluationSpec, props: dict[str, Any]) -> dict[str, Any]:
    backend = backends.backend_for(spec.backend)
    examples = load_examples(spec.eval_dataset, spec.max_examples)
    if not examples:
        raise RuntimeError(f"{spec.eval_dataset}: no example with a user turn and a model answer")
    resource = spec.resource_name

    def measure(target: str, role: str) -> Score:
        say(resource, f"evaluating {role} {target} on {len(examples)} examples")
        step = max(1, len(examples) // 4)

        def progress(done: int, total: int) -> None:
            if done % step == 0 or done == total:
                say(resource, f"{role}: {done}/{total} answered")

        result = score(
            lambda prompt, system: backend.generate(target, prompt, system),
            examples,
            concurrency=spec.concurrency,
            retries=spec.retries,
            system_instruction=spec.system_instruction,
            progress=progress,
        )
        if result.errors == result.examples:
            raise RuntimeError(
                f"every generateContent call to {target} failed ({result.errors} examples, "
                f"{spec.retries} retries each); is the model deployed?"
            )
        say(
            resource,
            f"{role}: exact_match {result.exact_match:.3f}, token_f1 {result.token_f1:.3f} "
            f"({result.examples} examples, {result.errors} errors, {result.seconds:.1f}s)",
        )
        return result

    tuned = measure(spec.target, "tuned")
    baseline = measure(spec.baseline_model, "baseline") if spec.baseline_model else None
    metrics = tuned.as_dict()
    misses = gate_misses(metrics, spec.gate)
    if spec.gate:
        say(resource, "gate met" if not misses else "gate missed: " + "; ".join(misses))
    outs = {k: props.get(k) for k in INPUT_KEYS}
    outs.update(
        metrics=metrics,
        baseline=baseline.as_dict() if baseline else None,
        gate_passed=not misses,
        gate_misses=misses,
        samples=list(tuned.samples),
        evaluated_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    return outs


def _plan(olds: dict[str, Any], news: dict[str, Any]) -> Any:
    reasons = {"eval_dataset_fingerprint": dataset_change_reason("eval", olds, news)}
    return plan_diff(
        EvaluationSpec,
        olds,
        news,
        replace_keys=(),
        update_keys=RERUN_KEYS,
        extra_reasons=reasons,
    )


def _spec_inputs(props: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in props.items() if k in EvaluationSpec.model_fields}


def _clip(text: str, limit: int = 160) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
