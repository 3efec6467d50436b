"""The model a simulated tuning job trains: small, classic and deterministic, not Gemini.

- **Reading comprehension** (a prompt with a context and a question, SQuAD-style): a span
  scorer, a log-linear model over hashed lexical and answer-type features, in the spirit of the
  SQuAD paper's logistic-regression baseline (Rajpurkar et al. 2016): which sentence shares the
  question's words, how far a span is from them, the span's length, shape (number, year, capitals)
  crossed with the question's kind (when, who, how many, ...), the words around it. Candidates
  are the spans (up to ``MAX_SPAN`` words) of the ``SENTENCES`` sentences sharing most words with
  the question; the target is the span matching the training answer (else the best-overlapping
  one). Trained on softmax cross-entropy with AdaGrad, one step per ``BATCH_SIZE`` examples (so
  the loss it reports per step is its own); it serves the average of its weights over the steps
  so far (averaged SGD), and answers the span of highest expected token F1 among its likeliest
  (minimum-Bayes-risk decoding). ``validation_losses`` is the same loss on a validation set after
  each epoch.
- **Any other prompt**: nearest-neighbour memory of the training pairs with a learned
  temperature: p(answer | prompt) is a softmax over the training answers of ``beta`` times the
  token-set similarity of the prompt to their prompts. It answers the nearest prompt's answer; the
  loss (the answers' cross-entropy) falls as ``beta`` grows.

What changes the result: the training data (wrong answers teach wrong spans), ``epoch_count``
(passes over the data), ``learning_rate_multiplier`` (scales the SGD step) and ``adapter_size``
(capacity: the number of hashed feature weights is ``BUCKETS_PER_ADAPTER_UNIT * adapter_size``;
a smaller table shares more weights between features). The same data and settings train the same
weights, in any process: examples are shuffled by a fixed seed and iterated in a stable order,
and no float is summed in set order (Python salts string hashes per process).
"""

from __future__ import annotations

import functools
import math
import random
import re
import string
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gemini_tuning.emulator._answers import _STOP, jaccard, split_reading_prompt, words

BATCH_SIZE = 8  # the trainer's examples per step
BASE_LEARNING_RATE = 0.2  # [I] the emulator's; learning_rate_multiplier scales it
BUCKETS_PER_ADAPTER_UNIT = 4096
DEFAULT_ADAPTER = 4
MAX_SPAN = 8
SENTENCES = 3
SEED = 2016
L2 = 0.0  # weight decay; none: on the example data any decay lowered the held-out scores
BETA_START = 1.0
_SPLIT = re.compile(r"(?<=[.!?])\s+")
_EDGE = " ,.;:!?\"'()[]"
_PUNCT = str.maketrans("", "", string.punctuation)
_MONTHS = frozenset(
    [
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
    ]
)
_WH = (
    ("how many", "howmany"),
    ("how much", "howmuch"),
    ("how long", "howlong"),
    ("what year", "year"),
    ("what percentage", "percent"),
    ("when", "when"),
    ("whom", "who"),
    ("whose", "who"),
    ("who", "who"),
    ("where", "where"),
    ("why", "why"),
    ("which", "which"),
    ("how", "how"),
    ("what", "what"),
)


def _norm(text: str) -> str:
    """SQuAD normalisation (datasets/_metrics.normalize_answer), kept local: the emulator
    imports no provider module."""
    text = re.sub(r"\b(a|an|the)\b", " ", text.lower().translate(_PUNCT))
    return " ".join(text.split())


def _f1(a: str, b: str) -> float:
    return _bag_f1(_norm(a).split(), _norm(b).split())


def _kind(question: str) -> str:
    q = " ".join(words(question))
    for phrase, kind in _WH:
        if re.search(rf"\b{phrase}\b", q):
            return kind
    return "other"


