"""Sentence-aware chunking with character offsets; pure functions, no I/O.

Chunks are runs of whole sentences packed up to a word-piece budget counted by the model's own
tokenizer, so nothing the model would silently truncate ends up in a chunk. Every chunk is an
exact slice of the article text (``text[start:end]``), which is what makes snippets verifiable.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence

import nupunkt

from ..models import ChunkSpan

CountTokens = Callable[[Sequence[str]], list[int]]

_LINE = re.compile(r"[^\n]+")
_WORD_END = re.compile(r"\S+")


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of every sentence, whitespace trimmed; a line break always ends one.

    nupunkt keeps "U.S.", "Oct. 26" and "Sen." inside their sentences (see NOTES.md for the
    comparison); lines are split first because headings and list items carry no full stop.
    """
    spans: list[tuple[int, int]] = []
    for line in _LINE.finditer(text):
        base = line.start()
        segment = line.group()
        if not segment.strip():
            continue
        for start, end in nupunkt.sent_spans(segment):
            piece = segment[start:end]
            lead = len(piece) - len(piece.lstrip())
            trail = len(piece) - len(piece.rstrip())
            if end - trail > start + lead:
                spans.append((base + start + lead, base + end - trail))
    return spans


def _split_long(
    text: str, span: tuple[int, int], budget: int, count: CountTokens
) -> list[tuple[int, int]]:
    """Cut a sentence longer than the budget at word boundaries (tables, run-on lists)."""
    words = [
        (m.start() + span[0], m.end() + span[0])
        for m in _WORD_END.finditer(text[span[0] : span[1]])
    ]
    counts = count([text[s:e] for s, e in words])
    pieces: list[tuple[int, int]] = []
    start = words[0][0]
    used = 0
    last_end = words[0][1]
    for (s, e), n in zip(words, counts, strict=True):
        if used and used + n > budget:
            pieces.append((start, last_end))
            start, used = s, 0
        used += n
        last_end = e
    pieces.append((start, last_end))
    return pieces


def chunk_text(
    text: str,
    count_tokens: CountTokens,
    *,
    budget: int,
    overlap: int,
) -> list[ChunkSpan]:
    """Pack whole sentences into chunks of at most ``budget`` word pieces.

    Consecutive chunks share their boundary sentences, up to ``overlap`` word pieces, so a fact
    stated across a chunk boundary is still whole in one of them.
    """
    budget = max(budget, 8)
    sentences = sentence_spans(text)
    if not sentences:
        return []
    counts = count_tokens([text[s:e] for s, e in sentences])
    units: list[tuple[int, int, int]] = []
    for (s, e), n in zip(sentences, counts, strict=True):
        if n > budget:
            pieces = _split_long(text, (s, e), budget, count_tokens)
            units.extend(
                (ps, pe, c)
                for (ps, pe), c in zip(
                    pieces, count_tokens([text[a:b] for a, b in pieces]), strict=True
                )
            )
        else:
            units.append((s, e, n))

    chunks: list[ChunkSpan] = []
    current: list[tuple[int, int, int]] = []
    used = 0
    fresh = 0  # units in `current` that no earlier chunk holds
    for unit in units:
        if current and used + unit[2] > budget:
            chunks.append(_span(text, len(chunks), current))
            carried: list[tuple[int, int, int]] = []
            carried_tokens = 0
            for prev in reversed(current):
                if (
                    carried_tokens + prev[2] > overlap
                    or carried_tokens + prev[2] + unit[2] > budget
                ):
                    break
                carried.insert(0, prev)
                carried_tokens += prev[2]
            if len(carried) == len(current):
                carried = []
                carried_tokens = 0
            current, used, fresh = carried, carried_tokens, 0
        current.append(unit)
        used += unit[2]
        fresh += 1
    if current and fresh:
        chunks.append(_span(text, len(chunks), current))
    return chunks


def _span(text: str, ordinal: int, units: list[tuple[int, int, int]]) -> ChunkSpan:
    start, end = units[0][0], units[-1][1]
    return ChunkSpan(ordinal=ordinal, start=start, end=end, text=text[start:end])


def embedding_prefix(title: str | None, source: str | None, published_at: str | None) -> str:
    """The short context line embedded before each chunk: the chunk alone often lacks it."""
    meta = ", ".join(x for x in (source, published_at) if x)
    head = (title or "").strip()
    if meta:
        head = f"{head} ({meta})" if head else meta
    return head


# The fewest word pieces a chunk keeps beside its prefix; an absurd title is cut to make room.
MIN_CHUNK_ROOM = 32
CUT_PREFIX_CHARS = 120
CUT_PREFIX_TOKENS = 48


def fit_prefix(
    title: str | None,
    source: str | None,
    published_at: str | None,
    count_tokens: CountTokens,
    max_tokens: int,
    chunk_tokens: int,
) -> tuple[str, int]:
    """An article's prefix and the chunk budget it leaves under the model's ``max_tokens``
    (3 for the special tokens): the ingest chunks with that budget, and re-embedding makes the
    same prefix, so a chunk's embedded text never depends on how it came to be embedded."""
    prefix = embedding_prefix(title, source, published_at)
    prefix_tokens = count_tokens([prefix])[0] if prefix else 0
    budget = min(chunk_tokens, max_tokens - 3 - prefix_tokens)
    if budget < MIN_CHUNK_ROOM:  # an absurd title must not starve the text of room
        prefix = prefix[:CUT_PREFIX_CHARS]
        budget = min(chunk_tokens, max_tokens - 3 - CUT_PREFIX_TOKENS)
    return prefix, budget


def vector_digest(model: str, text: str) -> bytes:
    """The key a chunk's vector is stored and found under: the model's name and exactly the text
    it read (``embedded_text``). Any collection embedding the same text with the same model
    reuses the vector instead of running the model."""
    return hashlib.sha256(f"{model}\x00{text}".encode("utf-8", "surrogatepass")).digest()


def embedded_text(prefix: str, chunk: str) -> str:
    """What the model reads for a chunk: its article's prefix line, then the chunk. The one
    place it is made (ingest, re-embedding, the ingest benchmark's raw encode)."""
    return f"{prefix}\n{chunk}" if prefix else chunk
