"""Answers, hits and article lists → Discord embeds, always within Discord's limits.

Pure functions over index models: unit-tested without a client. Snippets are cut at word
boundaries with "…", never mid-word, so what is shown stays a verbatim piece of the article.
"""

from __future__ import annotations

import discord

from index.models import Answer, Article, Hit

TITLE_MAX = 256
DESCRIPTION_MAX = 4096
FIELD_NAME_MAX = 256
FIELD_VALUE_MAX = 1024
FIELDS_MAX = 25
EMBED_TOTAL_MAX = 6000
ELLIPSIS = "…"
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


def embed_length(embed: discord.Embed) -> int:
    return len(embed)


def answer_embed(answer: Answer) -> discord.Embed:
    """The answer with [n] markers, then each numbered source with its verbatim snippet."""
    embed = discord.Embed(title=cut(answer.question, TITLE_MAX), colour=COLOUR)
    if not answer.found:
        embed.description = NOTHING_FOUND
        return embed
    embed.description = cut(answer.text, DESCRIPTION_MAX)
    citations = answer.citations[:FIELDS_MAX]
    footer = f"{len(citations)} source{'s' * (len(citations) != 1)} · snippets are verbatim"
    embed.set_footer(text=footer)
    fixed = len(embed.title or "") + len(embed.description or "") + len(footer)
    heads = [_link(c.title, c.url) for c in citations]
    names = [cut(f"[{c.n}] {_meta(c.source, c.published_at)}", FIELD_NAME_MAX) for c in citations]
    spare = EMBED_TOTAL_MAX - fixed - sum(len(n) for n in names) - 16
    share = max(spare // max(len(citations), 1), 80)
    for c, head, name in zip(citations, heads, names, strict=True):
        head = cut(head, 300) if len(head) > 300 else head
        room = min(FIELD_VALUE_MAX, share) - len(head) - 1
        value = f"{head}\n{cut(' '.join(c.snippet.split()), max(room, 1))}"
        embed.add_field(name=name, value=value[:FIELD_VALUE_MAX], inline=False)
    return embed


def hits_embed(query: str, hits: list[Hit]) -> discord.Embed:
    """The top passages themselves, for people who want to read rather than be told."""
    embed = discord.Embed(title=cut(f"Passages for: {query}", TITLE_MAX), colour=COLOUR)
    if not hits:
        embed.description = NOTHING_FOUND
        return embed
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
