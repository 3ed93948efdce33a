"""Answers, hits, article lists, ingest reports and feeds → Discord messages, always within
Discord's limits.

Pure functions over index models: unit-tested without a client. Snippets are cut at word
boundaries with "…", never mid-word, so what is shown stays a verbatim piece of the article.

Everything an article, a page, a feed or a member supplied (text, titles, sources, topics,
questions…) goes through ``plain`` before it reaches markdown: it shows as the text it is,
never as a link, markup or a mention. The bot's own markup (bold, a title linked to its
article) is added around it. Embed footers render no markdown, so they take text as it is.
"""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING

import discord

from index.models import Answer, Article, Citation, Found, short_date
from index.search.when import Window

if TYPE_CHECKING:
    from index.features.digests import Digest
    from index.features.feedback import AnswerRecord
    from index.features.watches import Alert, Watch
    from index.models import IngestResult
    from index.search.timeline import Timeline
    from index.service import IngestReport
    from index.store import Feed

TITLE_MAX = 256
DESCRIPTION_MAX = 4096
FIELD_NAME_MAX = 256
FIELD_VALUE_MAX = 1024
FIELDS_MAX = 25
EMBED_TOTAL_MAX = 6000
MESSAGE_MAX = 1900  # of Discord's 2,000 characters: room for a "…" line and markup
ELLIPSIS = "…"
TIMELINE_MAX = 12  # lines of a timeline shown (index.search.timeline.MAX_LINES: all of them)
MIN_SNIPPET = 80
LINK_TEXT_MAX = 200
URL_MAX = 512
_LINKABLE = re.compile(r"https?://[^\s<>\\]+")  # one word: nothing in it ends the link early
COLOUR = discord.Colour.blurple()
NOTHING_FOUND = (
    "I couldn't find anything relevant to that in this server's news. Add articles with "
    "`/ingest` (a file or text) or `!ingest` with attached files, then ask again."
)


# Escaped wherever they stand: emphasis, code, spoilers; "[" (but a citation marker's, [1]) and
# the "(" of "](": no masked link starts or closes; "<": mentions, channels, roles, /commands,
# timestamps, custom emoji, <url> links; "://": no bare URL becomes a link (nor a preview).
_ANYWHERE = re.compile(r"[\\*_~|`<]|\[(?!\d{1,3}\])|(?<=\])\(|:(?=//)")
# What only means something at the start of a line: headings, -# subtext, block quotes, lists.
_LINE_START = re.compile(r"^([ \t]*)(?:([#>+-])|(\d+)\.(?=[ \t]))", re.MULTILINE)
_PINGS = re.compile(r"@(everyone|here)")
_INVITE = re.compile(r"(discord(?:app)?)\.(?=(?:gg|com|me|io)/)", re.IGNORECASE)


def _line_start(m: re.Match[str]) -> str:
    return f"{m[1]}\\{m[2]}" if m[2] else f"{m[1]}{m[3]}\\."


def plain(text: str) -> str:
    """Supplied text as Discord shows it: what it says, and nothing it could do.

    Markdown is backslash-escaped (Discord hides the backslashes), ``@everyone`` and ``@here``
    get a zero-width space (no ping even where mentions were allowed), and a discord.gg
    invite is broken up like a URL. An escape is a backslash and one character, never a
    space, so ``cut`` (which cuts at spaces) never splits one: escape first, then cut.
    """
    text = _ANYWHERE.sub(r"\\\g<0>", text)
    text = _LINE_START.sub(_line_start, text)
    text = _INVITE.sub(r"\1\\.", text)
    return _PINGS.sub("@\u200b\\1", text)


def code(text: str) -> str:
    """Supplied text inside `…`: no escape works there, so its backticks become quotes."""
    return _PINGS.sub("@\u200b\\1", text.replace("`", "'"))


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


def _link(title: str, url: str | None, limit: int = LINK_TEXT_MAX) -> str:
    """A headline in bold, linked to its article: the one link the bot makes of stored data.
    The title is its text (brackets become parentheses: nothing to close the link early)."""
    safe = cut(plain(title.replace("[", "(").replace("]", ")")), limit)
    href = (url or "").replace("(", "%28").replace(")", "%29")
    if _LINKABLE.fullmatch(href) and len(href) <= URL_MAX:
        return f"**[{safe}]({href})**"
    return f"**{safe}**"


