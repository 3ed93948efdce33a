"""The BM25 index PostgreSQL's processes derive (``index/search/lexical.py``): building it for a
collection, and following 256 new rows of the chunk log, as an ask does while others ingest.

  python -m bench.lexical [--before REV] [--rounds 3] [--out FILE]

Rows are corpus-small's articles cut into ~130-word pieces (chunk-sized) under their titles.
``--before REV`` runs that revision's ``lexical.py`` beside this one, round by round in one
process, and checks that both rank the dev questions' words alike.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent


def rows_of(corpus: Path, words: int = 130) -> list[tuple[int, str, str]]:
    rows: list[tuple[int, str, str]] = []
    for line in corpus.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        record = json.loads(line)
        body = (record.get("body") or record.get("text") or "").split()
        title = record.get("title") or ""
        for start in range(0, len(body), words):
            rows.append((len(rows) + 1, title, " ".join(body[start : start + words])))
    return rows


def module_at(rev: str, work: Path) -> ModuleType:
    """``index/search/lexical.py`` as it was at ``rev``, imported under another name."""
    source = subprocess.run(
        ["git", "show", f"{rev}:index/search/lexical.py"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    path = work / "lexical_before.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("lexical_before", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _cold(module: ModuleType) -> None:
    """A round starts as a new process does: no word met before (either revision's caches)."""
    for cached in ("_fold", "_title_tokens"):  # either revision's
        if hasattr(module, cached):
            getattr(module, cached).cache_clear()
    if hasattr(module, "_STEMS"):
        module._STEMS.clear()
    if hasattr(module.tokens, "clear"):
        module.tokens.clear()


def one_round(module: ModuleType, rows: list[tuple[int, str, str]]) -> dict[str, float]:
    _cold(module)
    started = time.perf_counter()
    module.LexicalIndex().add(rows)
    build = time.perf_counter() - started
    index = module.LexicalIndex()
    index.add(rows[:5000])
    started = time.perf_counter()
    for s in range(5000, 5000 + 10 * 256, 256):
        index.add(rows[s : s + 256])
    follow = (time.perf_counter() - started) / 10
    return {"build_s": build, "follow_256_rows_ms": follow * 1000}


def same_as_fts5(rows: list[tuple[int, str, str]], queries: list[list[str]]) -> str:
    """For how many queries this index's top 10 are FTS5's (SQLite's store), ids and order."""
    import sqlite3

    from index.search import lexical

    db = sqlite3.connect(":memory:")
    db.execute(f"CREATE VIRTUAL TABLE f USING fts5 (title, text, tokenize = '{lexical.TOKENIZER}')")
    db.executemany("INSERT INTO f (rowid, title, text) VALUES (?, ?, ?)", rows)
    index = lexical.LexicalIndex()
    index.add(rows)
    alike = 0
    for words in queries:
        match = " OR ".join(f'"{w}"' for w in words)
        theirs = [
            r[0]
            for r in db.execute(
                "SELECT rowid FROM f WHERE f MATCH ? ORDER BY bm25(f, 2.0, 1.0), rowid LIMIT 10",
                (match,),
            )
        ]
        alike += [i for i, _ in index.search(words, 10)] == theirs
    return f"{alike} of {len(queries)}"


def main(argv: list[str] | None = None) -> int:
    from bench.quality import EVAL, read_jsonl
    from index.search import lexical
    from index.search.cpu import cpu_line
    from index.text import query_words

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", help="a revision whose lexical.py runs beside this one")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--eval-dir", type=Path, default=EVAL)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "lexical.json")
    a = ap.parse_args(argv)
    rtq = a.eval_dir / "realtimeqa-2023q4"
    rows = rows_of(rtq / "corpus-small.jsonl")
    with tempfile.TemporaryDirectory(prefix="bench-lexical-") as tmp:
        sides = {"this": lexical}
        if a.before:
            sides[a.before] = module_at(a.before, Path(tmp))
        took: dict[str, list[dict[str, float]]] = {k: [] for k in sides}
        for k in range(a.rounds):
            for name in list(sides)[k % 2 :] + list(sides)[: k % 2]:
                took[name].append(one_round(sides[name], rows))
        result: dict = {
            "command": "python -m bench.lexical " + " ".join(argv or sys.argv[1:]),
            "cpu": cpu_line(),
            "rows": len(rows),
            "rounds": a.rounds,
        }
        for name, rounds in took.items():
            result[name] = {
                key: round(statistics.median(r[key] for r in rounds), 3) for key in rounds[0]
            }
        questions = read_jsonl(rtq / "queries.jsonl")
        result["top10_as_fts5"] = same_as_fts5(
            rows, [query_words(q["question"]) for q in questions]
        )
        if a.before:
            ours, theirs = lexical.LexicalIndex(), sides[a.before].LexicalIndex()
            ours.add(rows)
            theirs.add(rows)
            result["questions_ranked_alike"] = sum(
                ours.search(query_words(q["question"]), 50)
                == theirs.search(query_words(q["question"]), 50)
                for q in questions
            )
            result["questions"] = len(questions)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
