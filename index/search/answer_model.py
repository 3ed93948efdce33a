"""What ``bench/fit_answers.py`` learned on the dev set, read back: how to weigh a sentence's
features (a linear scorer, fitted listwise: the sentence holding the quiz answer should come
first) and how sure to be that the news answers the question at all (a logistic regression over
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
class AnswerModel:
    """The sentence scorer and the answer/refuse decision, with its fitted operating point."""

    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray
    answer_mean: tuple[float, ...]
    answer_scale: tuple[float, ...]
    answer_weights: tuple[float, ...]
    answer_bias: float
    threshold: float  # the confidence below which "nothing relevant" is said
    info: dict

    @classmethod
    def from_dict(cls, data: dict) -> AnswerModel:
        sentence, answer = data["sentence"], data["answer"]
        if tuple(sentence["features"]) != FEATURES or tuple(answer["features"]) != (
            QUESTION_FEATURES
        ):
            raise ValueError("the answer model was fitted on other features: refit it")
        return cls(
            mean=np.asarray(sentence["mean"], dtype=np.float64),
            scale=np.asarray(sentence["scale"], dtype=np.float64),
            weights=np.asarray(sentence["weights"], dtype=np.float64),
            answer_mean=tuple(answer["mean"]),
            answer_scale=tuple(answer["scale"]),
            answer_weights=tuple(answer["weights"]),
            answer_bias=float(answer["bias"]),
            threshold=float(answer["threshold"]),
            info=data.get("fitted", {}),
        )

    def sentence_scores(self, features: np.ndarray) -> np.ndarray:
        """How well each sentence answers the question (higher is better; a logit)."""
        return ((features - self.mean) / self.scale) @ self.weights

    def recency_part(self, features: np.ndarray) -> np.ndarray:
        """The share of each sentence's score that is only its article being newer than the
        others retrieved: set aside when deciding which articles tell the same story, where
        recency may order developments but must never make one."""
        i = FEATURES.index("behind_newest")
        return (features[:, i] - self.mean[i]) / self.scale[i] * self.weights[i]

    def confidence(self, question_features: tuple[float, ...]) -> float:
        """The probability that the news answers the question at all."""
        raw = self.answer_bias + sum(
            w * (x - m) / s
            for x, m, s, w in zip(
                question_features,
                self.answer_mean,
                self.answer_scale,
                self.answer_weights,
                strict=True,
            )
        )
        return 1.0 / (1.0 + math.exp(-raw))


@cache
def load_model(path: Path = MODEL_FILE) -> AnswerModel:
    return AnswerModel.from_dict(json.loads(path.read_text(encoding="utf-8")))
