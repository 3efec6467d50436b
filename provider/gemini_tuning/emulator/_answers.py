"""What the simulated models say. This is a simulation, not a language model.

- A **tuned** model (an endpoint whose model came from a tuning job) answers a
  reading-comprehension prompt (a context and a question, SQuAD-style) with the span its job's
  learner picks (_learner.py: a span scorer trained on the job's data). Any other prompt gets
  ``tuned_answer``: the answer of the training example whose prompt is closest, by token-set
  Jaccard similarity (lower-cased words and numbers). A job trained before the learner existed
  answers a reading prompt as it did then (``tuned_answer``: the closest example's answer when at
  least ``MEMORIZED_SIMILARITY`` similar, else a span of the most relevant sentence as long as
  the median training answer).
- A **base** model answers a reading-comprehension prompt with the whole context sentence that
  shares most words with the question (right place, wrong length: some F1, almost no exact match),
  and anything else with a fixed generic sentence.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Sequence

MEMORIZED_SIMILARITY = 0.6
_WORD = re.compile(r"[A-Za-z0-9]+(?:'[A-Za-z]+)?")
_SENTENCE = re.compile(r"(?<=[.!?])\s+")
_CONTEXT = re.compile(r"(?is)\bcontext\s*:\s*(.*?)(?=\bquestion\s*:|\Z)")
_QUESTION = re.compile(r"(?is)\bquestion\s*:\s*(.*?)(?=\bcontext\s*:|\banswer\s*:|\Z)")
_STOP = frozenset(
    {
        "a",
        "an",
        "the",
        "of",
        "in",
        "on",
        "at",
        "to",
        "for",
        "by",
        "with",
        "from",
        "and",
        "or",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "what",
        "which",
        "who",
        "whom",
        "whose",
        "when",
        "where",
        "why",
        "how",
        "did",
        "do",
        "does",
        "that",
        "this",
        "these",
        "those",
        "it",
        "its",
        "as",
    }
)

GENERIC_ANSWER = "I am a simulated base model in the gemini-tuning emulator."


def words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


def jaccard(a: str, b: str) -> float:
    sa, sb = set(words(a)), set(words(b))
    if not sa and not sb:
        return 1.0
    return len(sa & sb) / len(sa | sb)


def split_reading_prompt(prompt: str) -> tuple[str, str] | None:
    """(context, question) for a SQuAD-like prompt, else None."""
    c, q = _CONTEXT.search(prompt), _QUESTION.search(prompt)
    if not c or not q or not c.group(1).strip() or not q.group(1).strip():
        return None
    return c.group(1).strip(), q.group(1).strip()


def best_sentence(context: str, question: str) -> str:
    qwords = set(words(question)) - _STOP
    sentences = [s.strip() for s in _SENTENCE.split(context) if s.strip()] or [context]
    return max(sentences, key=lambda s: len(qwords & set(words(s))))


def base_answer(prompt: str) -> str:
    reading = split_reading_prompt(prompt)
    if reading is None:
        return GENERIC_ANSWER
    return best_sentence(*reading)


def _span(sentence: str, question: str, length: int) -> str:
    """The run of ``length`` sentence words outside the question, nearest to question words."""
    tokens = sentence.split()
    if not tokens:
        return sentence
    qwords = set(words(question))
    inq = [bool(set(words(t)) & qwords) or not words(t) for t in tokens]
    anchors = [i for i, flag in enumerate(inq) if flag]
    best: tuple[float, int] | None = None
    for start in range(len(tokens) - length + 1):
        window = range(start, start + length)
        if any(inq[i] for i in window):
            continue
        dist = min((min(abs(i - a) for i in window) for a in anchors), default=0)
        if best is None or dist < best[0]:
            best = (dist, start)
    if best is None:
        free = [t for t, flag in zip(tokens, inq, strict=True) if not flag] or tokens
        return " ".join(free[:length]).strip(" ,.;:!?\"'")
    return " ".join(tokens[best[1] : best[1] + length]).strip(" ,.;:!?\"'")


def tuned_answer(prompt: str, examples: Sequence[tuple[str, str]]) -> str:
    if not examples:
        return base_answer(prompt)
    best_score, best_answer = -1.0, ""
    for ex_prompt, ex_answer in examples:
        score = jaccard(prompt, ex_prompt)
        if score > best_score:
            best_score, best_answer = score, ex_answer
    if best_score >= MEMORIZED_SIMILARITY:
        return best_answer
    reading = split_reading_prompt(prompt)
    if reading is None:
        return best_answer
    lengths = [len(a.split()) for _, a in examples if a.strip()] or [3]
    length = max(1, min(10, round(statistics.median(lengths))))
    context, question = reading
    return _span(best_sentence(context, question), question, length)