def _shape(token: str) -> str:
    w = token.strip(_EDGE)
    if not w:
        return "p"
    if re.fullmatch(r"1\d{3}|20\d{2}", w.rstrip("s")):
        return "y"
    if any(c.isdigit() for c in w):
        return "d"
    if w.lower() in _MONTHS:
        return "m"
    if w[0].isupper():
        return "C"
    return "l"


@dataclass
class _Sentence:
    tokens: list[str]
    norm: list[str]  # per token: its lower-cased word ("" for punctuation only)
    shapes: list[str]
    in_q: list[bool]
    rare: list[bool]  # a question word found at most twice in the context


@dataclass
class _Reading:
    """One prompt's candidate spans, each with its feature keys and its text."""

    spans: list[str] = field(default_factory=list)
    hashes: list[list[int]] = field(default_factory=list)  # per span: its features, hashed


_FUNCTION = _STOP | frozenset(
    [
        "although",
        "but",
        "however",
        "also",
        "their",
        "there",
        "they",
        "he",
        "she",
        "his",
        "her",
        "has",
        "had",
        "have",
        "not",
        "no",
        "its",
        "it's",
        "into",
        "than",
        "then",
        "while",
        "after",
        "before",
        "during",
        "over",
        "under",
        "between",
        "about",
        "such",
        "can",
        "could",
        "would",
        "will",
        "may",
        "might",
        "one",
        "other",
        "some",
        "many",
        "most",
        "more",
        "each",
        "both",
        "all",
        "any",
        "being",
        "only",
        "so",
        "if",
        "because",
        "since",
        "until",
        "upon",
        "through",
        "against",
        "among",
        "within",
    ]
)


@functools.lru_cache(maxsize=256)
def _context(context: str) -> tuple[dict[str, int], list[tuple[list[str], list[str], list[str]]]]:
    """A context's word counts and its sentences' tokens, words and shapes (many questions
    share one context)."""
    counts: dict[str, int] = {}
    for w in words(context):
        counts[w] = counts.get(w, 0) + 1
    sentences = []
    for raw in (s for s in _SPLIT.split(context) if s.strip()):
        tokens = raw.split()
        norm = [(words(t) or [""])[0] for t in tokens]
        sentences.append((tokens, norm, [_shape(t) for t in tokens]))
    return counts, sentences


def _sentences(context: str, question: str) -> list[tuple[int, _Sentence]]:
    """The ``SENTENCES`` sentences sharing most question words, rarer words counting more."""
    qwords = set(words(question)) - _STOP
    counts, sentences = _context(context)
    out = []
    for tokens, norm, shapes in sentences:
        in_q = [w in qwords for w in norm]
        # sorted: a float sum in set order would vary with the process's string hash seed
        weight = sum(1 / counts.get(w, 1) for w in sorted(set(norm) & qwords))
        rare = [flag and counts.get(w, 0) <= 2 for w, flag in zip(norm, in_q, strict=True)]
        out.append((weight, _Sentence(tokens, norm, shapes, in_q, rare)))
    order = sorted(range(len(out)), key=lambda k: -out[k][0])  # stable: ties keep text order
    return [(min(int(out[k][0] * 2), 8), out[k][1]) for k in order[:SENTENCES]]


def candidates(prompt: str) -> _Reading | None:
    """The candidate spans of a reading prompt and their features; None for other prompts."""
    reading = split_reading_prompt(prompt)
    if reading is None:
        return None
    context, question = reading
    kind = _kind(question)
    qw = [w for w in words(question) if w not in _STOP]
    q = _Question(kind, qw[0] if qw else "")
    out = _Reading()
    for rank, (overlap, s) in enumerate(_sentences(context, question)):
        _sentence_candidates(s, rank, overlap, q, out)
    return out


@dataclass
class _Question:
    kind: str  # when, who, howmany, ... (_WH)
    head: str  # its first content word


