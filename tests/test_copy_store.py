"""``newsbot copy-store --to postgresql://…``: an SQLite store moved to PostgreSQL with its
vectors (never re-embedded), verified, and answering the same afterwards."""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from test_service import STRIKE, VOLCANO

from fake_embedder import FakeEmbedder
from fakecli import run, start
from helpers import make_service
from index import cli


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
    # run again: the database holds exactly this store, so it is verified, not copied twice
    assert cli.main(argv, service=factory) == 0
    out = capsys.readouterr().out
    assert "already holds this store's 2 collections, 3 articles and" in out
    assert "checksums match" in out

    with make_service(tmp_path / "pg", embedder, database_url=pg_database) as pg:
        assert pg.check() == []
        after = {c: pg.search(c, "volcano lava strike") for c in ("news", "other")}
        assert [(h.chunk_id, h.title) for h in after["news"]] == [
            (h.chunk_id, h.title) for h in before["news"]
        ]
        assert [h.chunk_id for h in after["other"]] == [h.chunk_id for h in before["other"]]
        got = pg.store.chunks.vectors(list(vectors))
        assert all(np.array_equal(got[i], v) for i, v in vectors.items())
        assert pg.ingest("other", [STRIKE]).added
    assert embedder.texts > embedded  # only the new article was embedded...
    assert embedder.texts - embedded < 10  # ...not the copied ones

    # once the database has moved on it is no copy of this store: refused, nothing changed
    assert cli.main(argv, service=factory) == 1
    err = capsys.readouterr().err
    assert "already holds collections and is not a copy of this store" in err
    assert "articles: 3 rows in SQLite, 4 in PostgreSQL" in err
    with make_service(tmp_path / "pg", embedder, database_url=pg_database) as pg:
        assert [a.title for a in pg.sources("other")] == [VOLCANO.title, STRIKE.title]


@pytest.mark.parametrize("url", ["sqlite:///x", "mysql://db"])
def test_copy_store_wants_a_postgresql_url(tmp_path, url, capsys):
    def factory(args):
        return make_service(args.data_dir)

    argv = ["--data-dir", str(tmp_path / "d"), "copy-store", "--to", url]
    assert cli.main(argv, service=factory) == 1
    assert "postgresql://" in capsys.readouterr().err


def test_copy_store_moves_answers_votes_watches_alerts_and_digests(tmp_path, pg_database):
    from index.features.feedback import CitedRef
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


def test_copy_store_gives_out_no_id_the_sqlite_store_had_given(tmp_path, pg_database):
    """SQLite's counters come along: the newest article, watch and feed removed before the copy
    keep their ids unused in PostgreSQL too."""
    from test_ids import LAVA, TOPIC

    with make_service(tmp_path / "sqlite") as svc:
        svc.ingest("news", [STRIKE, VOLCANO])
        chunks = {int(i) for i in svc.store.chunks.ids(1)}
        svc.forget("news", 2)
        svc.watches.add("news", TOPIC, owner="10", channel_id=None)
        watch = svc.watches.add("news", "strike", owner="11", channel_id=None)
        svc.watches.remove("news", watch.id, by="11", admin=False)
        feed = svc.store.feeds.add(1, "http://127.0.0.1:9/a.xml", added_by="t", interval_seconds=60)
        svc.remove_feed("news", feed.id)
    argv = ["--data-dir", str(tmp_path / "sqlite"), "-q", "copy-store", "--to", pg_database]
    assert cli.main(argv, service=lambda args: make_service(args.data_dir)) == 0

    with make_service(tmp_path / "pg", database_url=pg_database) as pg:
        lava = pg.ingest("news", [LAVA]).added[0]
        assert lava.article_id > 2
        assert min({int(i) for i in pg.store.chunks.ids(1)} - chunks) > max(chunks)
        assert pg.watches.add("news", "bridge", owner="12", channel_id=None).id > watch.id
        again = pg.store.feeds.add(1, "http://127.0.0.1:9/b.xml", added_by="t", interval_seconds=60)
        assert again.id > feed.id


def test_a_store_copied_before_the_counters_came_along_migrates_past_what_it_refers_to(
    tmp_path, pg_database
):
    """copy-store used to set PostgreSQL's sequences to the highest id SQLite still held: after
    its newest article had been forgotten there, that id came back. The migration moves each
    sequence past the ids still referred to (here: the alert kept for the forgotten article)."""
    import psycopg
    from test_ids import BARS, LAVA, TOPIC

    with make_service(tmp_path / "pg", database_url=pg_database, **BARS) as pg:
        pg.ingest("news", [STRIKE])
        watch = pg.watches.add("news", TOPIC, owner="10", channel_id=None)
        volcano = pg.ingest("news", [VOLCANO]).added[0]
        assert [a.article_id for a in pg.watches.scan("news")[0]] == [volcano.article_id]
        pg.forget("news", volcano.article_id)
    with psycopg.connect(pg_database, autocommit=True) as conn:  # what the old copy left
        conn.execute("SELECT setval('articles_id_seq', 1)")
        conn.execute("DELETE FROM schema_version WHERE version >= 3")

    with make_service(tmp_path / "pg", database_url=pg_database, **BARS) as pg:
        lava = pg.ingest("news", [LAVA]).added[0]
        assert lava.article_id > volcano.article_id
        alerts, _ = pg.watches.scan("news")
        assert [(a.watch_id, a.article_id) for a in alerts] == [(watch.id, lava.article_id)]


