"""Several ``newsbot`` processes on one data folder, as a server's bot and its admin's command
line share it: real processes (``tests/fakecli.py``: the real CLI, the fake embedder), every
wait bounded. The races that are not about SQLite's file run on PostgreSQL too (one database,
``NEWSBOT_DATABASE_URL`` in every process's environment).
"""

from __future__ import annotations

import signal
import sqlite3
import time
from pathlib import Path

import pytest

from fakecli import articles, run, start, start_together

pytestmark = pytest.mark.backends


def finish(procs, timeout: float = 60) -> list[tuple[int, str, str]]:
    out = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=timeout)
        out.append((p.returncode, stdout, stderr))
    return out


def stored(data: Path, sql: str = "SELECT COUNT(*) FROM articles", url: str = "") -> int:
    if url:
        import psycopg

        with psycopg.connect(url, autocommit=True) as conn:
            return conn.execute(sql).fetchone()[0]
    con = sqlite3.connect(data / "newsbot.sqlite3", timeout=10)
    try:
        return con.execute(sql).fetchone()[0]
    except sqlite3.OperationalError:  # not created yet
        return 0
    finally:
        con.close()


@pytest.mark.sqlite_only
def test_three_processes_opening_a_new_data_folder_at_once_all_work(tmp_path: Path) -> None:
    """Each read the schema version, found none and ran the first migration: "table meta
    already exists", "duplicate column name: guid", "database is locked".

    One folder is held by another writer while three commands open it, so all three find it
    unmigrated and then queue for the lock (the race, every time); two more are plain new
    folders opened by three commands at one moment.
    """
    held = tmp_path / "held"
    held.mkdir()
    lock = sqlite3.connect(held / "newsbot.sqlite3", isolation_level=None)
    lock.execute("PRAGMA journal_mode=WAL")
    lock.execute("BEGIN IMMEDIATE")
    together = start_together(2.5)
    procs = [
        start(data, *args, **together)
        for data in (held, tmp_path / "new1", tmp_path / "new2")
        for args in (("stats",), ("sources",), ("feeds", "list"))
    ]
    time.sleep(max(0.0, float(together["FAKE_START_AT"]) + 1.0 - time.time()))
    lock.execute("COMMIT")
    lock.close()
    assert [err.strip() for code, _, err in finish(procs) if code != 0] == []


def test_rebuilds_and_ingests_in_parallel_processes_all_succeed(
    tmp_path: Path, database_url: str
) -> None:
    """Every process saved through the same collection-1.faiss.tmp: two at once failed with
    FileNotFoundError, and an ingest whose save failed dropped its articles' group. On a shared
    PostgreSQL store a rebuild runs in one process at a time: the others are refused, saying so."""
    db = {"NEWSBOT_DATABASE_URL": database_url}
    data = tmp_path / "data"
    base = tmp_path / "base.jsonl"
    base.write_text(articles(80, "base"))
    assert run(data, "ingest", str(base), **db).returncode == 0
    files = []
    for tag in ("amber", "cobalt"):
        files.append(tmp_path / f"{tag}.jsonl")
        files[-1].write_text(articles(30, tag))
    together = start_together(2.5)
    # On PostgreSQL each process has its own folder of derived indexes, as on its own host.
    procs = [
        start(tmp_path / f"r{i}" if database_url else data, "rebuild", **together, **db)
        for i in range(5)
    ]
    procs += [start(data, "ingest", str(f), **together, **db) for f in files]
    results = finish(procs)
    failed = [err.strip() for code, _, err in results if code != 0]
    if database_url:
        assert all("a rebuild is already running" in err for err in failed), failed
        assert len(failed) < 5
    else:
        assert failed == []
    check = run(data, "check", **db)
    assert (check.returncode, check.stdout) == (0, "ok\n")
    assert stored(data, url=database_url) == 80 + 60
    for tag in ("amber", "cobalt"):
        answer = run(data, "search", f"{tag} report 7 says", "--top-k", "1", **db)
        assert f"{tag} report 7" in answer.stdout


def test_the_same_articles_from_three_processes_are_stored_exactly_once(
    tmp_path: Path, database_url: str
) -> None:
    """Duplicates were checked outside the write transaction: two processes could both find
    an article new, and one then failed on the UNIQUE constraint with its whole group; an
    index labelled current could miss another process's articles. On PostgreSQL each process
    keeps its derived indexes in a folder of its own, as on its own host."""
    db = {"NEWSBOT_DATABASE_URL": database_url}
    data = tmp_path / "data"
    same = tmp_path / "same.jsonl"
    same.write_text(articles(60, "shared"))
    other = tmp_path / "other.jsonl"
    other.write_text(articles(60, "shared").split("\n", 30)[-1] + articles(30, "solo"))
    assert run(data, "stats", **db).returncode == 0  # the folder exists; the race is in ingesting
    together = start_together(2.0)
    results = finish(
        [
            start(
                tmp_path / f"p{i}" if database_url else data, "ingest", str(same), **together, **db
            )
            for i in range(2)
        ]
        + [start(data, "ingest", str(other), **together, **db)]
    )
    assert [err.strip() for code, _, err in results if code != 0] == []
    added = sum(int(out.split(" added")[0].split()[-1]) for _, out, _ in results)
    assert added == stored(data, url=database_url) == 60 + 30
    distinct = "SELECT COUNT(DISTINCT content_hash) FROM articles"
    assert stored(data, distinct, url=database_url) == 90
    check = run(data, "check", **db)
    assert (check.returncode, check.stdout) == (0, "ok\n")
    for words in ("shared report 59 says", "solo report 29 says"):
        assert words.rsplit(" ", 1)[0] in run(data, "search", words, "--top-k", "1", **db).stdout


@pytest.mark.sqlite_only
def test_ctrl_c_stops_an_ingest_at_once_and_keeps_what_was_stored(tmp_path: Path) -> None:
    """An interrupt waited for the group being embedded to finish (21.7 s with the model)."""
    data = tmp_path / "data"
    corpus = tmp_path / "bulk.jsonl"
    corpus.write_text(articles(120, "bulk"))
    # ~19 articles a group at 0.02 s a chunk: about 5 s a group, as the model on a busy machine.
    proc = start(data, "ingest", str(corpus), FAKE_EMBED_DELAY="0.02")
    db = data / "newsbot.sqlite3"
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if db.exists() and stored(data):
                break
            time.sleep(0.05)
        assert stored(data), "no group was stored in time"
        time.sleep(0.5)  # well into embedding the next group
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
        took = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert proc.returncode == 130
    assert took < 2.0, f"took {took:.1f} s to stop"
    kept = stored(data)
    assert 0 < kept < 120
    assert f"newsbot: interrupted: {kept} articles added (#1 … #{kept}) before it are stored" in err
    assert "Traceback" not in err
    check = run(data, "check")
    assert (check.returncode, check.stdout) == (0, "ok\n")
    again = run(data, "ingest", str(corpus))  # the rest, and nothing twice
    assert again.returncode == 0 and f"{120 - kept} added" in again.stdout
    assert stored(data) == 120
