"""The store's feature parts (``index.store.features``: answers and votes, watches and alerts,
digest schedules) held to their contracts on SQLite and PostgreSQL alike, so a bot on either
backend keeps its feedback buttons, watches and digests. What only several processes sharing
PostgreSQL do (two stores on one database) is in test_postgres.py."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import suppress

import numpy as np
import pytest
from test_service import STRIKE, VOLCANO

from helpers import FAKE_EMBEDDER_BARS, make_service
from index.errors import NotFoundError
from index.features.feedback import CitedRef
from index.service import NewsService
from index.settings import CoreSettings

pytestmark = pytest.mark.backends

CITED = (CitedRef(5, "Volcano erupts", "Reuters", "https://example.com/v", "2023-12-18"),)


@pytest.fixture
def svc(settings: CoreSettings) -> Iterator[NewsService]:
    with make_service(settings, alert_bar=0.3, **FAKE_EMBEDDER_BARS) as service:
        yield service


def record(svc: NewsService, cid: int, question: str, channel: int | None = 7, keep: int = 200):
    return svc.store.feedback.record(
        cid,
        question,
        citations=CITED,
        asked_by="10",
        channel_id=channel,
        since="2023-12-01",
        until=None,
        as_of="2023-12-20",
        keep=keep,
    )


def test_answers_keep_what_was_asked_and_one_vote_a_member(svc: NewsService):
    fb = svc.store.feedback
    cid = svc.store.collections.id_of("news", create=True)
    first = record(svc, cid, "what erupted?")
    second = record(svc, cid, "who struck?", channel=None)
    assert second > first
    got = fb.get(first)
    assert (got.collection, got.question, got.citations, got.asked_by) == (
        "news",
        "what erupted?",
        CITED,
        "10",
    )
    assert (got.channel_id, got.message_id, got.since, got.until, got.as_of) == (
        7,
        None,
        "2023-12-01",
        None,
        "2023-12-20",
    )
    assert (got.up, got.down) == (0, 0)

    big = 1_300_000_000_000_000_001  # Discord ids are 64-bit
    fb.set_message(first, big)
    assert fb.by_message(big).id == first and fb.by_message(big).message_id == big
    assert fb.by_message(42) is None

    assert fb.vote(first, "alice", 1).up == 1
    assert (fb.vote(first, "alice", -1).up, fb.get(first).down) == (0, 1)  # replaced
    assert fb.vote(first, "bob", -1).score == -2
    fb.vote(second, "alice", -1)
    fb.vote(second, "bob", 1)
    with pytest.raises(ValueError):
        fb.vote(first, "alice", 2)
    with pytest.raises(NotFoundError):
        fb.vote(10_000, "alice", 1)
    with pytest.raises(NotFoundError):
        fb.get(10_000)

    other = svc.store.collections.id_of("other", create=True)
    third = record(svc, other, "anything?")
    fb.vote(third, "carol", -1)
    assert [a.id for a in fb.worst(cid)] == [first, second]  # net down first
    assert [a.id for a in fb.worst(None)] == [first, third, second]
    assert [a.id for a in fb.worst(None, limit=1)] == [first]


def test_a_channel_keeps_its_newest_unvoted_answers_and_every_voted_one(svc: NewsService):
    fb = svc.store.feedback
    cid = svc.store.collections.id_of("news", create=True)
    ids = [record(svc, cid, f"question {i}", keep=3) for i in range(3)]
    fb.vote(ids[0], "1", -1)
    elsewhere = record(svc, cid, "in another channel", channel=8, keep=3)
    ids += [record(svc, cid, f"question {i}", keep=3) for i in range(3, 8)]
    kept = []
    for answer_id in ids:
        with suppress(NotFoundError):
            kept.append(fb.get(answer_id).question)
    assert kept == ["question 0", "question 5", "question 6", "question 7"]
    assert fb.get(elsewhere).question == "in another channel"


def test_watches_their_vectors_and_alerts_once_a_pair(svc: NewsService):
    ws = svc.store.watches
    cid = svc.store.collections.id_of("news", create=True)
    assert ws.latest_article_id(cid) == 0
    vec = np.arange(8, dtype=np.float32) / 10
    one = ws.add(cid, "volcanoes", vec, owner="10", channel_id=None)
    two = ws.add(cid, "strikes", vec[::-1], owner="11", channel_id=1_300_000_000_000_000_001)
    assert (one.collection, one.topic, one.owner, one.channel_id) == (
        "news",
        "volcanoes",
        "10",
        None,
    )
    assert ws.get(two.id) == two and ws.get(two.id, cid) == two
    other = svc.store.collections.id_of("other", create=True)
    with pytest.raises(NotFoundError):
        ws.get(two.id, other)
    assert ws.of_collection(cid) == [one, two] and ws.of_collection(cid, "11") == [two]
    vectors = ws.vectors(cid)
    assert [w for w, _ in vectors] == [one, two]
    assert vectors[1][1].dtype == np.float32 and np.array_equal(vectors[1][1], vec[::-1])

    svc.ingest("news", [VOLCANO])
    volcano = ws.latest_article_id(cid)
    assert ws.mark_alerted(one.id, volcano, "Volcano erupts", 0.61) is True
    assert ws.mark_alerted(one.id, volcano, "Volcano erupts", 0.7) is False  # once a pair
    assert ws.mark_alerted(two.id, volcano, "Volcano erupts", 0.4) is True
    assert ws.mark_alerted(one.id, volcano + 1, "Forgotten since", 0.6) is True
    # what the same-story check reads: the alerted articles still stored, with their passages
    ((article, texts, vectors),) = ws.recent_alerts(one.id, "2000-01-01T00:00:00+00:00")
    assert article.id == volcano and article.title == VOLCANO.title
    assert len(texts) == vectors.shape[0] == article.chunk_count and "Reykjanes" in texts[0]
    assert ws.recent_alerts(one.id, "2999-01-01T00:00:00+00:00") == []
    assert ws.remove(cid, one.id) == one
    with pytest.raises(NotFoundError):
        ws.remove(cid, one.id)
    assert ws.of_collection(cid) == [two]
    assert ws.recent_alerts(one.id, "2000-01-01") == []  # its alerts went with it


def test_the_alert_scan_reads_new_articles_with_their_stored_vectors(svc: NewsService):
    svc.ingest("news", [STRIKE])
    cid = svc.store.collections.id_of("news")
    ws = svc.store.watches
    strike_id = ws.latest_article_id(cid)
    svc.ingest("news", [VOLCANO])
    volcano_id = ws.latest_article_id(cid)
    assert volcano_id > strike_id

    batch = ws.articles_after(cid, 0, 10)
    assert [a.id for a, _, _ in batch] == [strike_id, volcano_id]  # oldest first
    article, texts, vectors = batch[1]
    assert article.title == VOLCANO.title and article.collection == "news"
    assert len(texts) == article.chunk_count == vectors.shape[0] and "Reykjanes" in texts[0]
    stored = np.vstack([v for _, v in svc.store.chunks.iter_vectors(cid)])  # chunk id order
    assert np.array_equal(np.vstack([v for _, _, v in batch]), stored)  # as stored at ingest
    assert vectors.dtype == np.float32
    assert [a.id for a, _, _ in ws.articles_after(cid, strike_id, 10)] == [volcano_id]
    assert [a.id for a, _, _ in ws.articles_after(cid, 0, 1)] == [strike_id]
    assert ws.articles_after(cid, volcano_id, 10) == []


def test_a_watch_alerts_once_for_news_added_after_it(svc: NewsService):
    svc.ingest("news", [STRIKE])
    watch = svc.watches.add("news", "volcano eruption lava Grindavik", owner="10", channel_id=None)
    cid = svc.store.collections.id_of("news")
    assert svc.store.get_meta(f"alerts.seen.{cid}") == str(svc.store.watches.latest_article_id(cid))
    assert svc.watches.scan("news") == ([], 0)  # the strike came before the watch
    svc.ingest("news", [VOLCANO])
    alerts, looked = svc.watches.scan("news")
    assert looked == 1 and [(a.watch_id, a.title) for a in alerts] == [(watch.id, VOLCANO.title)]
    assert svc.store.get_meta(f"alerts.seen.{cid}") == str(alerts[0].article_id)
    assert svc.watches.scan("news") == ([], 0)
    svc.store.set_meta(f"alerts.seen.{cid}", "0")  # a scan that looks again alerts nothing twice
    assert svc.watches.scan("news")[0] == []


def test_a_digest_schedule_and_its_day_sent_once(svc: NewsService):
    ds = svc.store.digests
    cid = svc.store.collections.id_of("news", create=True)
    other = svc.store.collections.id_of("other", create=True)
    assert ds.get(cid) is None and ds.all() == [] and ds.remove(cid) is False
    ds.set(cid, 1_300_000_000_000_000_001, 8, "Europe/Paris")
    ds.set(other, 5, 23, "UTC")
    ds.set(cid, 6, 7, "Europe/Paris")  # set again: replaced
    got = ds.get(cid)
    assert (got.collection, got.channel_id, got.hour, got.timezone, got.last_day) == (
        "news",
        6,
        7,
        "Europe/Paris",
        None,
    )
    assert [d.collection for d in ds.all()] == ["news", "other"]
    assert ds.sent(cid, "2026-11-30") is True
    assert ds.sent(cid, "2026-11-30") is False  # that day went out already
    assert ds.sent(cid, "2026-11-29") is False
    assert ds.sent(cid, "2026-12-01") is True and ds.get(cid).last_day == "2026-12-01"
    ds.set(cid, 6, 9, "UTC")
    assert ds.get(cid).last_day == "2026-12-01"  # a new hour keeps the day sent
    assert ds.remove(cid) is True and ds.get(cid) is None
    assert ds.sent(cid, "2026-12-02") is False  # no schedule: nothing to record


def test_a_digest_reads_the_day_newest_first(svc: NewsService):
    svc.ingest("news", [STRIKE, VOLCANO])
    cid = svc.store.collections.id_of("news")
    day = svc.store.digests.published(cid, "2023-12-18", "2023-12-18")
    assert [a.title for a, _, _ in day] == [VOLCANO.title]
    both = svc.store.digests.published(cid, "2023-10-01", "2023-12-31")
    assert [a.title for a, _, _ in both] == [VOLCANO.title, STRIKE.title]
    assert all(len(t) == v.shape[0] > 0 for _, t, v in both)
    assert [
        a.title for a, _, _ in svc.store.digests.published(cid, "2023-10-01", "2023-12-31", 1)
    ] == [VOLCANO.title]


def test_deleting_a_collection_takes_its_answers_watches_and_digest(svc: NewsService):
    svc.ingest("news", [VOLCANO])
    cid = svc.store.collections.id_of("news")
    answer = record(svc, cid, "what erupted?")
    svc.store.feedback.vote(answer, "alice", -1)
    svc.store.watches.add(
        cid, "volcanoes", np.ones(4, dtype=np.float32), owner="1", channel_id=None
    )
    svc.store.digests.set(cid, 6, 7, "UTC")
    with svc.store.transaction() as db:
        db.execute("DELETE FROM collections WHERE id = " + str(cid))
    with pytest.raises(NotFoundError):
        svc.store.feedback.get(answer)
    assert svc.store.feedback.worst(None) == [] and svc.store.digests.all() == []
    assert svc.store.watches.of_collection(cid) == []