# -- a copy stopped part-way: a real process, stopped at a moment a lock makes certain --------


def _store(data: Path) -> None:
    with make_service(data) as svc:
        svc.ingest("news", [VOLCANO, STRIKE])


def _waits_on_lock(url: str, statement: str, seconds: float = 30.0) -> None:
    """Until a session of ``url`` waits for a table lock while running ``statement``."""
    import psycopg

    deadline = time.monotonic() + seconds
    with psycopg.connect(url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = conn.execute(
                "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND wait_event_type = 'Lock' AND query LIKE %s",
                (statement + "%",),
            ).fetchone()
            if row[0]:
                return
            time.sleep(0.02)
    raise AssertionError(f"no session of the database waited on a lock in {statement!r}")


@contextmanager
def _locked(url: str, table: str, *, wait: bool = True) -> Iterator[threading.Event]:
    """Hold ``table`` exclusively (reads too wait) until the block ends. ``wait=False``: ask
    for it from a thread, so it is granted when whoever holds the table now commits (the
    event is set then), and every later reader queues behind it."""
    import psycopg

    conn = psycopg.connect(url, autocommit=True)
    granted = threading.Event()

    def take() -> None:
        conn.execute("BEGIN")
        conn.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
        granted.set()

    thread = threading.Thread(target=take, daemon=True)
    try:
        if wait:
            take()
        else:
            thread.start()
        yield granted
    finally:
        if not wait:
            thread.join(30)
        conn.execute("ROLLBACK")
        conn.close()


def _collections(url: str) -> int:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute("SELECT COUNT(*) FROM collections").fetchone()[0]


def _stop(proc: subprocess.Popen, how: signal.Signals) -> str:
    proc.send_signal(how)
    try:
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    return err


@pytest.mark.timeout(120)
def test_ctrl_c_before_the_commit_copies_nothing_and_says_so(tmp_path, pg_database):
    data = tmp_path / "sqlite"
    _store(data)
    with _locked(pg_database, "digests"):  # the last table copied: the copy waits there
        proc = start(data, "copy-store", "--to", pg_database)
        _waits_on_lock(pg_database, "COPY digests")
        err = _stop(proc, signal.SIGINT)
    assert proc.returncode == 130, err
    name = "postgresql://127.0.0.1" + pg_database.split("127.0.0.1", 1)[1]
    assert (
        f"newsbot: interrupted: nothing was copied: the copy was rolled back and {name} is"
        " still empty"
    ) in err
    assert "Traceback" not in err and "everything stored before it is kept" not in err
    assert _collections(pg_database) == 0
    again = run(data, "copy-store", "--to", pg_database)
    assert again.returncode == 0 and "copied 1 collections, 2 articles" in again.stdout


@pytest.mark.timeout(120)
@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGINT])
def test_a_copy_stopped_while_verifying_is_verified_by_running_it_again(tmp_path, pg_database, how):
    """Killed (or Ctrl-C) after its commit, the copy is whole; the same command run again
    verifies it instead of refusing a database that is not empty."""
    data = tmp_path / "sqlite"
    _store(data)
    with _locked(pg_database, "digests"):  # the copy waits before its commit...
        proc = start(data, "copy-store", "--to", pg_database)
        _waits_on_lock(pg_database, "COPY digests")
        verifying = _locked(pg_database, "meta", wait=False)
        committed = verifying.__enter__()  # ...and its first read of meta, after it
        _waits_on_lock(pg_database, "LOCK TABLE meta")
    try:  # the copy commits; its verification waits on meta
        assert committed.wait(30)
        _waits_on_lock(pg_database, "SELECT COUNT(*) FROM meta")
        assert _collections(pg_database) == 1
        err = _stop(proc, how)
    finally:
        verifying.__exit__(None, None, None)
    if how == signal.SIGINT:
        assert proc.returncode == 130, err
        assert "whole but not verified: run the same copy-store again to verify it" in err
        assert "Traceback" not in err
    else:
        assert proc.returncode == -signal.SIGKILL

    again = run(data, "copy-store", "--to", pg_database)
    assert again.returncode == 0, again.stderr
    assert "already holds this store's 1 collections, 2 articles and" in again.stdout
    assert "counts and checksums match" in again.stdout
    with make_service(tmp_path / "pg", database_url=pg_database) as pg:
        assert pg.check() == []
        assert [a.title for a in pg.sources("news")] == [VOLCANO.title, STRIKE.title]

    if how == signal.SIGINT:
        return
    # a store that has moved on (one article more) is no copy of what is there: refused
    with make_service(data) as svc:
        assert svc.ingest("other", [STRIKE]).added
    refused = run(data, "copy-store", "--to", pg_database)
    assert refused.returncode == 1
    assert "already holds collections and is not a copy of this store" in refused.stderr
    assert "articles: 3 rows in SQLite, 2 in PostgreSQL" in refused.stderr
    assert _collections(pg_database) == 1