def _sentence_candidates(
    s: _Sentence, rank: int, overlap: int, q: _Question, out: _Reading
) -> None:
    """Add one sentence's spans: features of the sentence, of a span's start (the words before
    it), of its end (the words after it) and of the span itself, hashed (_hash)."""
    n = len(s.tokens)
    anchors = [k for k, flag in enumerate(s.in_q) if flag]
    rare = [k for k, flag in enumerate(s.rare) if flag]
    common = [_hash(k) for k in (("bias",), ("rank", rank), ("overlap", overlap, rank))]
    starts: dict[int, tuple[list[int], int, int]] = {}
    ends: dict[int, tuple[list[int], int, int]] = {}
    for a in range(n):
        if not s.norm[a] or s.norm[a] in _FUNCTION or s.in_q[a]:
            continue
        for b in range(a + 1, min(n, a + MAX_SPAN) + 1):
            if b - a > 1 and s.tokens[b - 2][-1:] in ".;:":
                break  # an answer does not run over a boundary
            last = s.norm[b - 1]
            if not last or last in _FUNCTION:
                continue
            if s.in_q[b - 1] and b - a > 1 and last != q.head:
                continue  # an answer repeats the question at most in its head noun
            if a not in starts:
                starts[a] = _start(s, a, q, anchors, rare)
            if b not in ends:
                ends[b] = _end(s, b, q, anchors, rare)
            out.spans.append(" ".join(s.tokens[a:b]).strip(_EDGE))
            out.hashes.append(
                common + starts[a][0] + ends[b][0] + _span(s, a, b, rank, q, starts[a], ends[b])
            )
            if s.in_q[b - 1]:
                break


def _start(
    s: _Sentence, a: int, q: _Question, anchors: list[int], rare: list[int]
) -> tuple[list[int], int, int]:
    """The hashed features of a span starting at ``a``; its distances to the question words."""
    left = min((a - k for k in anchors if k < a), default=99)
    rare_left = min((a - k for k in rare if k < a), default=99)
    prev = s.norm[a - 1] if a > 0 else "<s>"
    keys = (
        ("left", min(left, 6)),
        ("kind_first", q.kind, s.shapes[a]),
        ("kind_prev", q.kind, prev),
        ("prev_in_q", s.in_q[a - 1] if a > 0 else False),
        ("prev", prev),
        ("starts_clause", a == 0 or s.tokens[a - 1][-1:] in ",.;:("),
        ("rare_left", min(rare_left, 8)),
        ("kind_firstword", q.kind, s.norm[a]),
    )
    return [_hash(k) for k in keys], left, rare_left


def _end(
    s: _Sentence, b: int, q: _Question, anchors: list[int], rare: list[int]
) -> tuple[list[int], int, int]:
    """The hashed features of a span ending before ``b``; its distances to the question words."""
    right = min((k - b + 1 for k in anchors if k >= b), default=99)
    rare_right = min((k - b + 1 for k in rare if k >= b), default=99)
    nxt = s.norm[b] if b < len(s.norm) else "</s>"
    keys = (
        ("head_last", s.norm[b - 1] == q.head),
        ("right", min(right, 6)),
        ("kind_last", q.kind, s.shapes[b - 1]),
        ("kind_next", q.kind, nxt),
        ("next_in_q", s.in_q[b] if b < len(s.in_q) else False),
        ("next", nxt),
        ("ends_clause", s.tokens[b - 1][-1:] in ",.;:)"),
        ("rare_right", min(rare_right, 8)),
        ("kind_lastword", q.kind, s.norm[b - 1]),
        ("head_lastword", q.head, s.norm[b - 1]),
    )
    return [_hash(k) for k in keys], right, rare_right


