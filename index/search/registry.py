"""The derived indexes of a data folder, each collection's: its FAISS index (``vectors.py``), and
its BM25 index (``lexical.py``) for a store without full-text search of its own (PostgreSQL).

The store is the truth and an index is derived from it: built from one snapshot of the store and
labelled with the collection version it holds. An index behind the store (another process wrote
since) follows the store's chunk log — removed rows out, new and re-embedded rows in, read from
the store — instead of being rebuilt; only an index the log no longer reaches, a damaged file or
another model means a rebuild from the stored vectors (never re-embedding: that happens only when
the configured model differs from the stored vectors', ``index.ingest.reembed``). A write of this
process changes its FAISS index in memory only when the index held exactly the state the write
started from (``follow``). Saving never fails a committed write: an index that cannot be saved
answers from memory, and the next start rebuilds it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import BusyError, StoreError
from ..store import Store
from .embed import Embedder
from .lexical import LexicalIndex
from .vectors import DAMAGED, VectorIndex, sweep_temp_files

log = logging.getLogger(__name__)

StepFn = Callable[[str, int, int], None]  # (what, done, total)
Changes = list[tuple[int, str]]  # (chunk id, op) from the chunk log: "a", "r", "v"


@dataclass
class Change:
    """What one committed write did to a collection's chunks: the index follows it."""

    removed: Sequence[int] = ()
    added: Sequence[int] = ()
    vectors: np.ndarray | None = None


@dataclass
class _Health:
    """What `check` reports about the indexes: damage found on load (since repaired), and why
    the last save failed (answers then come from memory)."""

    damage: dict[int, str] = field(default_factory=dict)
    unsaved: dict[int, str] = field(default_factory=dict)


def follow_vectors(index: VectorIndex, changes: Changes, store: Store) -> None:
    """Removed and re-embedded rows out, added and re-embedded rows in with their stored
    vectors (read now: a row removed since is in neither)."""
    index.remove([cid for cid, op in changes if op in ("r", "v")])
    added = list(dict.fromkeys(cid for cid, op in changes if op in ("a", "v")))
    vectors = store.chunks.vectors(added) if added else {}
    present = [cid for cid in added if cid in vectors]
    if present:
        index.add(
            np.asarray(present, dtype=np.int64),
            np.stack([vectors[cid] for cid in present]).astype(np.float32),
        )


def follow_texts(index: LexicalIndex, changes: Changes, store: Store) -> None:
    """Removed rows out, added rows in with their stored texts, in the log's order (a vector
    re-embedded leaves the text as it was)."""
    pending: list[int] = []

    def flush() -> None:
        index.add(sorted((r.id, r.title, r.text) for r in store.chunks.texts(pending)))
        pending.clear()

    for chunk_id, op in changes:
        if op == "r":
            if pending:
                flush()
            index.remove([chunk_id])
        elif op == "a":
            pending.append(chunk_id)
    if pending:
        flush()


