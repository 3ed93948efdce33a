"""``newsbot copy-store --to postgresql://…``: an SQLite store moved to PostgreSQL with its
vectors (never re-embedded), verified, and answering the same afterwards."""

from __future__ import annotations

import numpy as np
import pytest
from test_service import STRIKE, VOLCANO

from helpers import make_service
from index import cli
from index.search.embed import FakeEmbedder


class Counting(FakeEmbedder):
    def __init__(self) -> None:
        super().__init__()
        self.texts = 0

    def embed(self, texts):  # type: ignore[no-untyped-def]
        self.texts += len(texts)
        return super().embed(texts)


def test_copy_store_moves_everything_and_re_embeds_nothing(tmp_path, pg_database, capsys):
    embedder = Counting()
    with make_service(tmp_path / "sqlite", embedder) as svc:
        svc.ingest("news", [VOLCANO, STRIKE])
        svc.ingest("other", [VOLCANO])
        svc.forget("news", 2)
        svc.ingest("news", [STRIKE])  # a new id after a gap
        before = {c: svc.search(c, "volcano lava strike") for c in ("news", "other")}
        vectors = dict(zip(*next(svc.store.chunks.iter_vectors(1)), strict=True))
    embedded = embedder.texts

    def factory(args):
        return make_service(args.data_dir, embedder)

    argv = ["--data-dir", str(tmp_path / "sqlite"), "-q", "copy-store", "--to", pg_database]
    assert cli.main(argv, service=factory) == 0
    out = capsys.readouterr().out
    assert "copied 2 collections, 3 articles and" in out and "checksums match" in out

    with make_service(tmp_path / "pg", embedder, database_url=pg_database) as pg:
        assert pg.check() == []
        after = {c: pg.search(c, "volcano lava strike") for c in ("news", "other")}
        assert [(h.chunk_id, h.title) for h in after["news"]] == [
            (h.chunk_id, h.title) for h in before["news"]
        ]
        assert [h.chunk_id for h in after["other"]] == [h.chunk_id for h in before["other"]]
        got = pg.store.chunks.vectors(list(vectors))
        assert all(np.array_equal(got[i], v) for i, v in vectors.items())
        pg.ingest(
            "news", [VOLCANO.__class__(**{**VOLCANO.__dict__, "text": VOLCANO.text + " Later."})]
        )
    assert embedder.texts > embedded  # only the new article was embedded...
    assert embedder.texts - embedded < 10  # ...not the copied ones

    # a second copy into the same database is refused, nothing changed
    assert cli.main(argv, service=factory) == 1
    assert "already holds collections" in capsys.readouterr().err


@pytest.mark.parametrize("url", ["sqlite:///x", "mysql://db"])
def test_copy_store_wants_a_postgresql_url(tmp_path, url, capsys):
    def factory(args):
        return make_service(args.data_dir)

    argv = ["--data-dir", str(tmp_path / "d"), "copy-store", "--to", url]
    assert cli.main(argv, service=factory) == 1
    assert "postgresql://" in capsys.readouterr().err


def test_copy_store_moves_answers_votes_watches_alerts_and_digests(tmp_path, pg_database):
    from index.store import CitedRef
    from index.store.copy import copy_sqlite_to_postgres
    from index.store.postgres import PostgresStore

    with make_service(tmp_path / "sqlite") as svc:
        svc.ingest("news", [VOLCANO, STRIKE])
        store = svc.store
        cid = store.collections.id_of("news")
        cited = [CitedRef(1, VOLCANO.title, "Reuters", None, "2023-12-18")]
        answers = [
            store.feedback.record(
                cid,
                f"question {i}",
                citations=cited,
                asked_by="10",
                channel_id=1_300_000_000_000_000_001,
                since=None,
                until="2023-12-31",
                as_of="2023-12-20",
            )
            for i in range(3)
        ]
        store.feedback.set_message(answers[0], 1_300_000_000_000_000_002)
        store.feedback.vote(answers[0], "alice", -1)
        store.feedback.vote(answers[0], "bob", 1)
        vec = np.linspace(0, 1, 8, dtype=np.float32)
        watch = store.watches.add(cid, "volcanoes", vec, owner="10", channel_id=None)
        assert store.watches.mark_alerted(watch.id, 1, VOLCANO.title, 0.61)
        store.digests.set(cid, 6, 7, "Europe/Paris")
        assert store.digests.sent(cid, "2026-11-30")
        before = (
            [store.feedback.get(a) for a in answers],
            store.feedback.worst(None),
            store.watches.vectors(cid),
            store.digests.all(),
        )
        report = copy_sqlite_to_postgres(store, pg_database)

    tables = ("answers", "answer_votes", "watches", "watch_alerts", "digests")
    assert [report.counts[t] for t in tables] == [3, 2, 1, 1, 1]  # verified equal to SQLite's
    pg = PostgresStore(pg_database)
    try:
        assert [pg.feedback.get(a) for a in answers] == before[0]
        assert pg.feedback.by_message(1_300_000_000_000_000_002) == before[0][0]
        assert pg.feedback.worst(None) == before[1]
        [(got, got_vec)] = pg.watches.vectors(cid)
        assert got == before[2][0][0] and np.array_equal(got_vec, vec)
        assert pg.watches.mark_alerted(watch.id, 1, VOLCANO.title, 0.7) is False  # already sent
        assert pg.digests.all() == before[3]
        assert pg.digests.sent(cid, "2026-11-30") is False
        # the sequences follow the copied ids: new rows get new ones
        assert pg.feedback.record(
            cid,
            "q",
            citations=[],
            asked_by=None,
            channel_id=None,
            since=None,
            until=None,
            as_of=None,
        ) > max(answers)
        assert pg.watches.add(cid, "t", vec, owner="1", channel_id=None).id > watch.id
    finally:
        pg.close()
