"""``newsbot backup FILE`` / ``newsbot restore FILE`` as an operator runs them: real command-line
processes, a backup taken while another process is still ingesting, restored into an empty data
folder (or an empty PostgreSQL database), then ``newsbot check``; and the refusals that keep a
restore from mixing stores or loading a damaged or newer file."""

from __future__ import annotations

import io
import json
import os
import subprocess
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import pg_cluster
import pytest

import fakecli
from fakecli import articles
from helpers import make_service
from index import cli
from index.store.backup import read_manifest
from index.store.schema import SCHEMA_VERSION

pytestmark = pytest.mark.timeout(180)

ARTICLES = 120


@pytest.fixture
def target_url(request: pytest.FixtureRequest, backend: str) -> Iterator[str]:
    """Where a restore goes: "" (an empty data folder) or a new empty PostgreSQL database."""
    if backend != "postgres":
        yield ""
        return
    server = request.getfixturevalue("pg_server")
    url = pg_cluster.with_database(server, f"restored_{os.getpid()}")
    pg_cluster.admin(server, f"CREATE DATABASE restored_{os.getpid()}")  # as createdb makes it
    yield url
    pg_cluster.drop_database(server, url)


@pytest.mark.backends
def test_a_backup_taken_during_an_ingest_restores_whole_and_checks(
    tmp_path, database_url, target_url
):
    data, restored, file = tmp_path / "data", tmp_path / "restored", tmp_path / "news.tar"
    env = {"NEWSBOT_DATABASE_URL": database_url}
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text(articles(ARTICLES, "harbor"))
    (tmp_path / "seed.jsonl").write_text(articles(2, "river"))
    seed = fakecli.run(data, "ingest", str(tmp_path / "seed.jsonl"), **env)
    assert seed.returncode == 0, seed.stderr

    ingest = fakecli.start(data, "ingest", str(corpus), FAKE_EMBED_DELAY="0.006", **env)
    try:
        with make_service(data) as svc:  # until the ingest is storing articles
            deadline = time.monotonic() + 60
            while svc.stats("default")["articles"] < 12 and time.monotonic() < deadline:
                time.sleep(0.05)
        done = fakecli.run(data, "backup", str(file), **env)
        assert ingest.poll() is None, "the ingest was still running while the backup was taken"
        assert done.returncode == 0, done.stderr
    finally:
        _, err = ingest.communicate(timeout=120)
    assert ingest.returncode == 0, err
    assert f"to {file} (" in done.stdout
    assert "the search indexes are not in it" in done.stdout

    manifest = read_manifest(file)
    taken = manifest.counts["articles"]
    assert 12 <= taken < ARTICLES + 2, "a snapshot from the middle of the ingest"
    chunks = manifest.counts["chunks"]
    assert manifest.counts["collections"] == 1 and manifest.counts["article_versions"] == taken

    back = fakecli.run(restored, "restore", str(file), NEWSBOT_DATABASE_URL=target_url)
    assert back.returncode == 0, back.stderr
    assert f"1 collections, {taken} articles, {chunks} chunks" in back.stdout
    assert "every table's rows match the backup" in back.stdout

    # check: every article holds all its chunks (a whole snapshot), the index agrees
    check = fakecli.run(restored, "check", NEWSBOT_DATABASE_URL=target_url)
    assert (check.returncode, check.stdout) == (0, "ok\n"), check.stdout + check.stderr
    stats = fakecli.run(restored, "stats", "--json", NEWSBOT_DATABASE_URL=target_url)
    assert json.loads(stats.stdout)["articles"] == taken
    assert json.loads(stats.stdout)["indexed_vectors"] == chunks  # rebuilt from the vectors
    answer = fakecli.run(
        restored, "search", "harbor report 3 town", NEWSBOT_DATABASE_URL=target_url
    )
    assert answer.returncode == 0 and "harbor report" in answer.stdout
    # Ids go on past the restored ones: a new article is not given an old number.
    more = tmp_path / "more.jsonl"
    more.write_text(articles(1, "tunnel"))
    added = fakecli.run(restored, "ingest", str(more), NEWSBOT_DATABASE_URL=target_url)
    assert added.returncode == 0, added.stderr
    with make_service(restored, database_url=target_url) as svc:
        newest = max(a.id for a in svc.sources("default", limit=500))
    assert newest > taken


# -- refusals (SQLite; in-process command line) ---------------------------------------------------


@pytest.fixture
def newsbot(capsys):
    """``newsbot(*argv)`` → (exit code, stdout, stderr) of one command, in-process."""

    def factory(args):
        return make_service(args.data_dir, chunk_tokens=60)

    def invoke(*argv: str) -> tuple[int, str, str]:
        code = cli.main(["-q", *argv], service=factory)
        out, err = capsys.readouterr()
        return code, out, err

    return invoke


@pytest.fixture
def backup_file(tmp_path, newsbot) -> Path:
    corpus = tmp_path / "c.jsonl"
    corpus.write_text(articles(3, "orchard"))
    assert newsbot("--data-dir", str(tmp_path / "src"), "ingest", str(corpus))[0] == 0
    file = tmp_path / "b.tar.gz"
    code, _, err = newsbot("--data-dir", str(tmp_path / "src"), "backup", str(file))
    assert code == 0, err
    return file


