"""Near-duplicate detection: MinHash signatures of word shingles, banded for LSH lookup.

The same wire story re-published by another site differs in its headline, dateline, a "Related:"
line, quote style or a trimmed last paragraph, so exact hashes miss it; its 5-word-shingle
Jaccard stays near 0.9 while unrelated articles stay below ~0.15. A MinHash signature estimates
that Jaccard from a small fixed-size blob, and the band keys let SQLite find the few stored
articles worth comparing (``minhash_bands``) without scanning the collection.

Pure and deterministic: the permutation parameters come from blake2b, not from a RNG whose stream
may change between numpy releases, because signatures and band keys are persisted. Changing
``NUM_PERM``, ``BANDS``, ``ROWS``, the normalization (``index.text.normalize``, its loose form)
or the hashing invalidates stored rows.
"""

from __future__ import annotations

from collections.abc import Iterable
from hashlib import blake2b

import numpy as np

from ..text import normalize

NUM_PERM = 128
# 21 bands of 6 rows (126 of the 128 minhashes): P(candidate) = 1 - (1 - s**6) ** 21 is 0.998 at
# Jaccard 0.8, 1.5% at 0.3 and 0.02% at 0.15 (the unrelated-pair ceiling). 32x4 also reaches 0.99
# at 0.8 but makes 23% of pairs at 0.3 candidates and stores 11 more band rows per article.
BANDS = 21
ROWS = 6
NEAR_DUPLICATE = 0.8  # estimated Jaccard at or above which two articles are the same story
SHINGLE_WORDS = 5

_EMPTY = np.uint32(0xFFFF_FFFF)  # every slot of an empty text's signature
_BLOCK = 4096  # shingles per vectorized step: bounds memory at NUM_PERM * _BLOCK * 8 bytes
_SHIFT = np.uint64(32)


def _params() -> tuple[np.ndarray, np.ndarray]:
    """Fixed 64-bit (a, b) per permutation, derived from blake2b so they never drift."""
    raw = b"".join(
        blake2b(b"newsbot-minhash-%d" % i, digest_size=16).digest() for i in range(NUM_PERM)
    )
    ab = np.frombuffer(raw, dtype="<u8").astype(np.uint64).reshape(NUM_PERM, 2)
    return ab[:, :1].copy(), ab[:, 1:].copy()


_A, _B = _params()


def shingle_hashes(text: str, k: int = SHINGLE_WORDS) -> np.ndarray:
    """uint64 blake2b hashes of the k-word shingles (repeats kept; min() does not care)."""
    words = normalize(text, loose=True).split()
    if not words:
        return np.empty(0, dtype=np.uint64)
    grams: Iterable[str]
    if len(words) < k:  # too short to shingle: the whole text is the one shingle
        grams = [" ".join(words)]
    else:
        grams = map(" ".join, zip(*(words[i:] for i in range(k)), strict=False))
    digests = b"".join([blake2b(g.encode(), digest_size=8).digest() for g in grams])
    return np.frombuffer(digests, dtype="<u8").astype(np.uint64)


def shingles(text: str, k: int = SHINGLE_WORDS) -> set[int]:
    """64-bit hashes of the k-word shingles of the normalized text, stable across processes."""
    return set(shingle_hashes(text, k).tolist())


def signature(text: str) -> np.ndarray:
    """NUM_PERM uint32 minhashes of the text's 5-word shingles (all 0xFFFFFFFF if it is empty).

    Each permutation is Dietzfelbinger's multiply-add-shift h(x) = ((a*x + b) mod 2**64) >> 32
    over the top 32 bits of each shingle hash: strongly universal, and uint64 wrap-around *is*
    the mod, so numpy does it in two passes with no overflow handling. The shift is monotone,
    so it is applied to the 128 minima instead of every product.
    """
    hashes = shingle_hashes(text)
    if hashes.size == 0:
        return np.full(NUM_PERM, _EMPTY, dtype=np.uint32)
    x = hashes >> _SHIFT
    sig = np.full(NUM_PERM, np.iinfo(np.uint64).max, dtype=np.uint64)
    for start in range(0, x.size, _BLOCK):
        v = _A * x[None, start : start + _BLOCK]  # wraps mod 2**64, as intended
        v += _B
        np.minimum(sig, v.min(axis=1), out=sig)
    return (sig >> _SHIFT).astype(np.uint32)


def _is_empty(sig: np.ndarray) -> bool:
    return bool(np.all(sig == _EMPTY))


def band_keys(sig: np.ndarray) -> list[int]:
    """One bucket key per band: a hash of the band index and its ROWS minhashes, in [0, 2**63).

    Two articles land in the same bucket of some band with probability 1 - (1 - J**ROWS)**BANDS,
    so looking up these keys finds near-duplicates without comparing against every article.
    Empty texts all share their keys; ``similarity`` then rules them out.
    """
    rows = np.asarray(sig, dtype="<u4")
    if rows.shape != (NUM_PERM,):
        raise ValueError(f"expected a signature of {NUM_PERM} minhashes, got shape {rows.shape}")
    keys = []
    for band in range(BANDS):
        chunk = rows[band * ROWS : (band + 1) * ROWS].tobytes()
        digest = blake2b(band.to_bytes(2, "little") + chunk, digest_size=8).digest()
        keys.append(int.from_bytes(digest, "little") >> 1)  # fits SQLite's signed INTEGER
    return keys


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Estimated Jaccard: the share of equal minhashes. An empty text resembles nothing."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        raise ValueError(f"signature shapes differ: {a.shape} vs {b.shape}")
    if a.size == 0 or _is_empty(a) or _is_empty(b):
        return 0.0
    return float(np.count_nonzero(a == b)) / a.size


def candidate_probability(jaccard: float) -> float:
    """Chance that two texts with this true Jaccard share at least one band key."""
    return 1.0 - (1.0 - jaccard**ROWS) ** BANDS


def to_blob(sig: np.ndarray) -> bytes:
    """Signature as stored in ``article_minhash.signature``: NUM_PERM little-endian uint32."""
    arr = np.asarray(sig)
    if arr.shape != (NUM_PERM,):
        raise ValueError(f"expected a signature of {NUM_PERM} minhashes, got shape {arr.shape}")
    return arr.astype("<u4").tobytes()


def from_blob(blob: bytes) -> np.ndarray:
    """Signature read back from ``to_blob`` bytes; a blob of the wrong size is refused."""
    if len(blob) != NUM_PERM * 4:
        raise ValueError(f"expected {NUM_PERM * 4} bytes of signature, got {len(blob)}")
    return np.frombuffer(blob, dtype="<u4").astype(np.uint32)
