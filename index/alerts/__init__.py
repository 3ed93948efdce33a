"""Standing questions ("watches") and the alerts they raise when new articles match them.

``match`` scores an article against a watch's topic (one embedding, the passages' stored
vectors: nothing is embedded again) and picks the sentence to quote; the service keeps watches
in the store (``WatchStore``) and finds the alerts of the articles added since its last look.
"""

from .match import (
    ALERT_BAR,
    Alert,
    matching_sentence,
    same_story,
    same_story_as,
    score_passages,
)

__all__ = [
    "ALERT_BAR",
    "Alert",
    "matching_sentence",
    "same_story",
    "same_story_as",
    "score_passages",
]
