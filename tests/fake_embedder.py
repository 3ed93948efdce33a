"""The deterministic fake embedder the tests (and the benchmarks that measure everything but the
model) use in place of MiniLM."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

import numpy as np

_WORD = re.compile(r"\w+", re.UNICODE)


class FakeEmbedder:
    """Deterministic hashed bag of words: texts sharing words get similar vectors.

    Good enough for tests of everything around the model (storage, fusion, citations), with
    none of its start-up time. Tokens are words, so chunk budgets stay meaningful.
    """

    def __init__(self, dim: int = 64, max_tokens: int = 256, name: str = "fake-hash-64") -> None:
        self.dim = dim
        self.max_tokens = max_tokens
        self.name = name
        self.calls = 0
        self.embedded = 0

    def _bucket(self, word: str) -> tuple[int, float]:
        digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
        value = int.from_bytes(digest, "little")
        return value % self.dim, 1.0 if (value >> 32) & 1 else -1.0

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += 1
        self.embedded += len(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in _WORD.findall(text.lower()):
                col, sign = self._bucket(word)
                out[row, col] += sign
            norm = float(np.linalg.norm(out[row]))
            if norm == 0:
                out[row, 0] = 1.0
            else:
                out[row] /= norm
        return out

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return [len(_WORD.findall(t)) for t in texts]
