"""Settings declared once, as data: name, default and help live beside each other.

Values come from the environment, then a ``.env`` file, then the declared default. ``.env.example``
is generated from these declarations and the bot's (``python -m bot env-example``; the core alone
knows only its own: ``newsbot env-example``), and a test keeps it in step.
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from dotenv import dotenv_values

from .errors import StoreError

T = TypeVar("T")


def setting(env: str, default: Any, help: str) -> Any:
    """Declare one setting: its environment variable, default and a one-line help."""
    return dataclasses.field(default=default, metadata={"env": env, "help": help})


@dataclasses.dataclass(frozen=True)
class CoreSettings:
    """What the retrieval core needs; the bot adds its own settings beside these."""

    data_dir: Path = setting(
        "NEWSBOT_DATA_DIR", Path("data"), "Where the SQLite database and FAISS indexes live."
    )
    database_url: str = setting(
        "NEWSBOT_DATABASE_URL",
        "",
        "postgresql://user@host/db to share one PostgreSQL store between processes (pip install"
        " 'newsbot[postgres]'); empty: the SQLite file in NEWSBOT_DATA_DIR.",
    )
    model_path: str = setting(
        "NEWSBOT_MODEL",
        "",
        "A local sentence-transformers model folder; empty means the packaged all-MiniLM-L6-v2.",
    )
    embed_backend: str = setting(
        "NEWSBOT_EMBED_BACKEND",
        "auto",
        "Runtime for the model: auto (whichever of onnx-int8, onnx and torch is measured fastest"
        " on this CPU with vectors within cosine 0.99 of PyTorch's; measured once per model"
        " cache), onnx (ONNX Runtime, exported once into NEWSBOT_MODEL_CACHE; the same vectors as"
        " PyTorch), onnx-int8 (its matrix products in 8 bits: faster on most CPUs, vectors within"
        " ~1 % in cosine) or torch (PyTorch, the fallback).",
    )
    model_cache: str = setting(
        "NEWSBOT_MODEL_CACHE",
        "",
        "Where the model exported for ONNX Runtime is kept (with its checksum and the runtime"
        " chosen for this CPU); empty means the user's cache ($XDG_CACHE_HOME/newsbot/models or"
        " ~/.cache/newsbot/models), shared by every data folder. A real folder: a symbolic link"
        " is refused.",
    )
    embed_batch_size: int = setting("NEWSBOT_EMBED_BATCH", 32, "Chunks embedded per model call.")
    torch_threads: int = setting(
        "NEWSBOT_TORCH_THREADS", 0, "CPU threads for the model; 0 uses every core."
    )
    query_threads: int = setting(
        "NEWSBOT_QUERY_THREADS",
        1,
        "CPU threads for embedding a question: one stays fast while an ingest or a neighbour"
        " is busy (0: as many as NEWSBOT_TORCH_THREADS).",
    )
    ingest_nice: int = setting(
        "NEWSBOT_INGEST_NICE",
        10,
        "How much lower the OS priority of ingest embedding is than questions' (Linux; 0: same).",
    )
    chunk_tokens: int = setting(
        "NEWSBOT_CHUNK_TOKENS",
        180,
        "Word pieces of article text per chunk (the model reads 256 including the prefix).",
    )
    chunk_overlap_tokens: int = setting(
        "NEWSBOT_CHUNK_OVERLAP",
        0,
        "At most this many word pieces of whole sentences are repeated between chunks (40 cost"
        " 12 % more chunks to embed and store for the same retrieval figures: README).",
    )
    max_input_bytes: int = setting(
        "NEWSBOT_MAX_INPUT_BYTES",
        20_000_000,
        "Largest single file accepted (JSONL files are read line by line instead).",
    )
    max_article_chars: int = setting(
        "NEWSBOT_MAX_ARTICLE_CHARS", 300_000, "Longest article text accepted, in characters."
    )
    min_answer_score: float = setting(
        "NEWSBOT_MIN_ANSWER_SCORE",
        0.3,
        "Least similarity (cosine) a passage needs to be quoted in an answer at all.",
    )
    answer_confidence: float | None = setting(
        "NEWSBOT_ANSWER_CONFIDENCE",
        None,
        "How sure (0-1) the answer model must be that the news answers a question; below it the"
        " answer is 'nothing relevant'. Empty: the operating point fitted with the model"
        " (README, 'Saying nothing relevant').",
    )
    fetch_allow: str = setting(
        "NEWSBOT_FETCH_ALLOW",
        "",
        "Comma-separated hosts and CIDR networks fetched although not public "
        "(e.g. 127.0.0.1,10.0.0.0/8,feeds.local); empty allows only public addresses.",
    )
    fetch_timeout: float = setting(
        "NEWSBOT_FETCH_TIMEOUT",
        20.0,
        "Seconds one URL fetch may take in all: lookups, redirects and the whole body.",
    )
    fetch_max_bytes: int = setting(
        "NEWSBOT_FETCH_MAX_BYTES", 10_000_000, "Largest page fetched, counted after decompression."
    )
    feed_interval_minutes: int = setting(
        "NEWSBOT_FEED_INTERVAL", 30, "Minutes between two polls of a feed (5 at least)."
    )
    feed_notice_after: int = setting(
        "NEWSBOT_FEED_NOTICE_AFTER",
        3,
        "Failed polls in a row after which a feed's trouble is posted in its server's"
        " /feeds notify channel (once, until it works again).",
    )
    feed_pause_after: int = setting(
        "NEWSBOT_FEED_PAUSE_AFTER",
        40,
        "Failed polls in a row after which the bot pauses a feed and says so (40: about nine"
        " days of retries backed off up to 6 h; 0: never).",
    )
    recent_days: int = setting(
        "NEWSBOT_RECENT_DAYS", 14, "How many days before a question's date count as recent."
    )
    answers_kept_per_channel: int = setting(
        "NEWSBOT_ANSWERS_KEPT",
        200,
        "Answers remembered a channel for follow-ups (voted ones are always kept).",
    )
    watches_per_collection: int = setting(
        "NEWSBOT_WATCHES_PER_SERVER", 25, "Watches (standing questions) a server may have."
    )
    watches_per_member: int = setting(
        "NEWSBOT_WATCHES_PER_MEMBER", 5, "Watches one member may have in a server."
    )
    alert_bar: float = setting(
        "NEWSBOT_ALERT_BAR",
        0.525,
        "Similarity a new article needs to its topic to alert a watch (calibrated: bench.watch).",
    )


S = TypeVar("S")


def _convert(raw: str, kind: Any, env: str) -> Any:
    if isinstance(kind, types.UnionType | typing._UnionGenericAlias):  # type: ignore[attr-defined]
        if raw == "":
            return None
        kind = next(k for k in typing.get_args(kind) if k is not type(None))
    try:
        if kind is bool:
            if raw.lower() in {"1", "true", "yes", "on"}:
                return True
            if raw.lower() in {"0", "false", "no", "off", ""}:
                return False
            raise ValueError(raw)
        if kind is int:
            return int(raw)
        if kind is float:
            return float(raw)
        if kind is Path:
            return Path(raw).expanduser()
        return raw
    except ValueError:
        raise StoreError(f"setting {env} has an invalid value") from None


def load_settings(
    cls: type[S],
    environ: Mapping[str, str] | None = None,
    env_file: Path | None = Path(".env"),
    **overrides: Any,
) -> S:
    """Build ``cls`` from overrides, the environment, a ``.env`` file and the defaults."""
    environ = os.environ if environ is None else environ
    file_values: dict[str, str | None] = {}
    if env_file is not None and env_file.is_file():
        file_values = dotenv_values(env_file)
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if f.name in overrides and overrides[f.name] is not None:
            values[f.name] = overrides[f.name]
            continue
        env = f.metadata["env"]
        raw = environ.get(env)
        if raw is None:
            raw = file_values.get(env)
        if raw is not None:
            values[f.name] = _convert(raw, hints[f.name], env)
    return cls(**values)


def describe(*classes: type) -> list[tuple[str, Any, str]]:
    """(env, default, help) for every declared setting, in declaration order."""
    out = []
    for cls in classes:
        for f in dataclasses.fields(cls):
            out.append((f.metadata["env"], f.default, f.metadata["help"]))
    return out


def env_example(*classes: type) -> str:
    """The text of ``.env.example``: every setting, commented with its help."""
    lines = ["# newsbot settings. Copy to .env and fill in what you need.", ""]
    for env, default, help_text in describe(*classes):
        lines.append(f"# {help_text}")
        value = "" if default is None else str(default)
        lines.append(f"{env}={value}")
        lines.append("")
    return "\n".join(lines)