def rewritten(file: Path, out: Path, manifest=None, payload=None) -> Path:
    """A copy of a backup with its manifest and/or database bytes changed."""
    with tarfile.open(file, "r:*") as tar:
        members = [(m, tar.extractfile(m).read()) for m in tar.getmembers()]
    with tarfile.open(out, "w") as tar:
        for info, data in members:
            if info.name == "manifest.json" and manifest:
                data = json.dumps(manifest(json.loads(data))).encode()
            elif info.name != "manifest.json" and payload:
                data = payload(data)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out


def test_a_newer_schema_is_refused_and_nothing_is_written(tmp_path, backup_file, newsbot):
    newer = rewritten(backup_file, tmp_path / "newer.tar", manifest=lambda m: {**m, "schema": 99})
    target = tmp_path / "empty"
    code, out, err = newsbot("--data-dir", str(target), "restore", str(newer))
    assert code == 1 and out == ""
    assert err == (
        f"newsbot: error: {newer} holds a store of schema 99, newer than this newsbot's"
        f" ({SCHEMA_VERSION}): restore it with the newsbot that made it, or a newer one\n"
    )
    assert not (target / "newsbot.sqlite3").exists()


def test_a_damaged_backup_is_refused_and_leaves_no_database(tmp_path, backup_file, newsbot):
    def flip(data: bytes) -> bytes:
        middle = len(data) // 2
        return data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1 :]

    damaged = rewritten(backup_file, tmp_path / "damaged.tar", payload=flip)
    target = tmp_path / "empty"
    code, _, err = newsbot("--data-dir", str(target), "restore", str(damaged))
    assert code == 1
    assert "is damaged: its checksum does not match the manifest's" in err
    assert list(target.iterdir()) == []
    code, _, err = newsbot("--data-dir", str(target), "restore", str(tmp_path / "c.jsonl"))
    assert code == 1 and "is not a newsbot backup" in err


def test_restore_fills_only_an_empty_data_folder(tmp_path, backup_file, newsbot):
    target = tmp_path / "used"
    (tmp_path / "other.jsonl").write_text(articles(1, "glacier"))
    assert newsbot("--data-dir", str(target), "ingest", str(tmp_path / "other.jsonl"))[0] == 0
    code, _, err = newsbot("--data-dir", str(target), "restore", str(backup_file))
    assert code == 1
    assert "already holds a database (newsbot.sqlite3): restore fills an empty data folder" in err
    code, out, _ = newsbot("--data-dir", str(target), "sources")
    assert "glacier report 0" in out and "orchard" not in out  # untouched


def test_a_sqlite_backup_is_not_loaded_into_postgresql(tmp_path, backup_file, monkeypatch):
    monkeypatch.setenv("NEWSBOT_DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    done = subprocess.run(
        fakecli.command(tmp_path / "x", "restore", str(backup_file)),
        capture_output=True,
        text=True,
        timeout=60,
        cwd=fakecli.REPO,
    )
    assert done.returncode == 1
    assert "is a backup of an SQLite data folder: restore it with NEWSBOT_DATABASE_URL unset" in (
        done.stderr
    )


def test_postgresql_restores_into_an_empty_schema_and_not_over_data(
    tmp_path, pg_server, pg_database
):
    """A database whose newsbot schema is there but empty (a bot started on it once) takes a
    restore; one holding data is refused and left as it was."""
    env = {"NEWSBOT_DATABASE_URL": pg_database}
    (tmp_path / "c.jsonl").write_text(articles(3, "orchard"))
    assert fakecli.run(tmp_path / "a", "ingest", str(tmp_path / "c.jsonl"), **env).returncode == 0
    file = tmp_path / "pg.tar"
    made = fakecli.run(tmp_path / "a", "backup", str(file), **env)
    assert made.returncode == 0, made.stderr
    assert read_manifest(file).backend == "postgresql"

    empty_schema = pg_cluster.new_database(pg_server, prefix="schema_only")
    try:
        env = {"NEWSBOT_DATABASE_URL": empty_schema}
        back = fakecli.run(tmp_path / "b", "restore", str(file), **env)
        assert back.returncode == 0, back.stderr
        assert "1 collections, 3 articles" in back.stdout
        again = fakecli.run(tmp_path / "b", "restore", str(file), **env)
        assert again.returncode == 1
        assert "already holds data (" in again.stderr
        assert "restore fills an empty database" in again.stderr
        check = fakecli.run(tmp_path / "b", "check", **env)
        assert (check.returncode, check.stdout) == (0, "ok\n"), check.stderr
        sqlite_side = fakecli.run(tmp_path / "c", "restore", str(file))
        assert sqlite_side.returncode == 1
        assert "is a backup of a PostgreSQL store" in sqlite_side.stderr
    finally:
        pg_cluster.drop_database(pg_server, empty_schema)
