"""What the command line prints: answers and hits as text or JSON, ingest reports, feeds. One
function a thing shown, so each wording lives in one place."""

from __future__ import annotations

import sys
from dataclasses import asdict
from typing import TYPE_CHECKING

from ..features.feedback import AnswerRecord
from ..models import Answer, Article, Citation, Hit, short_date
from ..store import Feed

if TYPE_CHECKING:
    from ..feeds import PollReport
    from ..search.timeline import Timeline
    from ..service import IngestReport


def answer_json(answer: Answer) -> dict:
    return {
        "question": answer.question,
        "found": answer.found,
        "answer": answer.text,
        "as_of": answer.as_of,
        "window": answer.window.as_json() if answer.window else None,
        "stale": answer.stale,
        "evidence_date": answer.evidence_date if answer.found else None,
        "sentences": [
            {
                "text": s.text,
                "citations": list(s.citations),
                "headline": s.headline,
                "published_at": s.published_at,
                "dated": s.dated,
            }
            for s in answer.sentences
        ],
        "citations": [
            {
                "n": c.n,
                "article_id": c.article_id,
                "title": c.title,
                "source": c.source,
                "published_at": c.published_at,
                "url": c.url,
                "snippet": c.snippet,  # the first passage, for scripts that read one
                "snippets": [asdict(x) for x in c.snippets],
            }
            for c in answer.citations
        ],
        "best_score": round(answer.best_score, 4),
    }


def format_answer(answer: Answer) -> str:
    if not answer.found:
        where = f" in {answer.window.description}" if answer.window else ""
        return (
            f"Nothing relevant found{where} in this collection. Add articles about it with "
            "`newsbot ingest`."
        )
    searched = answer.window and not answer.outside_window
    lines = [
        answer.text,
        "",
        f"Sources (searched {answer.window.description}):" if searched else "Sources:",
    ]
    lines += citation_lines(answer.citations)
    return "\n".join(lines)


def citation_lines(citations: list[Citation]) -> list[str]:
    """The numbered sources under an answer or a timeline: title, source and date, article id,
    address, then the verbatim passages."""
    lines = []
    for c in citations:
        meta = ", ".join(x for x in (c.source, c.published_at) if x)
        lines.append(
            f"[{c.n}] {c.title}" + (f" — {meta}" if meta else "") + f"  (article #{c.article_id})"
        )
        if c.url:
            lines.append(f"    {c.url}")
        for snip in c.snippets:
            lines.append(f"    “{' '.join(snip.text.split())}”")
    return lines


def timeline_json(timeline: Timeline) -> dict:
    return {
        "topic": timeline.topic,
        "summary": timeline.summary,
        "articles": timeline.articles,
        "lines": [
            {
                "date": x.published_at,
                "text": x.text,
                "n": x.citation.n,
                "article_id": x.citation.article_id,
                "title": x.citation.title,
                "source": x.citation.source,
                "url": x.citation.url,
                "snippet": x.citation.snippet,
            }
            for x in timeline.lines
        ],
    }


def format_timeline(timeline: Timeline) -> str:
    """One dated line a development, newest first, then its numbered sources and the count and
    span of the articles."""
    if not timeline.found:
        return (
            f"Nothing on “{timeline.topic}” in this collection. Add articles about it with "
            "`newsbot ingest`."
        )
    lines = [
        f"{short_date(x.published_at) if x.published_at else 'undated'} — "
        f"{' '.join(x.text.split())} [{x.citation.n}]"
        for x in timeline.lines
    ]
    lines += ["", "Sources:", *citation_lines([x.citation for x in timeline.lines])]
    return "\n".join([*lines, "", timeline.summary])


def hit_json(rank: int, hit: Hit) -> dict:
    return {
        "rank": rank,
        "score": round(hit.score, 6),
        "chunk_id": hit.chunk_id,
        "article_id": hit.article_id,
        "title": hit.title,
        "source": hit.source,
        "published_at": hit.published_at,
        "url": hit.url,
        "text": hit.text,
    }


