"""Ingest embedding runs on its own lower-priority thread; questions keep their own lane."""

from __future__ import annotations

import os
import sys
import threading
import time

import numpy as np
import pytest

from fake_embedder import FakeEmbedder
from index.search.embed import BackgroundLane, QueryBatcher


class RecordingEmbedder(FakeEmbedder):
    """Notes which thread, at what OS priority and thread count, ran each pass."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[str, int, int]] = []
        self.threads = 0

    def use_threads(self, threads: int) -> None:
        self.threads = threads or 2

    def embed(self, texts):
        tid = threading.get_native_id()
        self.seen.append(
            (threading.current_thread().name, os.getpriority(os.PRIO_PROCESS, tid), self.threads)
        )
        return super().embed(texts)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice is Linux's")
def test_ingest_passes_run_at_a_lower_priority_than_questions():
    embedder = RecordingEmbedder()
    lane = BackgroundLane(nice=5)
    queries = QueryBatcher(embedder, threads=1)
    try:
        mine = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        bulk = lane.embed(embedder, ["the council approved the bridge", "work starts in May"])
        question = queries.embed_one("what did the council approve?")
    finally:
        lane.close()
    assert bulk.shape == (2, embedder.dim) and question.shape == (embedder.dim,)
    assert np.allclose(bulk[0], embedder.embed(["the council approved the bridge"])[0])
    (bulk_name, bulk_nice, bulk_threads), (query_name, query_nice, query_threads) = embedder.seen[
        :2
    ]
    assert bulk_name.startswith("newsbot-bulk-embed") and bulk_nice == min(mine + 5, 19)
    assert query_name == "newsbot-queries" and query_nice == mine
    assert (bulk_threads, query_threads) == (2, 1)


def test_no_nice_is_a_plain_hand_off():
    lane = BackgroundLane(nice=0)
    try:
        out = lane.embed(FakeEmbedder(), ["one text"])
    finally:
        lane.close()
    assert out.shape == (1, 64) and not lane.lowered


def test_torch_thread_counts_are_kept_per_thread():
    """What the two lanes rely on: one thread's count survives another thread setting its own."""
    torch = pytest.importorskip("torch")
    from concurrent.futures import ThreadPoolExecutor

    from index.search.embed import SentenceTransformerEmbedder

    embedder = SentenceTransformerEmbedder()  # the tokenizer only: no model is loaded for this
    with ThreadPoolExecutor(1) as a, ThreadPoolExecutor(1) as b:
        a.submit(embedder.use_threads, 1).result()
        b.submit(embedder.use_threads, 2).result()
        assert a.submit(torch.get_num_threads).result() == 1
        assert b.submit(torch.get_num_threads).result() == 2


def _new_lanes(before: set[threading.Thread], settle: int) -> int:
    """The question threads started since ``before`` still alive, once at most ``settle`` remain
    (a closed lane ends on its own thread, a moment later; bounded wait). Lanes of other tests
    are left out: one may still be ending while this test runs."""
    deadline = time.monotonic() + 5
    while True:
        alive = [
            t for t in threading.enumerate() if t.name == "newsbot-queries" and t not in before
        ]
        if len(alive) <= settle or time.monotonic() > deadline:
            return len(alive)
        time.sleep(0.01)


def test_a_closed_service_leaves_no_question_lane_behind(tmp_path):
    """Each service (and each model swapped in) had a question thread that outlived it, holding
    its model: a process opening services one after another (tests, benches, scripts) kept them
    all."""
    from helpers import make_service

    before = set(threading.enumerate())
    for n in range(3):
        with make_service(tmp_path / f"data-{n}") as service:
            service.retriever.embedder = FakeEmbedder()  # the old lane closes with the swap
            assert service.search("default", "council bridge") == []
            assert _new_lanes(before, settle=1) == 1
    assert _new_lanes(before, settle=0) == 0


def test_a_question_to_a_closed_lane_is_refused_not_left_waiting():
    queries = QueryBatcher(FakeEmbedder(), threads=1)
    assert queries.embed_one("what did the council approve?").shape == (FakeEmbedder().dim,)
    queries.close()
    with pytest.raises(RuntimeError, match="closed"):
        queries.embed_one("and then?")
