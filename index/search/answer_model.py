"""What ``bench/fit_answers.py`` learned on the dev set, read back: how to weigh a sentence's
features (a linear scorer, fitted listwise: the sentence holding the quiz answer should come
first) and how sure to be that the news answers the question at all (small boosted trees over
the evidence's features, dev questions against off-period ones).

The fitted numbers live in ``answer_model.json`` beside this module, as data with their
provenance and cross-validated figures; nothing here is tuned by hand.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from .sentences import FEATURES, QUESTION_FEATURES

MODEL_FILE = Path(__file__).with_name("answer_model.json")


@dataclass(frozen=True)
class _Tree:
    feature: tuple[int, ...]
    threshold: tuple[float, ...]
    left: tuple[int, ...]
    right: tuple[int, ...]
    leaf: tuple[bool, ...]
    value: tuple[float, ...]

    def __call__(self, x: tuple[float, ...]) -> float:
        node = 0
        while not self.leaf[node]:
            node = (
                self.left[node]
                if x[self.feature[node]] <= self.threshold[node]
                else self.right[node]
            )
        return self.value[node]


@dataclass(frozen=True)
class AnswerModel:
    """The sentence scorer and the answer/refuse decision, with its fitted operating point."""

    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray
    baseline: float
    trees: tuple[_Tree, ...]
    threshold: float  # the confidence below which "nothing relevant" is said
    info: dict

    @classmethod
    def from_dict(cls, data: dict) -> AnswerModel:
        sentence, answer = data["sentence"], data["answer"]
        if tuple(sentence["features"]) != FEATURES or tuple(answer["features"]) != (
            QUESTION_FEATURES
        ):
            raise ValueError("the answer model was fitted on other features: refit it")
        trees = tuple(
            _Tree(
                tuple(t["feature"]),
                tuple(t["threshold"]),
                tuple(t["left"]),
                tuple(t["right"]),
                tuple(bool(x) for x in t["leaf"]),
                tuple(t["value"]),
            )
            for t in answer["trees"]
        )
        return cls(
            mean=np.asarray(sentence["mean"], dtype=np.float64),
            scale=np.asarray(sentence["scale"], dtype=np.float64),
            weights=np.asarray(sentence["weights"], dtype=np.float64),
            baseline=float(answer["baseline"]),
            trees=trees,
            threshold=float(answer["threshold"]),
            info=data.get("fitted", {}),
        )

    def sentence_scores(self, features: np.ndarray) -> np.ndarray:
        """How well each sentence answers the question (higher is better; a logit)."""
        return ((features - self.mean) / self.scale) @ self.weights

    def confidence(self, question_features: tuple[float, ...]) -> float:
        """The probability that the news answers the question at all."""
        raw = self.baseline + sum(tree(question_features) for tree in self.trees)
        return 1.0 / (1.0 + math.exp(-raw))


@cache
def load_model(path: Path = MODEL_FILE) -> AnswerModel:
    return AnswerModel.from_dict(json.loads(path.read_text(encoding="utf-8")))