def hit_lines(hits: list[Hit]) -> list[str]:
    """Ranked passages as ``search`` prints them: score, title and meta, then the text."""
    if not hits:
        return ["Nothing found."]
    lines = []
    for i, h in enumerate(hits, 1):
        meta = ", ".join(x for x in (h.source, h.published_at) if x)
        lines.append(f"{i}. [{h.score:.4f}] {h.title}" + (f" ({meta})" if meta else ""))
        lines.append(f"   {' '.join(h.text.split())[:400]}")
    return lines


def article_json(article: Article) -> dict:
    return {k: v for k, v in asdict(article).items() if k != "text"}


def article_line(a: Article) -> str:
    meta = ", ".join(x for x in (a.source, a.published_at) if x)
    return f"#{a.id}  {a.title}" + (f" ({meta})" if meta else "") + f" — {a.chunk_count} chunks"


def feed_line(f: Feed) -> str:
    return f"feed {f.id}  {f.title or f.url}  <{f.url}>  {f.every}, {f.state}"


def poll_line(r: PollReport, *, updated: bool = True) -> str:
    """One feed's poll; after ``feeds add`` (a first poll) without the count of updates."""
    counts = f"{r.new} new, " + (f"{r.updated} updated, " if updated else "")
    counts += f"{r.duplicates} already indexed, {r.failed} failed"
    return f"feed {r.feed_id}: {r.status}; {counts}"


def print_ingest(report: IngestReport) -> None:
    """Each article (when there are few), every file skipped, then the summary line."""
    few = len(report.added) + len(report.updated) + len(report.duplicates) <= 10
    if few:
        for verb, results in (("added", report.added), ("updated", report.updated)):
            for r in results:
                notes = f" ({'; '.join(r.notes)})" if r.notes else ""
                print(
                    f"{verb} #{r.article_id} “{r.title}” ({r.published_at or 'no date'}), "
                    f"{r.chunk_count} chunks{notes}"
                )
        for r in report.duplicates:
            where = f"#{r.article_id} " if r.article_id > 0 else ""
            notes = f" ({'; '.join(r.notes)})" if r.notes else ""
            print(f"already indexed: {r.origin} is {where}“{r.title}”{notes}")
    for f in report.failed:
        print(
            f"newsbot: skipped {f.reason}"
            if f.origin in f.reason
            else f"newsbot: skipped {f.origin}: {f.reason}",
            file=sys.stderr,
        )
    rate = report.chunks / report.seconds if report.seconds > 0 else 0.0
    print(
        f"{len(report.added)} added, {len(report.updated)} updated "
        f"({report.chunks} chunks, {report.embedded} embedded, {rate:.1f} chunks/s, "
        f"{report.seconds:.1f} s), {len(report.duplicates)} already indexed, "
        f"{len(report.failed)} failed",
        file=sys.stderr if few else sys.stdout,
    )


def feedback_json(r: AnswerRecord) -> dict:
    out = asdict(r)
    out["citations"] = [asdict(c) for c in r.citations]
    return out


def feedback_lines(r: AnswerRecord) -> list[str]:
    """One rated answer: votes, where and when it was asked, the question, what it cited."""
    window = f" searched {r.since or '…'}..{r.until or '…'}" if r.since or r.until else ""
    lines = [
        f"answer {r.id}  👎 {r.down} 👍 {r.up}  [{r.collection}, asked {r.as_of or r.asked_at[:10]}"
        f"{window}]",
        f"   {r.question}",
    ]
    for c in r.citations[:5]:
        meta = ", ".join(x for x in (c.source, c.published_at) if x)
        lines.append(f"   - #{c.article_id} {c.title}" + (f" ({meta})" if meta else ""))
    if not r.citations:
        lines.append("   (answered: nothing found)")
    return lines
