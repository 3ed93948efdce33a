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
