"""The same news in many collections, as Discord servers following the same feeds see it: each
text is embedded once, so a second server pays chunking and storing only.

  python -m bench.collections [--articles 150] [--servers 10] [--backend auto] [--out FILE]

Held-out articles (the full dev corpus less corpus-small) are ingested into "server-1", then the
same articles into "server-2" (in this process, the model warm: the ratio of the two times is
the figure), then, as a real ``newsbot ingest`` process each (start-up included), into the rest
up to ``--servers``. Then the store's size against the same rows laid out as before schema 8
(each chunk holding its own vector), both vacuumed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from contextlib import closing
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def held_out(eval_dir: Path, n: int) -> list[dict]:
    from bench.quality import read_jsonl

    rtq = eval_dir / "realtimeqa-2023q4"
    seen = {x.get("id") for x in read_jsonl(rtq / "corpus-small.jsonl")}
    return [x for x in read_jsonl(rtq / "corpus.jsonl") if x.get("id") not in seen][:n]


def vacuumed_bytes(db: Path, work: Path, convert: str = "") -> int:
    """The size of a vacuumed copy of ``db`` (after ``convert``, a script run on the copy)."""
    copy = work / "size.sqlite3"
    copy.unlink(missing_ok=True)
    with closing(sqlite3.connect(db)) as src, closing(sqlite3.connect(copy)) as dst:
        src.backup(dst)
    with closing(sqlite3.connect(copy, isolation_level=None)) as con:
        if convert:
            con.executescript(convert)
        con.execute("VACUUM")
    size = copy.stat().st_size
    copy.unlink()
    return size


def run(
    articles: int,
    servers: int,
    backend: str,
    eval_dir: Path,
    work: Path,
    cache: Path | None = None,
) -> dict:
    sys.path.insert(0, str(ROOT / "tests"))
    from helpers import BACK_TO_SCHEMA_7  # every chunk its own vector, as before schema 8
    from index.ingest.sources import document_from_record
    from index.search.cpu import cpu_line
    from index.search.embed import make_embedder, model_cache_dir
    from index.service import NewsService
    from index.settings import CoreSettings

    records = held_out(eval_dir, articles)
    data = work / "store"
    shutil.rmtree(data, ignore_errors=True)
    cache = cache or model_cache_dir("", data)
    embedder = make_embedder(backend, cache_dir=cache)
    service = NewsService(CoreSettings(data_dir=data), embedder)
    service.bulk.embed(embedder, ["warm up"] * 4)  # exported, the runtime chosen, the lane warm
    docs = [document_from_record(x, f"held-out:{i}") for i, x in enumerate(records)]
    out: dict = {"cpu": cpu_line(), "runtime": getattr(embedder, "runtime", "?")}
    runs = []
    for name in ("server-1", "server-2"):
        report = service.ingest(name, docs)
        runs.append(
            {
                "collection": name,
                "articles": len(report.added),
                "chunks": report.chunks,
                "embedded": report.embedded,
                "seconds": round(report.seconds, 2),
            }
        )
    service.close()
    jsonl = work / "held-out.jsonl"
    jsonl.write_text("".join(json.dumps(x) + "\n" for x in records))
    env = {**os.environ, "NEWSBOT_DATA_DIR": str(data), "NEWSBOT_MODEL_CACHE": str(cache)}
    env["NEWSBOT_EMBED_BACKEND"] = backend
    for k in range(3, servers + 1):
        started = time.perf_counter()
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "index.cli",
                "--collection",
                f"server-{k}",
                "ingest",
                str(jsonl),
            ],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=3600,
        )
        took = time.perf_counter() - started
        if proc.returncode != 0:
            raise SystemExit(proc.stderr)
        summary = proc.stdout.strip().splitlines()[-1]
        runs.append(
            {"collection": f"server-{k}", "process_seconds": round(took, 2), "summary": summary}
        )
    first, second = runs[0], runs[1]
    out["runs"] = runs
    out["second_over_first"] = round(second["seconds"] / first["seconds"], 4)
    with closing(sqlite3.connect(data / "newsbot.sqlite3")) as db:
        chunks = db.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
        vectors = db.execute("SELECT COUNT(*) FROM vectors").fetchone()[0]
    db_path = data / "newsbot.sqlite3"
    now = vacuumed_bytes(db_path, work)
    before = vacuumed_bytes(db_path, work, BACK_TO_SCHEMA_7)
    out["store"] = {
        "collections": servers,
        "chunks": chunks,
        "vectors": vectors,
        "bytes": now,
        "bytes_one_vector_a_chunk": before,
        "smaller_by": round(1 - now / before, 3),
    }
    return out


def markdown(r: dict) -> list[str]:
    first, second = r["runs"][0], r["runs"][1]
    s = r["store"]
    procs = [x["process_seconds"] for x in r["runs"][2:]]
    lines = [
        f"## The same news in {s['collections']} collections (CPU: {r['cpu']}; {r['runtime']})",
        "",
        f"- {first['articles']} held-out articles ({first['chunks']} chunks) into a first"
        f" collection: {first['seconds']} s ({first['embedded']} chunks embedded); the same into"
        f" a second: {second['seconds']} s ({second['embedded']} embedded):"
        f" **{r['second_over_first']}×** the first's time.",
    ]
    if procs:
        lines.append(
            f"- the same as a `newsbot ingest` process each into {len(procs)} more collections"
            f" (start-up included): median {sorted(procs)[len(procs) // 2]} s."
        )
    lines.append(
        f"- the store of {s['collections']} collections: {s['chunks']:,} chunks, {s['vectors']:,}"
        f" vectors, {s['bytes'] / 1e6:.1f} MB against {s['bytes_one_vector_a_chunk'] / 1e6:.1f} MB"
        f" with a vector a chunk (before schema 8): **{s['smaller_by']:.0%} smaller** (vacuumed)."
    )
    return lines


def main(argv: list[str] | None = None) -> int:
    from bench.quality import EVAL

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--articles", type=int, default=150)
    ap.add_argument("--servers", type=int, default=10)
    ap.add_argument("--backend", default="auto")
    ap.add_argument("--eval-dir", type=Path, default=EVAL)
    ap.add_argument("--work", type=Path)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "collections.json")
    a = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-collections-") as tmp:
        result = run(a.articles, a.servers, a.backend, a.eval_dir, a.work or Path(tmp))
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(result, indent=2) + "\n")
    print("\n".join(markdown(result)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
