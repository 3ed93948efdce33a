"""Vectors (``VectorStore``), on both backends: each kept once, by the digest of the model's name
and the text it embedded (computed by the caller: ``index.ingest.chunk.vector_digest``), and
referred to by every chunk that embeds that text in any collection. A second collection (server)
following the same feed, or an article ingested again, finds its vectors here and the model
does not run; search, forget and rebuild still see only their own collection's chunks.

A vector goes when no chunk refers to it any more (``sweep``, in the transaction that removed or
re-pointed the chunks). On PostgreSQL several processes write at once, so the two sides hold
rows: a writer reusing vectors holds them ``FOR KEY SHARE`` until it commits, and a sweep takes
only the rows it can lock at once (``FOR UPDATE SKIP LOCKED``): a vector a writer is taking up is
never removed under it, and a sweep never waits on a writer (so the two cannot deadlock). A
vector skipped that way and left unused is removed by the next ``sweep_orphans`` (a rebuild).

Vectors stored before schema 8 have no digest until an ingest keys them (``unkeyed``, ``key``):
nothing is re-embedded, and duplicates found then are merged.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .base import ChunkText
from .chunks import CHUNK_TEXT
from .sql import Part, vector_bytes, vector_of

BATCH = 500


class VectorStore(Part):
    """Vectors by digest, shared by the chunks of every collection that embed the same text."""

    def known(self, digests: Sequence[bytes]) -> dict[bytes, np.ndarray]:
        """The stored vector of each digest that has one: what need not be embedded again."""
        return {d: vector_of(blob) for d, blob in self._by_digest(digests, "vector").items()}

    def place(self, digests: Sequence[bytes | None], vectors: np.ndarray) -> list[int]:
        """Inside the caller's transaction: the id of each vector — the stored one of its digest
        (held from any sweep until commit), else stored now. A None digest is stored unshared."""
        store = self._store
        if not len(digests):
            digests = [None] * len(vectors)
        keyed = sorted({d for d in digests if d is not None})
        ids = self._ids(keyed, hold=True)
        missing: dict[bytes, np.ndarray] = {}
        for d, v in zip(digests, vectors, strict=True):
            if d is not None and d not in ids:
                missing.setdefault(d, v)
        if missing:  # in digest order: two writers storing the same ones never wait in a cycle
            order = sorted(missing)
            store.run_many(
                "INSERT INTO vectors (digest, vector) VALUES (?, ?)"
                " ON CONFLICT (digest) DO NOTHING",
                [(d, vector_bytes(missing[d])) for d in order],
            )
            ids.update(self._ids(order, hold=True))
        unshared = [i for i, d in enumerate(digests) if d is None]
        fresh = store.insert_returning_ids(
            "vectors", ("vector",), [(vector_bytes(vectors[i]),) for i in unshared]
        )
        by_row = dict(zip(unshared, fresh, strict=True))
        return [by_row[i] if d is None else ids[d] for i, d in enumerate(digests)]

    def sweep(self, ids: Sequence[int]) -> int:
        """Inside the caller's transaction: those of these vectors that no chunk refers to any
        more removed (a vector another collection still uses stays); how many went."""
        store = self._store
        gone = 0
        ids = sorted({int(i) for i in ids})
        for start in range(0, len(ids), BATCH):
            batch = ids[start : start + BATCH]
            if store.SKIP_LOCKED:  # only rows no writer is taking up right now
                order = f" ORDER BY id{store.SKIP_LOCKED}"
                held = store.rows_where_in("SELECT id FROM vectors", "id", batch, order)
                if not (batch := [r[0] for r in held]):
                    continue
            cond, params = store.in_("id", batch)
            gone += store.run(
                f"DELETE FROM vectors WHERE {cond} AND NOT EXISTS"
                " (SELECT 1 FROM chunks ch WHERE ch.vector_id = vectors.id)",
                params,
            )
        return gone

    def sweep_orphans(self) -> int:
        """Every vector no chunk refers to, removed (what a sweep had to skip)."""
        with self._store.transaction():
            rows = self._store.rows(
                "SELECT v.id FROM vectors v WHERE NOT EXISTS"
                " (SELECT 1 FROM chunks ch WHERE ch.vector_id = v.id)"
            )
            return self.sweep([r[0] for r in rows]) if rows else 0

    def count(self) -> int:
        """Vectors stored, across every collection."""
        return int(self._store.value("SELECT COUNT(*) FROM vectors", (), 0))

    # -- vectors stored before schema 8 --------------------------------------------------------
    def unkeyed(self, after: int = 0, limit: int = 2000) -> list[tuple[int, ChunkText]]:
        """Vectors without a digest yet, each with a chunk that uses it, in id order from
        ``after``: what an ingest keys (the text is made from the chunk as the ingest made it)."""
        rows = self._store.rows(
            f"SELECT v.id, {CHUNK_TEXT} FROM vectors v"
            " JOIN chunks ch ON ch.id = (SELECT MIN(c.id) FROM chunks c WHERE c.vector_id = v.id)"
            " JOIN articles a ON a.id = ch.article_id"
            " WHERE v.digest IS NULL AND v.id > ? ORDER BY v.id LIMIT ?",
            (after, limit),
        )
        return [(int(r[0]), ChunkText(*r[1:])) for r in rows]

    def key(self, pairs: Sequence[tuple[int, bytes]]) -> dict[int, list[int]]:
        """Give unkeyed vectors their digest, in one transaction; one whose digest is stored
        already is merged into that one (its chunks re-pointed, itself removed, the chunks
        logged as re-embedded: their vector changed, if only by a few thousandths). Returns the
        chunks re-pointed, by collection id."""
        from .articles import bump

        store = self._store
        moved: dict[int, list[int]] = {}
        with store.transaction():
            plan = self._merges(pairs, self._ids(sorted({d for _, d in pairs})))
            # Collections whose chunks move are locked first, in order, as their writers lock
            # them: then the rows.
            for cid in self._collections_of([vid for vid, _ in plan[1]]):
                store.lock(cid)
            sets, merges = self._merges(pairs, self._ids(sorted({d for _, d in pairs}), hold=True))
            store.run_many("UPDATE vectors SET digest = ? WHERE id = ?", sets)
            for vid, into in merges:
                for chunk_id, cid in store.rows(
                    "UPDATE chunks SET vector_id = ? WHERE vector_id = ? RETURNING id,"
                    " (SELECT a.collection_id FROM articles a WHERE a.id = chunks.article_id)",
                    (into, vid),
                ):
                    moved.setdefault(int(cid), []).append(int(chunk_id))
            self.sweep([vid for vid, _ in merges])
            for cid, chunk_ids in sorted(moved.items()):
                store.lock(cid)
                bump(store, cid, revectored=chunk_ids)
        return moved

    @staticmethod
    def _merges(
        pairs: Sequence[tuple[int, bytes]], stored: dict[bytes, int]
    ) -> tuple[list[tuple[bytes, int]], list[tuple[int, int]]]:
        """(digest, vector id) to set, and (vector id, the id it merges into)."""
        keep = dict(stored)
        sets: list[tuple[bytes, int]] = []
        merges: list[tuple[int, int]] = []
        for vid, digest in pairs:
            if digest not in keep:
                keep[digest] = vid
                sets.append((digest, vid))
            elif keep[digest] != vid:
                merges.append((vid, keep[digest]))
        return sets, merges

    def _ids(self, digests: Sequence[bytes], hold: bool = False) -> dict[bytes, int]:
        """The id of each stored digest; ``hold``: their rows held until commit (PostgreSQL)."""
        return {d: int(vid) for d, vid in self._by_digest(digests, "id", hold).items()}

    def _by_digest(
        self, digests: Sequence[bytes], column: str, hold: bool = False
    ) -> dict[bytes, object]:
        """``column`` of each stored digest, looked up in batches, in id order."""
        held = self._store.KEY_SHARE if hold else ""
        rows = self._store.rows_where_in(
            f"SELECT digest, {column} FROM vectors",
            "digest",
            list(dict.fromkeys(digests)),
            f" ORDER BY id{held}",
        )
        return {bytes(digest): value for digest, value in rows}

    def _collections_of(self, vector_ids: Sequence[int]) -> list[int]:
        rows = self._store.rows_where_in(
            "SELECT DISTINCT a.collection_id FROM chunks ch"
            " JOIN articles a ON a.id = ch.article_id",
            "ch.vector_id",
            vector_ids,
        )
        return sorted({int(r[0]) for r in rows})
