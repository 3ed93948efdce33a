"""What many tests share: the bundled sample article, a test service, waits with a deadline and
a web site on 127.0.0.1.

Imported by tests and fixtures alike (``from helpers import make_service``); conftest.py only
declares fixtures, so no test imports from it.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import web

from fake_embedder import FakeEmbedder
from index.search.embed import Embedder
from index.service import NewsService
from index.settings import CoreSettings
from index.store.schema import CHUNKS, CHUNKS_INDEXED, rebuild
from local_site import serving

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "examples" / "capitalway-nk-shells.txt"
SAMPLE_TITLE = (
    "South Korea’s spy agency says North Korea shipped more than a million artillery shells "
    "to Russia"
)
SAMPLE_QUESTION = "What does the NIS claim about satellite launches?"

# FakeEmbedder similarities (hashed bag of words) run lower than MiniLM's, and the answer model
# was fitted on MiniLM's: an on-topic passage scores about 0.3-0.8 here, so the shipped model
# would refuse much of it. Tests on the FakeEmbedder quote any passage retrieved that is not
# opposite to the question (how sentences are chosen, cited, ordered and dated is what they
# test); whether to answer at all is tested on the real model (tests marked ``model``).
FAKE_EMBEDDER_BARS: dict[str, float] = {
    "min_answer_score": 0.0,
    "answer_confidence": 0.0,
}

S = TypeVar("S", bound=NewsService)

# The PostgreSQL database of a test running on that backend (conftest's ``database_url``):
# every service the test makes uses it instead of its data folder's SQLite file.
DATABASE_URL = ""


def make_service(
    where: Path | CoreSettings,
    embedder: Embedder | None = None,
    *,
    kind: type[S] = NewsService,  # type: ignore[assignment]
    **settings: Any,
) -> S:
    """The one way tests build a service: on a data folder (or the settings of one), with the
    deterministic FakeEmbedder unless another is given, and only the settings the test names
    changed from the shipped defaults, so what a test depends on is written at its call.

    ``kind`` is a NewsService subclass a test slows down or watches.
    """
    base = where if isinstance(where, CoreSettings) else CoreSettings(data_dir=where)
    if DATABASE_URL and not base.database_url and "database_url" not in settings:
        base = dataclasses.replace(base, database_url=DATABASE_URL)
    return kind(
        dataclasses.replace(base, **settings), FakeEmbedder() if embedder is None else embedder
    )


async def eventually(condition: Callable[[], object], seconds: float = 10.0) -> None:
    """Until ``condition()`` holds (checked every 10 ms), or AssertionError after ``seconds``:
    for what happens in the background, such as a feed's entries arriving."""
    try:
        async with asyncio.timeout(seconds):
            while not condition():  # noqa: ASYNC110 - polls state that has no event to wait on
                await asyncio.sleep(0.01)
    except TimeoutError:
        raise AssertionError(f"the condition never held within {seconds} s") from None


@asynccontextmanager
async def local_site(routes: dict[str, Callable[..., Any]]) -> AsyncIterator[str]:
    """An aiohttp site on 127.0.0.1 serving ``{path: GET handler}``; yields its base URL."""
    app = web.Application()
    for path, handler in routes.items():
        app.router.add_get(path, handler)
    async with serving(app) as port:
        yield f"http://127.0.0.1:{port}"


def foreign_graph(
    path: Path,
    inputs: tuple[str, ...] = ("input_ids", "attention_mask", "token_type_ids"),
    *,
    lies: bool = False,
) -> None:
    """A loadable ONNX graph that is not MiniLM: it takes ``inputs`` and gives a float
    [batch, tokens, 384] output (input_ids, spread); one that ``lies`` declares that and gives
    [batch, tokens, tokens], which only a pass shows."""
    import onnx
    from onnx import TensorProto, helper

    def declared(name: str, kind: int, dims: list[str | int]) -> Any:
        return helper.make_tensor_value_info(name, kind, dims)

    nodes = [
        helper.make_node("Cast", ["input_ids"], ["f"], to=TensorProto.FLOAT),
        helper.make_node("Unsqueeze", ["f", "axes"], ["u"]),
        helper.make_node("Expand", ["u", "shape"], ["last_hidden_state"]),
    ]
    constants = [helper.make_tensor("axes", TensorProto.INT64, [1], [2])]
    if lies:
        constants.append(helper.make_tensor("ones", TensorProto.INT64, [2], [1, 1]))
        nodes[2:2] = [
            helper.make_node("Shape", ["input_ids"], ["tokens"], start=1, end=2),
            helper.make_node("Concat", ["ones", "tokens"], ["shape"], axis=0),
        ]
    else:
        constants.append(helper.make_tensor("shape", TensorProto.INT64, [3], [1, 1, 384]))
    graph = helper.make_graph(
        nodes,
        "foreign",
        [declared(name, TensorProto.INT64, ["batch", "tokens"]) for name in inputs],
        [declared("last_hidden_state", TensorProto.FLOAT, ["batch", "tokens", 384])],
        constants,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8  # one every onnxruntime reads
    onnx.save(model, path)


# An SQLite store of this version taken back to schema 7 (its vectors in their chunks' rows, as
# schema 5 made the table; the chunk id counter kept): a store of the release before, for
# migration tests. Run with ``executescript``; set ``user_version`` after it.
BACK_TO_SCHEMA_7 = f"""
CREATE TEMP TABLE counted AS SELECT seq FROM sqlite_sequence WHERE name = 'chunks';
{
    rebuild(
        "chunks",
        CHUNKS,
        'SELECT ch.id, ch.article_id, ch.ordinal, ch.start, ch."end", ch.text, v.vector'
        " FROM chunks ch JOIN vectors v ON v.id = ch.vector_id",
    )
}
DROP TABLE vectors;{CHUNKS_INDEXED}
UPDATE sqlite_sequence SET seq = (SELECT seq FROM counted) WHERE name = 'chunks';
DELETE FROM sqlite_sequence WHERE name = 'vectors';
DROP TABLE counted;
"""
