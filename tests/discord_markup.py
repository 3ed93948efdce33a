"""What Discord makes of a message's text: the links, mentions and markup in it, and the text it
shows. A small reading of Discord's markdown (the simple-markdown rules Discord uses), enough
for a test to tell whether text the bot quotes stayed text; stricter than Discord where that is
simpler (a URL counts wherever it starts, a "_" even inside a word).

``read(text)`` walks the text as Discord does: a backslash before any character that is neither
a letter, a digit nor a space is an escape (the character shows, the backslash does not), and
what is escaped starts nothing. It returns what is live and the text shown.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

# simple-markdown's link: [label](href "title"), the label holding balanced brackets; an href
# never holds a backslash or a space.
LINK = re.compile(
    r"\[((?:\[[^\]]*\]|[^\[\]]|\](?=[^\[]*\]))*)\]"
    r"\(\s*<?((?:\([^)]*\)|[^\s\\])*?)>?(?:\s+['\"]([\s\S]*?)['\"])?\s*\)"
)
# Everything Discord reads between < and >.
ANGLE = re.compile(
    r"<(?:(?P<mention>@!?\d+|@&\d+|#\d+|/[^\s:>]+(?: [^\s:>]+)*:\d+|id:\w+)"
    r"|(?P<emoji>a?:\w+:\d+)|(?P<time>t:-?\d+(?::[tTdDfFR])?)|(?P<url>[^\s>:]+:/[^\s>]+))>"
)
URL = re.compile(r"(?:https?|steam)://[^\s<]+[^<.,:;\"')\]\s]")
PING = re.compile(r"@(?:everyone|here)")
INVITE = re.compile(r"discord(?:app)?\.(?:gg|com/invite)/\w", re.IGNORECASE)
# Headings, subtext, block quotes and lists: only at the start of a line.
LINE = re.compile(r"[ \t]*(#{1,3} |-# |>>> |> |[-*] |\d+\. )")
CODE = re.compile(r"(`+)([\s\S]*?[^`])\1(?!`)")
FORMAT = re.compile(r"\*\*|__|~~|\|\||[*_~]")

# What the bot never does itself: when found, text it quoted did it.
NEVER_THE_BOTS = {"mention", "emoji", "time", "url", "ping", "invite", "line"}


@dataclass(frozen=True)
class Live:
    """Something Discord makes of the text: ``kind`` (link, mention, emoji, time, url, ping,
    invite, line, code, format), the text that made it, and a link's address."""

    kind: str
    text: str
    target: str = ""


def read(text: str) -> tuple[list[Live], str]:
    """What is live in ``text``, and the text Discord shows for it."""
    found: list[Live] = []
    shown: list[str] = []
    i, line_start = 0, True
    while i < len(text):
        if line_start and (m := LINE.match(text, i)):
            found.append(Live("line", m[1].strip()))
        line_start = False
        c, after = text[i], text[i + 1 : i + 2]
        if c == "\\" and after and not after.isalnum() and not after.isspace():
            shown.append(after)
            i += 2
            continue
        m = None
        if c == "`" and (m := CODE.match(text, i)):
            found.append(Live("code", m[2]))
            shown.append(m[2])
        elif c == "[" and (m := LINK.match(text, i)):
            found.append(Live("link", m[1], m[2]))
            inside, label = read(m[1])
            found.extend(inside)
            shown.append(label)
        elif c == "<" and (m := ANGLE.match(text, i)):
            found.append(Live(str(m.lastgroup), m[0]))
            shown.append(m[0])
        elif (m := URL.match(text, i)) or (m := PING.match(text, i)):
            found.append(Live("url" if m.re is URL else "ping", m[0]))
            shown.append(m[0])
        elif m := FORMAT.match(text, i):
            found.append(Live("format", m[0]))
            shown.append(m[0])
        if m is not None:
            i = m.end()
            continue
        if INVITE.match(text, i):
            found.append(Live("invite", text[i : i + 12]))
        line_start = c == "\n"
        shown.append(c)
        i += 1
    return found, "".join(shown)


def live(text: str) -> list[Live]:
    return read(text)[0]


def shown(text: str) -> str:
    """The text a reader sees (zero-width spaces left out: nobody sees those either)."""
    return read(text)[1].replace("\u200b", "")


def parts(message: dict[str, Any]) -> list[tuple[bool, str]]:
    """Every part of a posted message where Discord renders markdown, and whether it renders
    headings, quotes and lists there: its content and each embed's description and field
    values do; titles and field names render inline markup only; footers render none."""
    out = [(True, message.get("content") or "")]
    for embed in message.get("embeds") or []:
        out += [(False, embed.get("title") or ""), (True, embed.get("description") or "")]
        for f in embed.get("fields") or []:
            out += [(False, f["name"]), (True, f["value"])]
    return out


def only_text(message: dict[str, Any], own: set[str] = frozenset()) -> str:
    """Assert that in ``message`` nothing quoted is live: no link but the bot's own headline
    links (to the addresses in ``own``), no mention, timestamp, custom emoji, URL, ping or
    invite, no heading, subtext, quote or list, no spoiler, strike-through, underline or
    italics (the bot only makes bold); the text shown, one part a line, for more asserts."""
    problems = []
    for blocks, part in parts(message):
        for x in live(part):
            if (
                (x.kind in NEVER_THE_BOTS and (blocks or x.kind != "line"))
                or (x.kind == "link" and x.target not in own)
                or (x.kind == "format" and x.text != "**")
                or (x.kind == "code" and not re.fullmatch(r"#?\d+|/search [^`]*", x.text))
            ):
                problems.append(x)
    assert problems == [], f"live in {parts(message)}: {problems}"
    return "\n".join(shown(p) for _, p in parts(message))