def _span(  # noqa: PLR0917 -- flat for speed: called once per candidate span
    s: _Sentence,
    a: int,
    b: int,
    rank: int,
    q: _Question,
    start: tuple[list[int], int, int],
    end: tuple[list[int], int, int],
) -> list[int]:
    """The hashed features of the span ``a:b`` as a whole."""
    length = b - a
    near = min(start[1], end[1])
    near_b = 1 if near <= 1 else 2 if near <= 3 else 3 if near <= 7 else 4
    shapes = "".join(sorted(set(s.shapes[a:b]) - {"p"}))
    window = sum(s.in_q[max(0, a - 3) : a]) + sum(s.in_q[b : b + 3])
    wide = sum(s.in_q[max(0, a - 8) : a]) + sum(s.in_q[b : b + 8])
    comma = any(t.endswith(",") for t in s.tokens[a : b - 1])
    seq = "".join(s.shapes[a:b])[:4]
    rare = min(start[2], end[2], 5)
    values = (rank, q.kind, q.head, min(length, 6), near_b, min(window, 4), min(wide, 6))
    signature = (*values, shapes, comma, rare, seq)
    hashed = _SPANS.get(signature)
    if hashed is None:  # many spans share their features: hash each combination once
        keys = (
            ("len", min(length, 6)),
            ("near", near_b, rank),
            ("window", min(window, 4)),
            ("wide", min(wide, 6)),
            ("kind_len", q.kind, min(length, 6)),
            ("kind_shape", q.kind, shapes),
            ("head_shape", q.head, shapes),
            ("comma_inside", comma),
            ("kind_near", q.kind, near_b),
            ("rare_near", q.kind, rare),
            ("kind_seq", q.kind, seq),
        )
        if len(_SPANS) > 200_000:  # a bound on the cache, not on correctness
            _SPANS.clear()
        hashed = _SPANS[signature] = [_hash(k) for k in keys]
    return hashed


_SPANS: dict[tuple[Any, ...], list[int]] = {}
_HASHES: dict[tuple[Any, ...], int] = {}


def _hash(key: tuple[Any, ...]) -> int:
    """A feature's stable hash (crc32: the same in every process, so stored weights still fit
    after a restart); its weight is at ``hash % buckets``."""
    h = _HASHES.get(key)
    if h is None:
        if len(_HASHES) > 1_000_000:  # a bound on the cache, not on correctness
            _HASHES.clear()
        h = _HASHES[key] = zlib.crc32(repr(key).encode())
    return h


@dataclass
class _Example:
    index: Any  # numpy int array, candidates x features: the hashed feature of each
    target: int  # the candidate taught as the answer; -1 when none is


@dataclass
class Trained:
    """What a job trained: the span weights and the memory's temperature after each epoch, and
    the loss of every step (the mean over the step's examples)."""

    buckets: int
    weights: list[dict[int, float]]  # per epoch: the non-zero weights by bucket
    betas: list[float]  # per epoch
    step_losses: list[float]

    def epoch_losses(self, steps_per_epoch: int) -> list[float]:
        out = []
        for e in range(len(self.weights)):
            chunk = self.step_losses[e * steps_per_epoch : (e + 1) * steps_per_epoch]
            out.append(round(sum(chunk) / len(chunk), 6) if chunk else 0.0)
        return out

    def as_dict(self) -> dict[str, Any]:
        return {
            "buckets": self.buckets,
            "weights": [{str(k): v for k, v in w.items()} for w in self.weights],
            "betas": self.betas,
            "step_losses": self.step_losses,
        }

    @staticmethod
    def from_dict(d: dict[str, Any]) -> Trained:
        weights = [{int(k): float(v) for k, v in w.items()} for w in d["weights"]]
        return Trained(int(d["buckets"]), weights, list(d["betas"]), list(d["step_losses"]))


def _reading_example(prompt: str, answer: str, buckets: int) -> _Example | None:
    cands = candidates(prompt)
    if cands is None:
        return None
    if not cands.spans:
        return _Example(np.zeros((0, 0), dtype=np.int64), -1)
    gold = _norm(answer)
    target = next((k for k, span in enumerate(cands.spans) if _norm(span) == gold), -1)
    if target < 0:  # the answer is no candidate: teach the span overlapping it most
        scores = [_f1(span, answer) for span in cands.spans]
        best = max(range(len(scores)), key=scores.__getitem__)
        target = best if scores[best] > 0 else -1
    index = np.array(cands.hashes, dtype=np.int64) % buckets
    return _Example(index, target)


