"""Answers, hits, article lists, ingest reports and feeds → Discord messages, always within
Discord's limits.

Pure functions over index models: unit-tested without a client. Snippets are cut at word
boundaries with "…", never mid-word, so what is shown stays a verbatim piece of the article.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord

from index.models import Answer, Article, Citation, Found
from index.search.when import Window

if TYPE_CHECKING:
    from index.alerts import Alert
    from index.models import IngestResult
    from index.search.digest import Digest
    from index.service import IngestReport
    from index.store import AnswerRecord, Feed, Watch

TITLE_MAX = 256
DESCRIPTION_MAX = 4096
FIELD_NAME_MAX = 256
FIELD_VALUE_MAX = 1024
FIELDS_MAX = 25
EMBED_TOTAL_MAX = 6000
MESSAGE_MAX = 1900  # of Discord's 2,000 characters: room for a "…" line and markup
ELLIPSIS = "…"
MIN_SNIPPET = 80
COLOUR = discord.Colour.blurple()
NOTHING_FOUND = (
    "I couldn't find anything relevant to that in this server's news. Add articles with "
    "`/ingest` (a file or text) or `!ingest` with attached files, then ask again."
)


def cut(text: str, limit: int) -> str:
    """``text`` if it fits, else its longest word-boundary prefix that fits with "…"."""
    text = text.strip()
    if len(text) <= limit:
        return text
    if limit <= len(ELLIPSIS):
        return ELLIPSIS[:limit]
    room = text[: limit - len(ELLIPSIS) + 1]
    space = max(room.rfind(" "), room.rfind("\n"))
    head = room[:space] if space > 0 else ""
    return head.rstrip() + ELLIPSIS if head else ELLIPSIS


def _link(title: str, url: str | None) -> str:
    safe = discord.utils.escape_markdown(title).replace("[", "(").replace("]", ")")
    if url and url.startswith(("http://", "https://")) and len(url) <= 512:
        return f"**[{safe}]({url.replace(')', '%29')})**"
    return f"**{safe}**"


def _meta(source: str | None, published_at: str | None) -> str:
    return " · ".join(x for x in (source, published_at) if x) or "no source or date"


def nothing_found(window: Window | None, searched_all: bool = False) -> str:
    if window is None:
        return NOTHING_FOUND
    where = (
        f"in this server's {window.description}, nor in the rest of its news"
        if searched_all
        else f"in this server's {window.description}"
    )
    return f"I couldn't find anything relevant {where}. Add articles with `/ingest`."


def _snippets(c: Citation, limit: int) -> str:
    """The citation's verbatim passages, quoted, sharing ``limit`` characters."""
    texts = [" ".join(s.text.split()) for s in c.snippets]
    share = max(limit // len(texts) - 4, 1)
    return "\n".join(f"“{cut(t, share)}”" for t in texts)


def answer_embed(answer: Answer) -> discord.Embed:
    """The answer with [n] markers, then each numbered source with its verbatim snippets.

    An answer from old news opens with the date of the newest evidence, in bold, so nobody
    reads a 2023 story as this week's; a question that named a time says which it searched.
    """
    embed = discord.Embed(title=cut(answer.question, TITLE_MAX), colour=COLOUR)
    if not answer.found:
        embed.description = nothing_found(answer.window, answer.outside_window)
        return embed
    citations = answer.citations[:FIELDS_MAX]
    footer = f"{len(citations)} source{'s' * (len(citations) != 1)} · snippets are verbatim"
    if answer.window is not None and not answer.outside_window:
        footer += f" · searched {answer.window.description}"
    embed.set_footer(text=footer)
    heads = [_link(c.title, c.url) for c in citations]
    heads = [
        h if len(h) <= 300 else _link(cut(c.title, 200), None)
        for h, c in zip(heads, citations, strict=True)
    ]
    names = [cut(f"[{c.n}] {_meta(c.source, c.published_at)}", FIELD_NAME_MAX) for c in citations]
    # Every source keeps room for its link and some snippet; the answer gets the rest.
    reserved = sum(len(n) + len(h) + 1 + MIN_SNIPPET for n, h in zip(names, heads, strict=True))
    room = EMBED_TOTAL_MAX - len(embed.title) - len(footer) - reserved
    lead = f"**{answer.lead}**\n" if answer.lead else ""
    embed.description = lead + cut(answer.body, max(min(DESCRIPTION_MAX, room) - len(lead), 1))
    spare = (
        EMBED_TOTAL_MAX
        - len(embed)
        - sum(len(n) + len(h) + 1 for n, h in zip(names, heads, strict=True))
    )
    share = spare // max(len(citations), 1)
    for c, head, name in zip(citations, heads, names, strict=True):
        limit = min(FIELD_VALUE_MAX - len(head) - 1, share)
        embed.add_field(name=name, value=f"{head}\n{_snippets(c, limit)}", inline=False)
    return embed


def hits_embed(query: str, found: Found) -> discord.Embed:
    """The top passages themselves, for people who want to read rather than be told."""
    embed = discord.Embed(title=cut(f"Passages for: {query}", TITLE_MAX), colour=COLOUR)
    hits, window = found.hits, found.window
    if not hits:
        embed.description = nothing_found(window, found.outside_window)
        return embed
    if window is not None:
        embed.set_footer(
            text=f"Nothing in {window.description}: showing all news"
            if found.outside_window
            else f"Searched {window.description}"
        )
    hits = hits[:10]
    share = (EMBED_TOTAL_MAX - len(embed.title) - 64) // len(hits)
    for i, h in enumerate(hits, 1):
        name = cut(
            f"{i}. {_meta(h.source, h.published_at)} · article #{h.article_id}", FIELD_NAME_MAX
        )
        head = _link(h.title, h.url)
        room = min(FIELD_VALUE_MAX, share - len(name)) - len(head) - 1
        embed.add_field(
            name=name, value=f"{head}\n{cut(' '.join(h.text.split()), room)}", inline=False
        )
    return embed


def sources_embed(articles: list[Article], page: int, pages: int, total: int) -> discord.Embed:
    embed = discord.Embed(title="Articles in this server's news", colour=COLOUR)
    if not articles:
        embed.description = (
            "No articles yet: add some with `/ingest` or `!ingest`."
            if total == 0
            else f"There is no page {page}."
        )
        return embed
    lines = []
    for a in articles:
        line = (
            f"`#{a.id}` {_link(a.title, a.url)} — {_meta(a.source, a.published_at)}"
            f" ({a.chunk_count} chunks)"
        )
        lines.append(cut(line, 400))
    description = ""
    for line in lines:
        if len(description) + len(line) + 1 > DESCRIPTION_MAX:
            break
        description += line + "\n"
    embed.description = description.rstrip()
    embed.set_footer(text=f"Page {page} of {pages} · {total} articles")
    return embed


def stats_embed(stats: dict[str, object]) -> discord.Embed:
    embed = discord.Embed(title="newsbot stats", colour=COLOUR)
    for key in ("articles", "chunks", "indexed_vectors", "model"):
        embed.add_field(name=key.replace("_", " "), value=str(stats.get(key, "?")), inline=True)
    return embed


def _safe(title: str) -> str:
    """A title as plain text: no markdown, no pings."""
    return discord.utils.escape_markdown(discord.utils.escape_mentions(title))[:200]


def _stored(icon: str, verb: str, r: IngestResult) -> str:
    return (
        f"{icon} {verb} `#{r.article_id}` **{_safe(r.title)}** "
        f"({r.published_at or 'no date'}) — {r.chunk_count} chunks"
    )


def ingest_report(report: IngestReport) -> str:
    """What every ingest path replies: one line an input, added, updated (a changed page read
    again), already indexed or failed, in that order."""
    lines = [_stored("✅", "Added", r) for r in report.added]
    lines += [_stored("🔄", "Updated", r) for r in report.updated]
    for r in report.duplicates:
        ref = f"`#{r.article_id}` " if r.article_id > 0 else ""
        why = f" ({_safe('; '.join(r.notes))})" if r.notes else ""
        lines.append(f"↩️ Already indexed: {ref}**{_safe(r.title)}**{why}")
    lines += [f"⚠️ {f.reason}" for f in report.failed]
    text = "\n".join(lines) or "Nothing to add."
    return text if len(text) <= MESSAGE_MAX else text[: MESSAGE_MAX - 10].rsplit("\n", 1)[0] + "\n…"


def feed_line(feed: Feed) -> str:
    """A followed feed as /feeds lists it; its state and period come from the store's Feed."""
    state = f"⏸️ {feed.state}" if feed.paused else feed.state
    name = discord.utils.escape_markdown(feed.title or feed.url)[:120]
    return f"`{feed.id}` **{name}** <{feed.url}> — {feed.every}, {state}"


def feed_list(feeds: list[Feed]) -> str:
    text = "\n".join(feed_line(f) for f in feeds) or "No feeds yet: `/feeds add url`."
    return text[:MESSAGE_MAX]


# -- feedback ---------------------------------------------------------------------------------
VOTE_EMOJI = {"up": "👍", "down": "👎"}
VOTE_GONE = (
    "I no longer keep that answer, so I can't record a vote on it. Ask again with `/ask` "
    "and vote on the new answer."
)


def vote_thanks(value: str, record: AnswerRecord) -> str:
    """The private reply to a vote: what was recorded, the counts, that it can be changed."""
    what = "helpful" if value == "up" else "not helpful"
    return (
        f"{VOTE_EMOJI[value]} Thanks: recorded as {what}. This answer has "
        f"{record.up} 👍 and {record.down} 👎; press the other button to change your vote."
    )


# -- follow-ups -------------------------------------------------------------------------------
def continued_embed(answer: Answer, earlier: str, inherited: bool) -> discord.Embed:
    """An answer to a follow-up: the answer, and a footer saying what it continued from."""
    embed = answer_embed(answer)
    if inherited:
        note = cut(f"Following up on: {earlier}", 300)
        footer = embed.footer.text or ""
        embed.set_footer(text=cut(f"{note} · {footer}" if footer else note, 2048))
    return embed


# -- help -------------------------------------------------------------------------------------
def help_embed(
    everyone: list[tuple[str, str]], admin: list[tuple[str, str]], apps: list[tuple[str, str]]
) -> discord.Embed:
    """What each command does, as this member may use it here; admin commands only for admins."""
    embed = discord.Embed(title="newsbot: what I can do in this server", colour=COLOUR)

    def block(rows: list[tuple[str, str]]) -> str:
        text = "\n".join(f"`{name}` — {what}" for name, what in rows)
        return cut(text, FIELD_VALUE_MAX)

    embed.description = (
        "I answer questions about the news this server gave me, quoting the articles. "
        "Reply to one of my answers to ask a follow-up."
    )
    if not (everyone or apps or admin):
        embed.description += "\nEvery server has its own news: use me in a channel there."
    if everyone:
        embed.add_field(name="Commands", value=block(everyone), inline=False)
    if apps:
        embed.add_field(name="On any message (right-click → Apps)", value=block(apps), inline=False)
    if admin:
        embed.add_field(name="Admin commands (you can use these)", value=block(admin), inline=False)
    embed.set_footer(text="`!ingest` with text or files also adds articles")
    return embed


# -- watches ----------------------------------------------------------------------------------
def watch_line(watch: Watch) -> str:
    where = f"<#{watch.channel_id}>" if watch.channel_id else "by DM"
    topic = discord.utils.escape_markdown(discord.utils.escape_mentions(watch.topic))
    return f"`{watch.id}` **{topic}** → {where}"


def watch_list(watches: list[Watch], everyone: bool) -> str:
    if not watches:
        return "No watches yet: `/watch add topic` (add a channel to alert it instead of you)."
    head = "This server's watches:" if everyone else "Your watches:"
    text = head + "\n" + "\n".join(watch_line(w) for w in watches)
    return text[:MESSAGE_MAX]


def alert_embed(alert: Alert, watch: Watch, *, server: str | None = None) -> discord.Embed:
    """One alert: headline (linked), source and date, the matching sentence, the watch, and
    ``server``, the one it comes from, for a DM (a footer is plain text: the name as given)."""
    embed = discord.Embed(
        title=cut(alert.title, TITLE_MAX),
        url=alert.url if alert.url and alert.url.startswith(("http://", "https://")) else None,
        colour=COLOUR,
        description=f"“{cut(alert.sentence, 1000)}”",
    )
    embed.add_field(name="Source", value=cut(alert.source or "unknown", 200), inline=True)
    embed.add_field(name="Date", value=alert.published_at or "no date", inline=True)
    where = f" in {server}" if server else ""
    embed.set_footer(
        text=cut(
            f"🔔 Watch {watch.id}{where}: {watch.topic} · /watch remove {watch.id} to stop", 2048
        )
    )
    return embed


def bulk_summary(
    watch: Watch, alerts: list[Alert], articles: int, *, server: str | None = None
) -> str:
    """A bulk import's alerts for one watch, in one message (naming ``server`` in a DM)."""
    topic = discord.utils.escape_markdown(discord.utils.escape_mentions(watch.topic))
    where = f" in **{_safe(server)}**" if server else ""
    lines = [
        f"🔔 A bulk import added {articles} articles{where}; {len(alerts)} match your watch "
        f"`{watch.id}` **{topic}**:"
    ]
    for a in alerts[:10]:
        lines.append(cut(f"• {_link(a.title, a.url)} — {_meta(a.source, a.published_at)}", 300))
    if len(alerts) > 10:
        lines.append(f"… and {len(alerts) - 10} more (`/search {cut(watch.topic, 80)}`).")
    text = "\n".join(lines)
    return text if len(text) <= MESSAGE_MAX else text[: MESSAGE_MAX - 2].rsplit("\n", 1)[0] + "\n…"


# -- daily digest -----------------------------------------------------------------------------
def digest_embed(digest: Digest, *, preview: bool = False) -> discord.Embed:
    """The day's stories, most-run first: headline (linked), outlets, one verbatim sentence."""
    title = f"📰 The news of {long_day(digest.day)}"
    embed = discord.Embed(title=("Preview — " if preview else "") + title, colour=COLOUR)
    if not digest.stories:
        embed.description = "No articles were published that day in this server's news."
        return embed
    share = (EMBED_TOTAL_MAX - len(embed.title) - 200) // len(digest.stories)
    for i, story in enumerate(digest.stories, 1):
        outlets = story.source or "unknown source"
        if story.also:
            outlets += f" · also in {', '.join(story.also[:5])}"
            if len(story.also) > 5:
                outlets += f" and {len(story.also) - 5} more"
        if story.watches:
            outlets += f" · 🔔 {story.watches}"
        name = cut(f"{i}. {outlets}", FIELD_NAME_MAX)
        head = _link(cut(story.title, 200), story.url)
        room = min(FIELD_VALUE_MAX, share - len(name)) - len(head) - 4
        value = f"{head}\n“{cut(story.sentence, max(room, 20))}”"
        embed.add_field(name=name, value=value[:FIELD_VALUE_MAX], inline=False)
    more = digest.total_stories - len(digest.stories)
    footer = f"{digest.articles} articles · {digest.total_stories} stories"
    if more:
        footer += f" · {more} more: /search"
    embed.set_footer(text=footer + " · ranked by outlets, then watches")
    return embed


def long_day(day: str) -> str:
    from datetime import date

    d = date.fromisoformat(day)
    return f"{d.strftime('%A')} {d.day} {d.strftime('%B %Y')}"


def digest_schedule_line(channel_id: int, hour: int, timezone: str) -> str:
    return f"📰 The daily digest goes to <#{channel_id}> at {hour:02d}:00 ({timezone})."
