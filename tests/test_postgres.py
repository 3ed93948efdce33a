"""What only a shared PostgreSQL store does: several processes (here: several stores and services
on one database, each with its own folder of derived indexes, as on its own host) writing,
polling and following each other. Multi-process runs of the real CLI are in test_processes."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from test_service import STRIKE, VOLCANO

from helpers import FAKE_EMBEDDER_BARS, make_service
from index.errors import BusyError, DuplicateError, NotFoundError
from index.models import ChunkSpan
from index.store import NewArticle

psycopg = pytest.importorskip("psycopg", reason="the 'postgres' extra is not installed")
from index.store.postgres import PostgresStore  # noqa: E402

pytestmark = pytest.mark.timeout(60)


def article(text: str, n: int = 3, **kw) -> NewArticle:
    chunks = [ChunkSpan(i, i * 10, i * 10 + 9, f"{text} part {i}") for i in range(n)]
    return NewArticle(
        title=kw.pop("title", text),
        source=None,
        published_at=None,
        url=None,
        author=None,
        text=text,
        content_hash=kw.pop("content_hash", f"h-{text}"),
        chunks=chunks,
        vectors=np.random.default_rng(0).random((n, 4), dtype=np.float32),
        **kw,
    )


@pytest.fixture
def two(pg_database):
    a, b = PostgresStore(pg_database), PostgresStore(pg_database)
    yield a, b
    a.close()
    b.close()


def test_vectors_round_trip_as_little_endian_float32(two):
    a, _ = two
    cid = a.collections.id_of("c", create=True)
    art = article("alpha")
    [(_, ids)] = a.articles.add(cid, [art])
    got = a.chunks.vectors(ids)
    assert np.array_equal(np.stack([got[i] for i in ids]), art.vectors)
    (vid, vecs), *_ = list(a.chunks.iter_vectors(cid))
    assert vid.tolist() == ids and vecs.dtype == np.float32
    raw = a.value(
        "SELECT v.vector FROM chunks ch JOIN vectors v ON v.id = ch.vector_id WHERE ch.id = ?",
        (ids[0],),
    )
    assert bytes(raw) == art.vectors[0].astype("<f4").tobytes()


def test_the_same_article_from_two_stores_is_stored_once(two):
    a, b = two
    cid = a.collections.id_of("c", create=True)
    a.articles.add(cid, [article("alpha")])
    with pytest.raises(DuplicateError):
        b.articles.add(cid, [article("alpha")])
    assert a.collections.counts(cid) == (1, 3)
    assert a.integrity_problems() == []


def test_writers_of_one_collection_wait_for_each_other_not_for_other_collections(two):
    a, b = two
    one, other = a.collections.id_of("one", create=True), a.collections.id_of("two", create=True)
    held, release = threading.Event(), threading.Event()

    def writer() -> None:
        with a.transaction():
            a.collections.version(one)  # takes the collection's lock
            held.set()
            release.wait(10)
            a.articles.add(one, [article("first")])

    t = threading.Thread(target=writer)
    t.start()
    try:
        assert held.wait(10)
        start = time.monotonic()
        b.articles.add(other, [article("elsewhere")])  # another collection: no wait
        assert time.monotonic() - start < 2
        done = threading.Event()

        def second() -> None:
            with b.transaction():
                seen = b.articles.by_text(one, "h-first")
                if seen is None:
                    b.articles.add(one, [article("first")])
            done.set()

        t2 = threading.Thread(target=second)
        t2.start()
        assert not done.wait(0.5)  # waits for the first writer's lock
    finally:
        release.set()
        t.join(10)
    t2.join(10)
    assert done.is_set()
    assert a.collections.counts(one) == (1, 3)  # the second found it stored: once


def test_a_rebuild_anywhere_refuses_a_second(two):
    a, b = two
    with (
        a.exclusive("rebuild"),
        pytest.raises(BusyError, match="already running"),
        b.exclusive("rebuild"),
    ):
        pass
    with b.exclusive("rebuild"):
        pass


# -- the feature parts (answers and votes, watches, digests) across processes ------------------


def race(calls: list) -> list:
    """Run ``calls`` at once (one thread each, released together); their results, in order."""
    start = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def run(i: int) -> None:
        start.wait(10)
        results[i] = calls[i]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    return results


def record(store: PostgresStore, cid: int, question: str, keep: int = 200) -> int:
    return store.feedback.record(
        cid,
        question,
        citations=[],
        asked_by=None,
        channel_id=77,
        since=None,
        until=None,
        as_of=None,
        keep=keep,
    )


def test_a_server_restart_is_invisible_to_members(tmp_path, pg_server, pg_database):
    """After an administrator restarts PostgreSQL, every connection a process holds is dead.
    The next question, search and ingest still succeed, without the pool's back-off (1, 2,
    4 … s for each dead connection it tries)."""
    import pg_cluster

    if not pg_cluster.restartable(pg_server):
        pytest.skip("a server these tests did not start (NEWSBOT_TEST_DATABASE_URL)")
    with make_service(tmp_path / "d", database_url=pg_database, **FAKE_EMBEDDER_BARS) as svc:
        svc.ingest("news", [VOLCANO])
        # members asking at once: several connections, all idle in the pool at the restart
        assert all(race([lambda: svc.search("news", "volcano lava")] * 4))
        pg_cluster.restart(pg_server)
        started = time.monotonic()
        hits = svc.search("news", "volcano lava Grindavik")
        assert hits and hits[0].title == VOLCANO.title
        assert time.monotonic() - started < 5
        answer = svc.ask("news", "Where did the volcano erupt?")
        assert answer.found and answer.citations[0].title == VOLCANO.title
        pg_cluster.restart(pg_server)
        assert svc.ingest("news", [STRIKE]).added
        assert svc.check() == []


def test_a_member_has_one_vote_whichever_process_counts_it(two):
    a, b = two
    cid = a.collections.id_of("c", create=True)
    answer = record(a, cid, "q?")
    for _ in range(5):
        race(
            [
                lambda: a.feedback.vote(answer, "alice", 1),
                lambda: b.feedback.vote(answer, "alice", -1),
            ]
        )
    got = b.feedback.get(answer)
    assert got.up + got.down == 1  # one vote, the last one
    race([lambda: a.feedback.vote(answer, "bob", -1), lambda: b.feedback.vote(answer, "carol", -1)])
    assert a.feedback.get(answer).down == got.down + 2
    assert a.value("SELECT COUNT(*) FROM answer_votes") == 3


def test_an_answer_voted_in_one_process_is_not_pruned_by_another(two):
    a, b = two
    cid = a.collections.id_of("c", create=True)
    old = record(a, cid, "old")
    recorded = threading.Event()

    def prune() -> None:
        record(a, cid, "new", keep=1)  # would prune "old", unvoted when it began
        recorded.set()

    with b.transaction():  # b's vote holds the channel until it commits
        b.feedback.vote(old, "alice", -1)
        t = threading.Thread(target=prune)
        t.start()
        assert not recorded.wait(0.5)  # a waits for the channel
    t.join(10)
    assert recorded.is_set()
    assert a.feedback.get(old).down == 1  # voted: kept
    assert [r.question for r in a.feedback.worst(cid)] == ["old"]

    unvoted = record(a, cid, "unvoted")
    record(b, cid, "newest", keep=1)  # another process prunes the unvoted one...
    with pytest.raises(NotFoundError):
        a.feedback.vote(unvoted, "alice", 1)  # ...and a vote on it says so


def test_two_processes_scanning_one_article_alert_once(two):
    a, b = two
    cid = a.collections.id_of("c", create=True)
    vec = np.ones(4, dtype=np.float32) / 2
    watch = a.watches.add(cid, "topic", vec, owner="1", channel_id=None)
    assert [w for w, _ in b.watches.vectors(cid)] == [watch]
    new = [
        n
        for article_id in range(1, 11)
        for n in race(
            [
                lambda i=article_id: a.watches.mark_alerted(watch.id, i, f"t{i}", 0.6),
                lambda i=article_id: b.watches.mark_alerted(watch.id, i, f"t{i}", 0.6),
            ]
        )
    ]
    assert new.count(True) == 10 and new.count(False) == 10  # one of each pair
    assert b.value("SELECT COUNT(*) FROM watch_alerts WHERE watch_id = ?", (watch.id,)) == 10
    b.watches.remove(cid, watch.id)  # another process removes the watch mid-scan
    assert a.watches.mark_alerted(watch.id, 11, "t11", 0.6) is False
    assert a.value("SELECT COUNT(*) FROM watch_alerts") == 0


def test_the_alert_scan_continues_where_another_process_left_it(tmp_path, pg_database):
    one = make_service(
        tmp_path / "one", database_url=pg_database, alert_bar=0.3, **FAKE_EMBEDDER_BARS
    )
    two = make_service(
        tmp_path / "two", database_url=pg_database, alert_bar=0.3, **FAKE_EMBEDDER_BARS
    )
    try:
        one.ingest("news", [STRIKE])
        one.watches.add("news", "volcano eruption lava Grindavik", owner="1", channel_id=None)
        cid = two.store.collections.id_of("news")
        assert two.store.get_meta(f"alerts.seen.{cid}") == str(
            two.store.watches.latest_article_id(cid)
        )
        two.ingest("news", [VOLCANO])
        alerts, looked = two.watches.scan("news")
        assert looked == 1 and [a.title for a in alerts] == [VOLCANO.title]
        assert one.watches.scan("news") == ([], 0)  # two's scan is one's too
        one.store.set_meta(f"alerts.seen.{cid}", "0")
        assert one.watches.scan("news")[0] == []  # looked again: alerted once already
    finally:
        one.close()
        two.close()


def test_a_digest_day_is_sent_by_one_process(two):
    a, b = two
    cid = a.collections.id_of("c", create=True)
    a.digests.set(cid, 5, 8, "UTC")
    assert b.digests.get(cid) == a.digests.get(cid)
    sent = [
        s
        for day in range(1, 11)
        for s in race(
            [
                lambda d=day: a.digests.sent(cid, f"2026-11-{d:02d}"),
                lambda d=day: b.digests.sent(cid, f"2026-11-{d:02d}"),
            ]
        )
    ]
    assert sent.count(True) == 10  # each day once, by one of them
    assert a.digests.get(cid).last_day == "2026-11-10"


# A database of this version taken back to schema 4 (its vectors in their chunks' rows).
BACK_TO_SCHEMA_4 = """
ALTER TABLE chunks ADD COLUMN vector BYTEA;
UPDATE chunks SET vector = v.vector FROM vectors v WHERE v.id = chunks.vector_id;
ALTER TABLE chunks ALTER COLUMN vector SET NOT NULL;
ALTER TABLE chunks DROP COLUMN vector_id;
DROP TABLE vectors;
DELETE FROM schema_version WHERE version >= 5;
"""


def test_a_schema_4_database_keeps_its_vectors_and_the_next_ingest_merges_their_copies(
    tmp_path, pg_database
):
    from fake_embedder import FakeEmbedder
    from index.store.postgres import SCHEMA_VERSION

    def hits(svc, collection: str) -> list[tuple[int, float]]:
        return [(h.chunk_id, round(h.score, 5)) for h in svc.search(collection, "volcano strike")]

    with make_service(tmp_path / "p", database_url=pg_database) as svc:
        svc.ingest("a", [VOLCANO, STRIKE])
        svc.ingest("b", [VOLCANO])
        before = {c: hits(svc, c) for c in ("a", "b")}
        chunks = svc.stats("a")["chunks"] + svc.stats("b")["chunks"]
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute(BACK_TO_SCHEMA_4)
        columns = [
            r[0]
            for r in conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = 'chunks'"
                " ORDER BY ordinal_position"
            )
        ]  # as pg_migrations/001 made the table
        assert columns == [
            "id",
            "article_id",
            "collection_id",
            "ordinal",
            "start",
            "end",
            "text",
            "vector",
        ]
    model = FakeEmbedder()
    with make_service(tmp_path / "p", model, database_url=pg_database) as svc:
        assert svc.store.value("SELECT MAX(version) FROM schema_version") == SCHEMA_VERSION
        assert svc.store.vectors.count() == chunks  # moved as they were
        assert {c: hits(svc, c) for c in ("a", "b")} == before
        assert model.embedded == 2  # the two questions: nothing re-embedded
        report = svc.ingest("c", [VOLCANO])
        assert report.embedded == 0 and model.embedded == 2
        assert svc.store.vectors.count() == svc.stats("a")["chunks"]  # the copies merged
        assert {c: hits(svc, c) for c in ("a", "b")} == before
        assert svc.check() == []
