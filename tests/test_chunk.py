import itertools

from fake_embedder import FakeEmbedder
from index.ingest.chunk import chunk_text, embedding_prefix, sentence_spans

count = FakeEmbedder().count_tokens

TRICKY = (
    "The U.S. and South Korea issued a joint statement on Oct. 26 that condemned the shipments. "
    "Sen. Chuck Schumer, D-N.Y., said the vote would come Monday. "
    "Dr. Smith left at 5 p.m. on Friday.\n"
    "A heading without a full stop\n"
    "It was 3.5 percent higher than in Jan. 2023, officials said."
)


def test_sentences_keep_abbreviations_inside():
    sentences = [TRICKY[s:e] for s, e in sentence_spans(TRICKY)]
    assert sentences == [
        "The U.S. and South Korea issued a joint statement on Oct. 26 that condemned the "
        "shipments.",
        "Sen. Chuck Schumer, D-N.Y., said the vote would come Monday.",
        "Dr. Smith left at 5 p.m. on Friday.",
        "A heading without a full stop",
        "It was 3.5 percent higher than in Jan. 2023, officials said.",
    ]


def test_chunks_are_exact_slices_within_budget():
    text = "\n\n".join([TRICKY] * 6)
    chunks = chunk_text(text, count, budget=40, overlap=12)
    assert len(chunks) > 3
    for c in chunks:
        assert text[c.start : c.end] == c.text
        assert count([c.text])[0] <= 40
    assert [c.ordinal for c in chunks] == list(range(len(chunks)))
    # every sentence is whole in at least one chunk
    for s, e in sentence_spans(text):
        assert any(c.start <= s and e <= c.end for c in chunks)


def test_consecutive_chunks_overlap_by_whole_sentences():
    text = " ".join(f"Sentence number {i} says a short thing." for i in range(30))
    chunks = chunk_text(text, count, budget=30, overlap=8)
    for a, b in itertools.pairwise(chunks):
        assert b.start < a.end, "neighbours share a sentence"
        assert text[b.start - 1] == " " and text[b.start].isupper()


def test_a_sentence_longer_than_the_budget_is_cut_at_words():
    text = " ".join(["word"] * 100) + "."
    chunks = chunk_text(text, count, budget=30, overlap=0)
    assert all(count([c.text])[0] <= 30 for c in chunks)
    assert "".join(c.text.replace(" ", "") for c in chunks) == text.replace(" ", "")


def test_empty_text_gives_no_chunks():
    assert chunk_text("   \n\n  ", count, budget=50, overlap=10) == []


def test_prefix_names_title_source_and_date():
    assert embedding_prefix("Title", "AP", "2023-10-26") == "Title (AP, 2023-10-26)"
    assert embedding_prefix("Title", None, None) == "Title"
    assert embedding_prefix(None, None, "2023-10-26") == "2023-10-26"
