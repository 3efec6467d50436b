"""SQuAD answer normalisation and the EM / F1 metrics, as in the official evaluation script.

Pure functions: the Evaluation resource and the preparation steps share them.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Iterable

_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCTUATION = str.maketrans("", "", string.punctuation)


def normalize_answer(text: str) -> str:
    """Lower-case, drop punctuation and the articles a/an/the, collapse whitespace."""
    text = text.lower().translate(_PUNCTUATION)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def _references(references: str | Iterable[str]) -> list[str]:
    # SQuAD 2.0: an unanswerable question's only correct answer is the empty string.
    refs = [references] if isinstance(references, str) else list(references)
    return refs or [""]


def exact_match(prediction: str, references: str | Iterable[str]) -> float:
    """1.0 if the normalised prediction equals any normalised reference, else 0.0."""
    predicted = normalize_answer(prediction)
    return float(any(predicted == normalize_answer(ref) for ref in _references(references)))


def token_f1(prediction: str, references: str | Iterable[str]) -> float:
    """The best token-overlap F1 of the prediction against any reference."""
    return max(_f1(prediction, ref) for ref in _references(references))


def _f1(prediction: str, reference: str) -> float:
    predicted = normalize_answer(prediction).split()
    expected = normalize_answer(reference).split()
    if not predicted or not expected:
        return float(predicted == expected)
    common = sum((Counter(predicted) & Counter(expected)).values())
    if common == 0:
        return 0.0
    precision = common / len(predicted)
    recall = common / len(expected)
    return 2 * precision * recall / (precision + recall)