def _headline(title: str, url: str | None, room: int) -> str:
    """``_link`` in at most ``room`` characters: linked when that fits, else unlinked, else
    with its title cut shorter."""
    head = _link(title, url)
    return head if len(head) <= room else _link(title, None, max(min(room - 4, LINK_TEXT_MAX), 1))


def _meta(source: str | None, published_at: str | None) -> str:
    return " · ".join(plain(x) for x in (source, published_at) if x) or "no source or date"


def nothing_found(window: Window | None, searched_all: bool = False) -> str:
    if window is None:
        return NOTHING_FOUND
    when = plain(window.description)
    where = (
        f"in this server's {when}, nor in the rest of its news"
        if searched_all
        else f"in this server's {when}"
    )
    return f"I couldn't find anything relevant {where}. Add articles with `/ingest`."


def _snippets(c: Citation, limit: int) -> str:
    """The citation's verbatim passages, quoted, sharing ``limit`` characters."""
    texts = [plain(" ".join(s.text.split())) for s in c.snippets]
    share = max(limit // len(texts) - 4, 1)
    return "\n".join(f"“{cut(t, share)}”" for t in texts)


def answer_embed(answer: Answer) -> discord.Embed:
    """The answer with [n] markers, then each numbered source with its verbatim snippets.

    An answer from old news opens with the date of the newest evidence, in bold, so nobody
    reads a 2023 story as this week's; a question that named a time says which it searched.
    """
    embed = discord.Embed(title=cut(plain(answer.question), TITLE_MAX), colour=COLOUR)
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
        h if len(h) <= 300 else _link(c.title, None) for h, c in zip(heads, citations, strict=True)
    ]
    names = [cut(f"[{c.n}] {_meta(c.source, c.published_at)}", FIELD_NAME_MAX) for c in citations]
    # Every source keeps room for its link and some snippet; the answer gets the rest.
    reserved = sum(len(n) + len(h) + 1 + MIN_SNIPPET for n, h in zip(names, heads, strict=True))
    room = EMBED_TOTAL_MAX - len(embed.title) - len(footer) - reserved
    lead = f"**{plain(answer.lead)}**\n" if answer.lead else ""
    body = cut(plain(answer.body), max(min(DESCRIPTION_MAX, room) - len(lead), 1))
    embed.description = lead + body
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