def _softmax(scores: list[float]) -> list[float]:
    top = max(scores)
    exps = [math.exp(s - top) for s in scores]
    total = sum(exps)
    return [e / total for e in exps]


class _Memory:
    """The nearest-neighbour part: for each non-reading example, its similarity to every
    training prompt with each distinct answer (the best one per answer)."""

    def __init__(self, pairs: Sequence[tuple[str, str]], limit: int = 64) -> None:
        answers = sorted({a for _, a in pairs})
        by_answer: dict[str, list[str]] = {}
        for p, a in pairs:
            by_answer.setdefault(a, []).append(p)
        self.rows: list[tuple[list[float], int]] = []
        rng = random.Random(SEED)
        for prompt, answer in pairs:
            pool = answers
            if len(answers) > limit:
                pool = sorted({answer, *rng.sample(answers, limit - 1)})
            sims = [max(jaccard(prompt, p) for p in by_answer[other]) for other in pool]
            self.rows.append((sims, pool.index(answer)))

    @staticmethod
    def against(train: Sequence[tuple[str, str]], held: Sequence[tuple[str, str]]) -> _Memory:
        """The memory of ``train`` asked about ``held`` (prompts it never saw): an answer it
        does not know has similarity 0."""
        memory = _Memory([])
        answers = sorted({a for _, a in train})
        by_answer: dict[str, list[str]] = {}
        for p, a in train:
            by_answer.setdefault(a, []).append(p)
        for prompt, answer in held:
            pool = answers if answer in by_answer else [*answers, answer]
            sims = [
                max((jaccard(prompt, p) for p in by_answer.get(o, [])), default=0.0) for o in pool
            ]
            memory.rows.append((sims, pool.index(answer)))
        return memory

    def loss(self, n: int, beta: float) -> float:
        return self.step(n, beta)[0]

    def step(self, n: int, beta: float) -> tuple[float, float]:
        """(loss, d loss / d beta) of example ``n``."""
        sims, target = self.rows[n]
        probs = _softmax([beta * s for s in sims])
        expected = sum(p * s for p, s in zip(probs, sims, strict=True))
        return -math.log(max(probs[target], 1e-12)), expected - sims[target]


def train(
    pairs: Sequence[tuple[str, str]],
    *,
    epochs: int,
    learning_rate_multiplier: float = 1.0,
    adapter_size: int | None = None,
) -> Trained:
    """Train on ``pairs`` (prompt, answer), one step per ``BATCH_SIZE`` examples: AdaGrad on the
    span weights, the weights served being the average of every step's (averaged SGD)."""
    buckets = BUCKETS_PER_ADAPTER_UNIT * int(adapter_size or DEFAULT_ADAPTER)
    lr = BASE_LEARNING_RATE * max(float(learning_rate_multiplier), 1e-6)
    reading = [_reading_example(p, a, buckets) for p, a in pairs]
    others = [n for n, ex in enumerate(reading) if ex is None]
    memory = _Memory([pairs[n] for n in others]) if others else None
    local = {n: k for k, n in enumerate(others)}
    order = list(range(len(pairs)))
    rng = random.Random(SEED)
    w = np.zeros(buckets)
    squares = np.zeros(buckets)
    total_w = np.zeros(buckets)
    steps = 0
    beta = BETA_START
    weights: list[dict[int, float]] = []
    betas: list[float] = []
    step_losses: list[float] = []
    for _ in range(epochs):
        rng.shuffle(order)
        for start in range(0, len(order), BATCH_SIZE):
            batch = order[start : start + BATCH_SIZE]
            grad = np.zeros(buckets)
            grad_beta, total = 0.0, 0.0
            for n in batch:
                ex = reading[n]
                if ex is None:
                    assert memory is not None
                    loss, g = memory.step(local[n], beta)
                    total += loss
                    grad_beta += g
                elif ex.target >= 0:
                    total += _span_step(ex, w, grad)
                else:
                    total += math.log(max(len(ex.index), 1))  # nothing to learn: chance
            grad /= len(batch)
            grad += L2 * w
            squares += grad * grad
            w -= lr * grad / (np.sqrt(squares) + 1e-8)
            total_w += w
            steps += 1
            beta -= lr * grad_beta / len(batch)
            step_losses.append(round(total / len(batch), 6))
        average = total_w / steps
        weights.append({int(k): round(float(average[k]), 6) for k in np.flatnonzero(average)})
        betas.append(round(beta, 6))
    return Trained(buckets, weights, betas, step_losses)


