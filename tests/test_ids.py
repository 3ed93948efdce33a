"""Ids are given out once, on either backend: the id of an article, its chunks, a watch, a feed
or an answer removed while it was the newest is not given to the next one (a watch that had
alerted for the old one would stay silent, an old alert's "/watch remove N" would name another
member's watch, feedback would list another article under the old number). A store made before
SQLite counted its ids (schema 4) migrates and keeps the promise from then on."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

import pytest
from test_service import STRIKE, VOLCANO, doc

from fakecli import run
from helpers import FAKE_EMBEDDER_BARS, make_service
from index.errors import NotFoundError
from index.features.feedback import CitedRef
from index.service import NewsService
from index.settings import CoreSettings

pytestmark = [pytest.mark.timeout(60), pytest.mark.backends]

TOPIC = "volcano eruption lava Grindavik"
LAVA = doc(
    "Lava reaches Grindavik as residents flee",
    "Lava from the Reykjanes volcano reached the edge of Grindavik on Sunday after a new "
    "eruption opened a fissure north of the town. Residents who had returned were evacuated "
    "again.\n\nThe eruption set several houses on fire, officials said.",
    source="AP",
    published_at="2024-01-14",
)
HARBOUR = doc(
    "Harbour bridge reopens after repairs",
    "The harbour bridge reopened to traffic on Friday after eight months of repairs to its "
    "deck and cables. The council said the work finished under budget.\n\nFerries that had "
    "carried commuters during the closure return to their normal timetable.",
    source="Gazette",
    published_at="2024-02-02",
)
BARS = {"alert_bar": 0.3, **FAKE_EMBEDDER_BARS}


@pytest.fixture
def svc(settings: CoreSettings) -> Iterator[NewsService]:
    with make_service(settings, **BARS) as service:
        yield service


def chunk_ids(svc: NewsService) -> set[int]:
    return {int(i) for i in svc.store.chunks.ids(svc.store.collections.id_of("news"))}


def test_the_newest_article_forgotten_gives_its_ids_to_no_later_one(svc: NewsService):
    svc.ingest("news", [STRIKE])
    watch = svc.watches.add("news", TOPIC, owner="10", channel_id=None)
    volcano = svc.ingest("news", [VOLCANO]).added[0]
    alerts, _ = svc.watches.scan("news")
    assert [(a.watch_id, a.article_id) for a in alerts] == [(watch.id, volcano.article_id)]
    before = chunk_ids(svc)

    assert svc.forget("news", volcano.article_id).id == volcano.article_id  # the newest
    lava = svc.ingest("news", [LAVA]).added[0]
    assert lava.article_id > volcano.article_id
    assert min(chunk_ids(svc) - before) > max(before)  # its chunks' ids are new ones too
    alerts, _ = svc.watches.scan("news")  # the watch alerted for the old number: not this one
    assert [(a.watch_id, a.article_id, a.title) for a in alerts] == [
        (watch.id, lava.article_id, LAVA.title)
    ]
    with pytest.raises(NotFoundError):
        svc.article("news", volcano.article_id)
    assert svc.check() == []


def test_a_removed_newest_watch_feed_or_answer_leaves_its_id_unused(svc: NewsService) -> None:
    svc.watches.add("news", TOPIC, owner="10", channel_id=None)
    theirs = svc.watches.add("news", "auto workers strike", owner="11", channel_id=None)
    svc.watches.remove("news", theirs.id, by="11", admin=False)
    mine = svc.watches.add("news", "harbour bridge repairs", owner="12", channel_id=None)
    assert mine.id > theirs.id  # an old alert's "/watch remove N" names nobody else's watch
    with pytest.raises(NotFoundError):
        svc.watches.get(theirs.id)

    cid = svc.store.collections.id_of("news")
    feeds = svc.store.feeds
    feeds.add(cid, "http://127.0.0.1:9/a.xml", added_by="t", interval_seconds=600)
    newest = feeds.add(cid, "http://127.0.0.1:9/b.xml", added_by="t", interval_seconds=600)
    svc.remove_feed("news", newest.id)
    again = feeds.add(cid, "http://127.0.0.1:9/c.xml", added_by="t", interval_seconds=600)
    assert again.id > newest.id

    # No command deletes the newest answer today (a channel's pruning keeps the newest); the
    # schema keeps the promise all the same.
    def answer(question: str) -> int:
        return svc.store.feedback.record(
            cid,
            question,
            citations=[CitedRef(1, "A title")],
            asked_by="10",
            channel_id=7,
            since=None,
            until=None,
            as_of=None,
        )

    answer("first?")
    second = answer("second?")
    svc.store.run("DELETE FROM answers WHERE id = ?", (second,))
    assert answer("third?") > second


@pytest.mark.sqlite_only  # SQLite's own file and schema
def test_a_schema_4_store_migrates_and_gives_out_no_id_twice(tmp_path, monkeypatch):
    """A store of the release before (its newest article already forgotten) opens with its
    rows, ids and FAISS index as they were, passes `newsbot check`, and from then on counts."""
    from index.store import schema

    data = tmp_path / "data"
    with monkeypatch.context() as m:
        m.setattr(schema, "SCHEMA_VERSION", 4)  # the schema the release before created
        # with the chunk log and the vectors table this code writes, taken away below: the
        # release before kept neither
        m.setitem(schema.MIGRATIONS, 4, schema.MIGRATIONS[4] + schema.MIGRATIONS[7] + VECTORS_SHIM)
        with make_service(data, **BARS) as svc:
            svc.ingest("news", [STRIKE])
            watch = svc.watches.add("news", TOPIC, owner="10", channel_id=None)
            volcano = svc.ingest("news", [VOLCANO]).added[0]
            assert [a.article_id for a in svc.watches.scan("news")[0]] == [volcano.article_id]
            svc.forget("news", volcano.article_id)  # the newest, before the upgrade
            found = [(h.chunk_id, h.title) for h in svc.search("news", "auto workers union")]
            assert found
            db = svc.store.db
            assert db.execute("PRAGMA user_version").fetchone()[0] == 4
            assert "AUTOINCREMENT" not in tables_sql(db)
    with sqlite3.connect(data / "newsbot.sqlite3") as db:
        db.executescript(
            "DROP TABLE chunk_log; DROP INDEX article_sources_once;"
            " ALTER TABLE collections DROP COLUMN logged_from;" + VECTORS_UNSHIM
        )
    index_file = data / "faiss" / "collection-1.faiss"
    saved = (index_file.stat().st_mtime_ns, index_file.read_bytes())

    check = run(data, "check")  # the first process of this version migrates, then checks
    assert (check.returncode, check.stdout) == (0, "ok\n"), check.stderr
    assert (index_file.stat().st_mtime_ns, index_file.read_bytes()) == saved  # not rebuilt

    with make_service(data, **BARS) as svc:
        db = svc.store.db
        assert db.execute("PRAGMA user_version").fetchone()[0] == schema.SCHEMA_VERSION
        assert tables_sql(db).count("AUTOINCREMENT") == 6  # vectors too (schema 8)
        assert db.execute("PRAGMA foreign_key_check").fetchall() == []
        assert [(h.chunk_id, h.title) for h in svc.search("news", "auto workers union")] == found
        # the alert kept for the forgotten article remembers its number
        lava = svc.ingest("news", [LAVA]).added[0]
        assert lava.article_id > volcano.article_id
        alerts, _ = svc.watches.scan("news")
        assert [(a.watch_id, a.article_id) for a in alerts] == [(watch.id, lava.article_id)]
        # and from now on ids are counted: the newest forgotten again
        before = chunk_ids(svc)
        svc.forget("news", lava.article_id)
        harbour = svc.ingest("news", [HARBOUR]).added[0]
        assert harbour.article_id > lava.article_id
        assert min(chunk_ids(svc) - before) > max(before)
        # deleting an article still takes its chunks, their full-text rows and the rest along
        svc.forget("news", harbour.article_id)
        assert svc.check() == []
        assert db.execute("SELECT COUNT(*) FROM chunks_fts").fetchone()[0] == len(chunk_ids(svc))
        assert db.execute("SELECT COUNT(*) FROM article_versions").fetchone()[0] == 1


# Schema 8's vectors table at schema 4 (no id counters yet), for this code to write to; and the
# chunks table as schema 4 had it back, each vector in its chunk's row.
VECTORS_SHIM = """
CREATE TABLE vectors (id INTEGER PRIMARY KEY, digest BLOB UNIQUE, vector BLOB NOT NULL);
DROP TABLE chunks;
CREATE TABLE chunks (
    id INTEGER PRIMARY KEY,
    article_id INTEGER NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
    ordinal INTEGER NOT NULL, start INTEGER NOT NULL, "end" INTEGER NOT NULL,
    text TEXT NOT NULL, vector_id INTEGER NOT NULL REFERENCES vectors(id)
);
CREATE INDEX chunks_article ON chunks (article_id);
CREATE TRIGGER chunks_fts_delete AFTER DELETE ON chunks BEGIN
    DELETE FROM chunks_fts WHERE rowid = old.id;
END;
"""
VECTORS_UNSHIM = """
CREATE TABLE chunks_old (
    id INTEGER PRIMARY KEY,
    article_id INTEGER NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
    ordinal INTEGER NOT NULL, start INTEGER NOT NULL, end INTEGER NOT NULL,
    text TEXT NOT NULL, vector BLOB NOT NULL
);
INSERT INTO chunks_old SELECT ch.id, ch.article_id, ch.ordinal, ch.start, ch."end", ch.text,
    v.vector FROM chunks ch JOIN vectors v ON v.id = ch.vector_id;
DROP TABLE chunks;
DROP TABLE vectors;
ALTER TABLE chunks_old RENAME TO chunks;
CREATE INDEX chunks_article ON chunks (article_id);
CREATE TRIGGER chunks_fts_delete AFTER DELETE ON chunks BEGIN
    DELETE FROM chunks_fts WHERE rowid = old.id;
END;
"""


def tables_sql(db: sqlite3.Connection) -> str:
    return " ".join(r[0] for r in db.execute("SELECT sql FROM sqlite_master WHERE type = 'table'"))
