"""The BM25 index derived per process (``index.search.lexical``, PostgreSQL's lexical side) ranks
as SQLite's FTS5 ``bm25()`` does, and follows added and removed rows without a rebuild."""

from __future__ import annotations

import sqlite3

import pytest

from index.search.lexical import LexicalIndex, tokens

ROWS = [
    (1, "Volcano erupts in Iceland", "A volcano erupted on the Reykjanes peninsula, lava flows."),
    (2, "Auto workers end strike", "The union ended its strike against automakers; wages rise."),
    (3, "Lava reaches the town", "Lava reached the town of Grindavik as residents evacuated."),
    (4, "Central bank holds rates", "The bank held interest rates, citing inflation and wages."),
    (5, "Strike at the port", "Dock workers went on strike at the port over wages and hours."),
    (6, "Volcanic ash", "Ash from the volcano grounded flights; the airports reopened."),
    (7, "Café owners protest", "Café owners protested rising rents in the old town."),
    (8, "All-around champion", "The gymnast won the all-around title; around all the others."),
    (9, "Around the port", "All ships waited around the port; all around, strikes spread."),
]
QUERIES = [
    ["volcano"],
    ["strike", "wages"],
    ["lava", "town"],
    ["workers", "striking"],
    ["cafe"],
    ["airport", "flights", "ash"],
    ["nothing", "here"],
    ["all-around", "port"],
    ["strike", "striking", "union"],
]


def fts5(rows):
    db = sqlite3.connect(":memory:")
    db.execute(
        "CREATE VIRTUAL TABLE f USING fts5 (title, text,"
        " tokenize = 'porter unicode61 remove_diacritics 2')"
    )
    db.executemany("INSERT INTO f (rowid, title, text) VALUES (?, ?, ?)", rows)
    return db


def fts5_search(db, words, limit=10, title_weight=2.0):
    match = " OR ".join(f'"{w}"' for w in words)
    rows = db.execute(
        "SELECT rowid, -bm25(f, ?, 1.0) FROM f WHERE f MATCH ? ORDER BY bm25(f, ?, 1.0), rowid"
        " LIMIT ?",
        (title_weight, match, title_weight, limit),
    ).fetchall()
    return [(int(r[0]), float(r[1])) for r in rows]


def test_tokens_are_fts5s_porter_unicode61():
    assert tokens("Café owners PROTESTED, striking!") == ["cafe", "owner", "protest", "strike"]


# Where Snowball's Porter over Python's idea of a letter, the imitation used before, parted from
# FTS5 (found by comparing the vocabulary of the dev corpus): short words are not stemmed,
# "-logy" and "-bly" end as FTS5 ends them, fractions and ligatures stay as written, "_" and
# "’" separate, emoji are tokens.
TRICKY = (
    "The US economy, U.S. officials said, as it is; technology possibly ostensibly terribly."
    " Add 1½ cups (½ a ﬁrearm?) to İstanbul’s café — don’t x_y 🍿 popcorn 1970s 4s vs. ms."
    f" {'a' * 70} {'b' * 66}s."
    " a\xa0b c«d»e f·g h\u2009i j\u200ak l–m n—o p‘q’r s“t”u v•w x…y z\u202fz"
)


def test_tokens_equal_fts5s_own_on_words_where_an_imitation_differed():
    db = fts5([(1, "", TRICKY)])
    db.execute("CREATE VIRTUAL TABLE temp.v USING fts5vocab (main, f, 'instance')")
    theirs = [r[0] for r in db.execute("SELECT term FROM v WHERE col = 'text' ORDER BY offset")]
    assert tokens(TRICKY) == theirs
    assert {"us", "as", "is", "technolog", "½", "ﬁrearm", "🍿"} <= set(theirs)


@pytest.mark.parametrize("words", QUERIES)
def test_scores_equal_fts5_bm25(words):
    index = LexicalIndex()
    index.add(ROWS)
    ours = index.search(words, 10)
    theirs = fts5_search(fts5(ROWS), words)
    assert [i for i, _ in ours] == [i for i, _ in theirs]
    assert [s for _, s in ours] == pytest.approx([s for _, s in theirs], rel=1e-9)


def test_removed_and_added_rows_rank_as_a_fresh_build():
    index = LexicalIndex()
    index.add(ROWS[:5])
    index.remove([2, 4])
    index.add(ROWS[5:])
    kept = [r for r in ROWS if r[0] not in (2, 4)]
    fresh = LexicalIndex()
    fresh.add(kept)
    for words in QUERIES:
        ours, built = index.search(words, 10), fresh.search(words, 10)
        assert [i for i, _ in ours] == [i for i, _ in built]
        assert [s for _, s in ours] == pytest.approx([s for _, s in built])
        assert [i for i, _ in index.search(words, 10)] == [
            i for i, _ in fts5_search(fts5(kept), words)
        ]


def test_allowed_ids_filter_and_limit():
    index = LexicalIndex()
    index.add(ROWS)
    assert [i for i, _ in index.search(["strike", "wages"], 10, allowed=[4, 5])] == [5, 4]
    assert len(index.search(["the"], 2)) == 2


def test_many_small_catch_ups_rank_as_one_build_and_as_fts5():
    """Rows arriving a few at a time, as an ask follows other processes' writes (each add a
    segment, segments merged as they grow), some replaced or removed on the way."""
    words = "volcano lava strike wages port bank rates ash town workers union café all-around"
    vocab = words.split()
    rows = [
        (
            i,
            f"{vocab[i % 13]} {vocab[(i * 7) % 13]} report",
            " ".join(vocab[(i * k + k * k) % 13] for k in range(1, 4 + i % 9)) + f" n{i}",
        )
        for i in range(1, 301)
    ]
    index = LexicalIndex()
    for start in range(0, 300, 7):
        index.add(rows[start : start + 7])
        index.remove(range(start - 20, start - 17))
    index.add(rows[40:60])  # ids 41–60 again: those held are replaced, those removed come back
    removed = {i for s in range(0, 300, 7) for i in range(s - 20, s - 17)} - set(range(41, 61))
    kept = [r for r in rows if r[0] not in removed]
    fresh = LexicalIndex()
    fresh.add(kept)
    db = fts5(kept)
    assert index.count == len(kept)
    for query in (["volcano"], ["strike", "wages"], ["all-around", "port"], ["n42"], ["cafe"]):
        ours = index.search(query, 300)  # every match: no tie cut at the limit
        assert ours == fresh.search(query, 300)
        theirs = fts5_search(db, query, 300)
        assert [i for i, _ in ours] == [i for i, _ in theirs]
        assert [s for _, s in ours] == pytest.approx([s for _, s in theirs], rel=1e-9)