class IndexRegistry:
    """The derived indexes of a data folder, one of each kind a collection, kept in step with
    the store."""

    def __init__(self, store: Store, embedder: Embedder, data_dir: Path) -> None:
        self.store = store
        self.embedder = embedder
        self.data_dir = data_dir
        self._indexes: dict[int, VectorIndex] = {}
        self._lexical: dict[int, LexicalIndex] = {}
        self._lexical_lock = threading.Lock()  # lexical builds do not hold up writers
        self._health = _Health()
        self._rebuilding = threading.Lock()
        stored = store.get_meta("embedding_model")
        if stored is None:
            self._record_model()
            stored = embedder.name
        self.stored_model = stored

    # -- the model the stored vectors come from -------------------------------------------------
    @property
    def model_changed(self) -> bool:
        """True when stored vectors come from another model than the one configured."""
        return self.stored_model != self.embedder.name

    def require_current_model(self) -> None:
        if self.model_changed:
            raise StoreError(
                f"stored vectors were made with {self.stored_model}, not {self.embedder.name}:"
                " run `newsbot rebuild` to re-embed them"
            )

    def _record_model(self) -> None:
        self.store.set_meta("embedding_model", self.embedder.name)
        self.store.set_meta("embedding_dim", str(self.embedder.dim))
        self.stored_model = self.embedder.name

    def _catch_up(
        self, collection_id: int, index: VectorIndex | LexicalIndex, version: int | None = None
    ) -> bool:
        """Move an index forward by what was done since its version, from the store's chunk log,
        instead of rebuilding it. False when the log does not reach back that far (pruned)."""
        if version is not None and index.version == version:
            return True
        moved = self.store.collections.changes_since(collection_id, index.version)
        if moved is None:
            return False
        now, changes = moved
        if changes:
            if isinstance(index, VectorIndex):
                follow_vectors(index, changes, self.store)
            else:
                follow_texts(index, changes, self.store)
        log.debug("collection %s: index followed the log to version %d", collection_id, now)
        index.version = now
        return True

    # -- one collection's index ----------------------------------------------------------------
    def path(self, collection_id: int) -> Path:
        return self.data_dir / "faiss" / f"collection-{collection_id}.faiss"

    def index_for(self, collection_id: int) -> VectorIndex:
        """The collection's index, loaded or rebuilt when it does not match the store.

        A file that is stale (another process wrote since) or damaged (its checksum does not
        match) is rebuilt from the stored vectors; a rebuilt index that cannot be saved (a full
        disk) still answers, from memory.
        """
        self.require_current_model()
        with self.store.write_lock:
            version = self.store.collections.version(collection_id)
            index = self._indexes.get(collection_id)
            if index is not None and self._catch_up(collection_id, index, version):
                return index
            path = self.path(collection_id)
            index, why = VectorIndex.open(path, dim=self.embedder.dim, model=self.embedder.name)
            if index is not None and (
                index.version > version or not self._catch_up(collection_id, index, version)
            ):
                index = None  # a file of another state than the store's, the log not reaching it
            if index is None:
                if why.startswith(DAMAGED):
                    damage = (
                        f"the index file {path.name} was {why}; rebuilt from the stored vectors"
                    )
                    self._health.damage[collection_id] = damage
                    log.warning("%s", damage)
                index = self.build(collection_id)
                self.save(collection_id, index)
            self._indexes[collection_id] = index
            return index

    def build(
        self, collection_id: int, progress: Callable[[int, int], None] | None = None
    ) -> VectorIndex:
        """Stream stored vectors into a new index; its kind (exact or IVF) follows the size.

        Everything is read from one snapshot of the store, so the index holds exactly the
        collection version it is labelled with, whatever other processes write meanwhile.
        """
        with self.store.snapshot():
            version = self.store.collections.version(collection_id)
            total = self.store.chunks.count(collection_id)

            def batches() -> Iterator[tuple[np.ndarray, np.ndarray]]:
                done = 0
                for ids, vectors in self.store.chunks.iter_vectors(collection_id):
                    if vectors.shape[1] != self.embedder.dim:
                        raise StoreError(
                            "stored vectors have another dimension; run `newsbot rebuild`"
                        )
                    yield ids, vectors
                    done += len(ids)
                    if progress:
                        progress(done, total)

            index = VectorIndex.build(
                batches(), dim=self.embedder.dim, model=self.embedder.name, total=total
            )
        index.version = version
        log.info(
            "collection %s: index of %d vectors built from the store (version %d)",
            collection_id,
            index.count,
            version,
        )
        return index

    def save(self, collection_id: int, index: VectorIndex) -> bool:
        """Save the derived index, or keep answering from memory when that fails (a full disk):
        the store holds the truth and the next start rebuilds the index from it."""
        try:
            index.save(self.path(collection_id), index.version)
        except (OSError, RuntimeError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc)
            said = self._health.unsaved.get(collection_id)
            unsaved = (
                f"the index could not be saved ({reason}): questions are answered from memory"
                " and the index is rebuilt from the stored vectors on each start"
            )
            self._health.unsaved[collection_id] = unsaved
            if said != unsaved:
                log.warning("%s", unsaved)
            return False
        self._health.unsaved.pop(collection_id, None)
        return True

    def save_current(self, collection_id: int) -> None:
        """Save after an ingest. An index another process has moved past is left for the next
        use to load or rebuild."""
        with self.store.write_lock:
            index = self._indexes.get(collection_id)
            if index is not None and index.version == self.store.collections.version(collection_id):
                self.save(collection_id, index)

    @contextmanager
    def writing(self, collection_id: int, *, save: bool = False) -> Iterator[list[Change]]:
        """One write transaction on the collection, its index following what the caller lists
        as done. The index is loaded first, outside the transaction (a rebuild reads for a
        while); writers of this process are held throughout, so no one writes in between.
        ``save``: save the index when it followed (an ingest saves once, at its end)."""
        with self.store.write_lock:
            index = self.index_for(collection_id)
            changes: list[Change] = []
            with self.store.transaction():
                start = self.store.collections.version(collection_id)
                if index.version != start:  # another process wrote since: follow its log
                    self._catch_up(collection_id, index, start)
                yield changes
                end = self.store.collections.version(collection_id)
            followed = (changes or index.version == start) and self.follow(
                collection_id, index, start, end, changes
            )
            if followed and save:
                self.save(collection_id, index)

    def follow(
        self, collection_id: int, index: VectorIndex, start: int, end: int, changes: list[Change]
    ) -> bool:
        """Apply committed changes that took the collection from version ``start`` to ``end``,
        only when ``index`` held exactly ``start``; otherwise (another process wrote meanwhile)
        it is dropped and rebuilt from the store on next use. Called under ``write_lock``."""
        if index.version != start:
            self._indexes.pop(collection_id, None)
            return False
        for change in changes:
            if change.removed:
                index.remove(change.removed)
            if len(change.added):
                index.add(np.asarray(change.added, dtype=np.int64), change.vectors)
        index.version = end
        return True

    # -- every collection ------------------------------------------------------------------------
    def rebuild(
        self,
        targets: Sequence[tuple[int, str]],
        progress: StepFn | None,
        reembed: Callable[[StepFn | None], None] | None = None,
    ) -> dict[str, int]:
        """Rebuild the targets' indexes from stored vectors (when the model changed, ``reembed``
        embeds every collection again first); ``BusyError`` while another rebuild runs."""
        if not self._rebuilding.acquire(blocking=False):
            raise BusyError("a rebuild is already running; try again when it has finished")
        try:
            with self.store.exclusive("rebuild"):  # and in no other process of a shared store
                return self._rebuild(targets, progress, reembed)
        finally:
            self._rebuilding.release()

    def _rebuild(
        self,
        targets: Sequence[tuple[int, str]],
        progress: StepFn | None,
        reembed: Callable[[StepFn | None], None] | None,
    ) -> dict[str, int]:
        if self.model_changed:
            if reembed is None:
                self.require_current_model()
            else:
                reembed(progress)
            self._record_model()
            self._indexes.clear()
            self.forget_lexical()
        counts = {}
        for cid, name in targets:

            def step(done: int, total: int, name: str = name) -> None:
                if progress:
                    progress(f"index {name}", done, total)

            fresh = self.build(cid, step)  # while this process still answers
            with self.store.write_lock:
                if fresh.version != self.store.collections.version(cid):
                    fresh = self.build(cid)  # written meanwhile: again, writers held
                self.save(cid, fresh)
                self._indexes[cid] = fresh
                self._health.damage.pop(cid, None)
            counts[name] = fresh.count
        return counts

    # -- BM25, for a store without full-text search of its own ---------------------------------
    def lexical(
        self,
        collection_id: int,
        words: Sequence[str],
        limit: int,
        *,
        source: str | None = None,
        since: str | None = None,
        until: str | None = None,
        as_of: str | None = None,
        title_weight: float = 2.0,
    ) -> list[tuple[int, float]]:
        """BM25 over chunk text and article title (FTS5's formula): the store's own full-text
        index when it has one (SQLite), else this process's index derived from the stored texts,
        its filters applied as allowed ids."""
        filters = {"source": source, "since": since, "until": until, "as_of": as_of}
        found = self.store.chunks.lexical(
            collection_id, words, limit, title_weight=title_weight, **filters
        )
        if found is not None or not words:
            return found or []
        index = self.lexical_index(collection_id)
        allowed = self.store.chunks.ids(collection_id, **filters) if any(filters.values()) else None
        return index.search(words, limit, title_weight=title_weight, allowed=allowed)

    def lexical_index(self, collection_id: int) -> LexicalIndex:
        """The collection's derived BM25 index: built from one snapshot of the stored texts on
        first use, then moved forward by the chunk log."""
        with self._lexical_lock:
            index = self._lexical.get(collection_id)
            if index is not None and self._catch_up(collection_id, index):
                return index
            with self.store.snapshot():
                index = LexicalIndex(self.store.collections.version(collection_id))
                for rows in self.store.chunks.iter_texts(collection_id, batch=5000):
                    index.add((r.id, r.title, r.text) for r in rows)
            log.info(
                "collection %s: BM25 index of %d passages built (version %d)",
                collection_id,
                index.count,
                index.version,
            )
            self._lexical[collection_id] = index
            return index

    def forget_lexical(self, collection_id: int | None = None) -> None:
        with self._lexical_lock:
            if collection_id is None:
                self._lexical.clear()
            else:
                self._lexical.pop(collection_id, None)

    # -- health ----------------------------------------------------------------------------------
    def problems(self, collection_id: int, name: str) -> list[str]:
        """How the collection's index disagrees with the stored chunk ids of the same state, and
        damage found on its file (rebuilt, but the disk changed bytes behind newsbot's back)."""
        for path in sweep_temp_files(self.path(collection_id)):
            log.info("removed %s, left by a process that stopped while saving", path.name)
        try:
            for _ in range(5):  # other processes may write between the two reads
                index = self.index_for(collection_id)
                with self.store.snapshot():
                    version = self.store.collections.version(collection_id)
                    stored = self.store.chunks.ids(collection_id)
                if index.version == version:
                    break
            else:  # busy: every look found a newer state; nothing to compare with
                log.info("collection %s changed on every look; index not compared", name)
                return []
        except StoreError as exc:
            return [f"collection {name}: {exc}"]
        problems = []
        if damage := self._health.damage.get(collection_id):
            problems.append(f"collection {name}: {damage}")
        held = index.ids()
        if len(held) != len(stored) or not np.array_equal(np.sort(held), np.sort(stored)):
            problems.append(
                f"collection {name}: index holds {index.count} vectors for {len(stored)}"
                " stored chunks"
            )
        return problems

    def warnings(self) -> list[str]:
        """What `check` reports without failing: an index answering from memory, unsaved."""
        names = dict(self.store.collections.all())
        return [f"collection {names.get(c, c)}: {w}" for c, w in self._health.unsaved.items()]