def validation_losses(
    trained: Trained, train: Sequence[tuple[str, str]], validation: Sequence[tuple[str, str]]
) -> list[float]:
    """The mean loss over ``validation`` of the model after each epoch (one validation step per
    epoch): the same cross-entropy as training, on examples it never learned from."""
    if not validation:
        return []
    reading = [_reading_example(p, a, trained.buckets) for p, a in validation]
    others = [(p, a) for (p, a), ex in zip(validation, reading, strict=True) if ex is None]
    memory = _Memory.against([t for t in train if split_reading_prompt(t[0]) is None], others)
    out = []
    for epoch, w in enumerate(trained.weights):
        dense = np.zeros(trained.buckets)
        for k, v in w.items():
            dense[k] = v
        total = 0.0
        for ex in (ex for ex in reading if ex is not None):
            total += _example_loss(ex, dense)
        total += sum(memory.loss(n, trained.betas[epoch]) for n in range(len(others)))
        out.append(round(total / len(validation), 6))
    return out


def _example_loss(ex: _Example, w: Any) -> float:
    if ex.target < 0:
        return math.log(max(len(ex.index), 1))  # nothing to match: chance
    scores = w[ex.index].sum(axis=1)
    top = float(scores.max())
    return float(top + math.log(float(np.exp(scores - top).sum())) - scores[ex.target])


def _span_step(ex: _Example, w: Any, grad: Any) -> float:
    """Add one example's softmax cross-entropy gradient to ``grad``; its loss."""
    scores = w[ex.index].sum(axis=1)
    scores -= scores.max()
    probs = np.exp(scores)
    probs /= probs.sum()
    np.add.at(grad, ex.index, probs[:, None])
    np.add.at(grad, ex.index[ex.target], -1.0)
    return float(-math.log(max(float(probs[ex.target]), 1e-12)))


def answer(prompt: str, trained: Trained, epoch: int | None = None) -> str | None:
    """What the model trained up to ``epoch`` (the last when None) answers a reading prompt;
    None for any other prompt (the caller answers from memory)."""
    cands = candidates(prompt)
    if cands is None:
        return None
    if not cands.spans:
        return ""
    w = trained.weights[min(epoch or len(trained.weights), len(trained.weights)) - 1]
    scores = [sum(w.get(h % trained.buckets, 0.0) for h in hashes) for hashes in cands.hashes]
    return _expected_best(cands.spans, scores)


def _expected_best(spans: list[str], scores: list[float], top: int = 40) -> str:
    """The span with the highest expected token F1 under the model's distribution over its
    ``top`` likeliest spans (minimum-Bayes-risk decoding: a span overlapping several likely ones
    beats a lone likely one)."""
    ranked = sorted(range(len(spans)), key=lambda k: -scores[k])[:top]
    probs = _softmax([scores[k] for k in ranked])
    bags = [_norm(spans[k]).split() for k in ranked]

    def gain(i: int) -> float:
        return sum(p * _bag_f1(bags[i], bag) for bag, p in zip(bags, probs, strict=True))

    return spans[ranked[max(range(len(ranked)), key=gain)]]


def _bag_f1(pa: list[str], pb: list[str]) -> float:
    if not pa or not pb:
        return float(pa == pb)
    common = sum(min(pa.count(w), pb.count(w)) for w in set(pa))
    if not common:
        return 0.0
    p, r = common / len(pa), common / len(pb)
    return 2 * p * r / (p + r)
