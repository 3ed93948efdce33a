"""Following RSS/Atom (and JSON) feeds: parse them safely, poll them politely, ingest new entries.

Parsing (``parse``: RSS/Atom, ``jsonfeed``: JSON Feed, ``entry``: the entry they make, ``html``:
entry HTML → text) is apart from polling (``poll``: ``FeedPoller``, the schedule and backoff;
``entries``: one entry from what was remembered of it to a stored article). Nothing here writes
feed state except through the store's ``FeedStateStore`` part, nor an article except through
``NewsService.ingest``.
"""

from __future__ import annotations

from .entries import MAX_ENTRY_ATTEMPTS
from .entry import FULL_TEXT_WORDS, FeedEntry, NotAFeedError
from .html import html_to_text
from .parse import parse_feed
from .poll import FeedPoller, PollReport

__all__ = [
    "FULL_TEXT_WORDS",
    "MAX_ENTRY_ATTEMPTS",
    "FeedEntry",
    "FeedPoller",
    "NotAFeedError",
    "PollReport",
    "html_to_text",
    "parse_feed",
]
