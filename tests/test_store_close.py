"""Closing the store while other threads still use it (a bot shutting down with a question or a
feedback write in flight): nothing crashes, what runs finishes, what comes after is refused."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from index.errors import StoreError
from index.store.sqlite import SqliteStore


def test_a_transaction_in_flight_commits_before_the_store_closes(tmp_path: Path):
    path = tmp_path / "newsbot.sqlite3"
    store = SqliteStore(path)
    inside, outcome = threading.Event(), []

    def write() -> None:
        try:
            with store.transaction():
                store.run("INSERT INTO meta (key, value) VALUES ('slow', 'one')")
                inside.set()
                time.sleep(0.3)  # close() is called meanwhile
                store.run("INSERT INTO meta (key, value) VALUES ('slow2', 'two')")
            outcome.append("committed")
        except Exception as exc:
            outcome.append(repr(exc))

    writer = threading.Thread(target=write)
    writer.start()
    assert inside.wait(10)
    store.close()
    writer.join(10)
    assert outcome == ["committed"]
    reopened = SqliteStore(path)
    try:
        assert reopened.get_meta("slow") == "one" and reopened.get_meta("slow2") == "two"
    finally:
        reopened.close()


def test_work_after_close_is_refused_and_the_writes_before_it_are_kept(tmp_path: Path):
    path = tmp_path / "newsbot.sqlite3"
    store = SqliteStore(path)
    written: list[int] = []
    refused: list[str] = []

    def write() -> None:
        deadline = time.monotonic() + 10
        n = 0
        while time.monotonic() < deadline:
            try:
                store.set_meta("counter", str(n))
            except StoreError as exc:
                refused.append(str(exc))
                return
            written.append(n)
            n += 1

    writer = threading.Thread(target=write)
    writer.start()
    deadline = time.monotonic() + 10
    while len(written) < 20 and time.monotonic() < deadline:
        time.sleep(0.01)
    store.close()
    writer.join(15)
    assert refused and "closed" in refused[0]
    with pytest.raises(StoreError, match="closed"):
        store.rows("SELECT 1")
    reopened = SqliteStore(path)
    try:
        assert reopened.get_meta("counter") == str(written[-1])
    finally:
        reopened.close()