def timeline_embed(timeline: Timeline) -> discord.Embed:
    """One story's developments, newest first: each day in bold and the sentence that tells it
    with its [n], then the numbered sources as under an answer, the count and span below.

    Every source keeps room for its headline and some snippet; the lines share the rest of
    the embed, each cut to an equal part of it.
    """
    embed = discord.Embed(title=cut(f"Timeline: {plain(timeline.topic)}", TITLE_MAX), colour=COLOUR)
    lines = timeline.lines[:TIMELINE_MAX]
    if not lines:
        embed.description = NOTHING_FOUND
        return embed
    embed.set_footer(text=timeline.summary)
    citations = [x.citation for x in lines]
    names = [cut(f"[{c.n}] {_meta(c.source, c.published_at)}", 100) for c in citations]
    # The sources take at most half the embed: the lines are what was asked for.
    head_room = min(300, (EMBED_TOTAL_MAX // 2) // len(lines) - MIN_SNIPPET - 1)
    heads = [_headline(c.title, c.url, head_room) for c in citations]
    reserved = sum(len(n) + len(h) + 1 + MIN_SNIPPET for n, h in zip(names, heads, strict=True))
    room = min(
        DESCRIPTION_MAX, EMBED_TOTAL_MAX - len(embed.title) - len(timeline.summary) - reserved
    )
    share = max(room, 0) // len(lines) - 1  # each line and its "\n"
    rows = []
    for x in lines:
        day = f"**{short_date(x.published_at) if x.published_at else 'undated'}** — "
        marker = f" [{x.citation.n}]"
        said = cut(plain(" ".join(x.text.split())), max(share - len(day) - len(marker) - 2, 1))
        rows.append(f"{day}“{said}”{marker}")
    embed.description = "\n".join(rows)
    spare = (
        EMBED_TOTAL_MAX
        - len(embed)
        - sum(len(n) + len(h) + 1 for n, h in zip(names, heads, strict=True))
    )
    share = spare // len(citations)
    for c, head, name in zip(citations, heads, names, strict=True):
        limit = min(FIELD_VALUE_MAX - len(head) - 1, share)
        embed.add_field(name=name, value=f"{head}\n{_snippets(c, limit)}", inline=False)
    return embed


def hits_embed(query: str, found: Found) -> discord.Embed:
    """The top passages themselves, for people who want to read rather than be told."""
    embed = discord.Embed(title=cut(f"Passages for: {plain(query)}", TITLE_MAX), colour=COLOUR)
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
            name=name, value=f"{head}\n{cut(plain(' '.join(h.text.split())), room)}", inline=False
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
    room = DESCRIPTION_MAX // len(articles) - 1
    lines = []
    for a in articles:
        rest = f" — {cut(_meta(a.source, a.published_at), 150)} ({a.chunk_count} chunks)"
        head = f"`#{a.id}` "
        lines.append(head + _headline(a.title, a.url, room - len(head) - len(rest)) + rest)
    description = ""
    for line in lines:
        if len(description) + len(line) + 1 > DESCRIPTION_MAX:
            break
        description += line + "\n"
    embed.description = description.rstrip()
    embed.set_footer(text=f"Page {page} of {pages} · {total} articles")
    return embed


def forgotten(article: Article) -> str:
    return (
        f"🗑️ Forgot `#{article.id}` **{cut(plain(article.title), 200)}** "
        f"and its {article.chunk_count} passages."
    )


def stats_embed(stats: dict[str, object]) -> discord.Embed:
    embed = discord.Embed(title="newsbot stats", colour=COLOUR)
    for key in ("articles", "chunks", "indexed_vectors", "model"):
        embed.add_field(name=key.replace("_", " "), value=str(stats.get(key, "?")), inline=True)
    return embed


def _stored(icon: str, verb: str, r: IngestResult) -> str:
    return (
        f"{icon} {verb} `#{r.article_id}` **{cut(plain(r.title), 200)}** "
        f"({plain(r.published_at or 'no date')}) — {r.chunk_count} chunks"
    )


def ingest_report(report: IngestReport) -> str:
    """What every ingest path replies: one line an input, added, updated (a changed page read
    again), already indexed or failed, in that order."""
    lines = [_stored("✅", "Added", r) for r in report.added]
    lines += [_stored("🔄", "Updated", r) for r in report.updated]
    for r in report.duplicates:
        ref = f"`#{r.article_id}` " if r.article_id > 0 else ""
        why = f" ({cut(plain('; '.join(r.notes)), 200)})" if r.notes else ""
        lines.append(f"↩️ Already indexed: {ref}**{cut(plain(r.title), 200)}**{why}")
    lines += [f"⚠️ {cut(plain(f.reason), 400)}" for f in report.failed]
    return _lines(lines) or "Nothing to add."


def _lines(lines: list[str], limit: int = MESSAGE_MAX) -> str:
    """Whole lines while they fit, then "…": a line is never cut (nor its markup, nor an
    escape in it)."""
    text = "\n".join(lines)
    if len(text) <= limit:
        return text
    kept: list[str] = []
    size = 2  # the "\n…" line
    for line in lines:
        if size + len(line) + 1 > limit:
            break
        kept.append(line)
        size += len(line) + 1
    return "\n".join([*kept, "…"])


def feed_line(feed: Feed) -> str:
    """A followed feed as /feeds lists it; its state and period come from the store's Feed."""
    state = f"⏸️ {feed.state}" if feed.paused else feed.state
    name = cut(plain(feed.title or feed.url), 120)
    return f"`{feed.id}` **{name}** {address(feed.url)} — {feed.every}, {state}"


def address(url: str) -> str:
    """A web address a member gave, shown as text: not a link, no preview."""
    return cut(plain(url), 300)


def _span(seconds: float) -> str:
    seconds = abs(seconds)
    for size, unit in ((86400, "day"), (3600, "hour"), (60, "minute")):
        if seconds >= size:
            n = int(seconds // size)
            return f"{n} {unit}{'s' if n != 1 else ''}"
    return "seconds"


def _when(stamp: float | None, now: float | None = None) -> str:
    """A moment relative to now, in words ("3 hours ago", "in 2 hours"): plain text, like all
    the bot writes (no Discord timestamp markup)."""
    if stamp is None:
        return "never"
    delta = stamp - (time.time() if now is None else now)
    return f"in {_span(delta)}" if delta > 0 else f"{_span(delta)} ago"


def feed_health(feed: Feed) -> str:
    """Under a feed in /feeds list: its last success, the articles it added, its last error."""
    parts = [
        f"last success {_when(feed.last_success_at)}",
        f"{feed.articles_added} article{'s' if feed.articles_added != 1 else ''} added",
    ]
    if feed.last_error:
        parts.append(f"last error {_when(feed.last_error_at)}: {cut(plain(feed.last_error), 200)}")
    if feed.failures:
        parts.append(f"{feed.failures} failed poll{'s' if feed.failures != 1 else ''} in a row")
    return "\u2003" + " · ".join(parts)


def feed_list(feeds: list[Feed]) -> str:
    lines = [f"{feed_line(f)}\n{feed_health(f)}" for f in feeds]
    return _lines(lines) or "No feeds yet: `/feeds add url`."


def feed_notice(feed: Feed, kind: str, error: str, next_poll_at: float) -> str:
    """The one message a feed's trouble gets in the /feeds notify channel: what is wrong, and
    what to do about it (``kind``: "failing", "paused" or "recovered")."""
    name = f"`{feed.id}` **{cut(plain(feed.title or feed.url), 120)}** {address(feed.url)}"
    if kind == "recovered":
        return f"✅ Feed {name} works again: its new articles are being added."
    reason = cut(plain(error), 300)
    if kind == "paused":
        return (
            f"⏸️ I paused feed {name} after {feed.failures} failed polls in a row. "
            f"The last error: {reason}.\n"
            f"Check that the address still opens in a browser. If the feed moved, "
            f"`/feeds remove {feed.id}` and `/feeds add` its new address; once it works again, "
            f"`/feeds resume {feed.id}`."
        )
    return (
        f"⚠️ Feed {name} has failed {feed.failures} polls in a row: {reason}.\n"
        f"I keep trying, less often (next try {_when(next_poll_at)}). Check that the address "
        f"still opens in a browser; if the feed moved, `/feeds remove {feed.id}` and "
        f"`/feeds add` its new address, or `/feeds pause {feed.id}` to stop trying. "
        f"I will not post about this again until it works."
    )


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
    return f"`{watch.id}` **{plain(watch.topic)}** → {where}"


def watch_list(watches: list[Watch], everyone: bool) -> str:
    if not watches:
        return "No watches yet: `/watch add topic` (add a channel to alert it instead of you)."
    head = "This server's watches:" if everyone else "Your watches:"
    return _lines([head, *(watch_line(w) for w in watches)])


def alert_embed(alert: Alert, watch: Watch, *, server: str | None = None) -> discord.Embed:
    """One alert: headline (linked), source and date, the matching sentence, the watch, and
    ``server``, the one it comes from, for a DM (a footer is plain text: the name as given)."""
    embed = discord.Embed(
        title=cut(plain(alert.title), TITLE_MAX),
        url=alert.url if alert.url and alert.url.startswith(("http://", "https://")) else None,
        colour=COLOUR,
        description=f"“{cut(plain(alert.sentence), 1000)}”",
    )
    embed.add_field(name="Source", value=cut(plain(alert.source or "unknown"), 200), inline=True)
    embed.add_field(name="Date", value=plain(alert.published_at or "no date"), inline=True)
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
    where = f" in **{plain(server)}**" if server else ""
    lines = [
        f"🔔 A bulk import added {articles} articles{where}; {len(alerts)} match your watch "
        f"`{watch.id}` **{plain(watch.topic)}**:"
    ]
    for a in alerts[:10]:
        meta = f" — {cut(_meta(a.source, a.published_at), 100)}"
        lines.append(f"• {_headline(a.title, a.url, 300 - len(meta) - 2)}{meta}")
    if len(alerts) > 10:
        lines.append(f"… and {len(alerts) - 10} more (`/search {code(cut(watch.topic, 80))}`).")
    return _lines(lines)


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
        outlets = plain(story.source or "unknown source")
        if story.also:
            outlets += f" · also in {', '.join(plain(s) for s in story.also[:5])}"
            if len(story.also) > 5:
                outlets += f" and {len(story.also) - 5} more"
        if story.watches:
            outlets += f" · 🔔 {story.watches}"
        name = cut(f"{i}. {outlets}", FIELD_NAME_MAX)
        head = _link(story.title, story.url)
        room = min(FIELD_VALUE_MAX, share - len(name)) - len(head) - 4
        value = f"{head}\n“{cut(plain(story.sentence), max(room, 20))}”"
        embed.add_field(name=name, value=value, inline=False)
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
