"""`python -m bot`: start newsbot on Discord, or, with no token, show it working in the terminal.

`python -m bot env-example` prints every setting, the core's and the bot's, as `.env.example`
holds them: the bot knows both, the core (`newsbot env-example`) only its own.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from collections.abc import Sequence
from datetime import UTC, datetime

import discord
import yarl

from index.errors import NewsbotError
from index.service import NewsService
from index.settings import CoreSettings, env_example, load_settings

from .client import make_bot
from .config import DISCORD_API_BASE, DISCORD_GATEWAY_URL, BotSettings

log = logging.getLogger("newsbot")

HOW_TO_CONNECT = """
To put newsbot on Discord:
  1. Create an application at https://discord.com/developers/applications, add a bot, and
     enable the MESSAGE CONTENT intent (needed for !ingest).
  2. Copy the bot token into .env as DISCORD_TOKEN=… (see .env.example).
  3. Invite it with scopes bot + applications.commands (README has the link), then `make run`.
"""


class RedactToken(logging.Filter):
    """Replaces the token wherever it might surface in a log line or a traceback."""

    def __init__(self, token: str) -> None:
        super().__init__()
        self.token = token

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.token:
            return True
        message = record.getMessage()
        if self.token in message:
            record.msg = message.replace(self.token, "[token]")
            record.args = ()
        if record.exc_info and record.exc_info[1] is not None:
            import traceback

            text = "".join(traceback.format_exception(*record.exc_info))
            if self.token in text:
                record.exc_info = None
                record.exc_text = text.replace(self.token, "[token]")
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object a line (``NEWSBOT_LOG_FORMAT=json``) for log aggregators: time, level,
    logger, message and, for an exception, its traceback (already redacted by the filter)."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(level: str, token: str, style: str = "text") -> None:
    """Log to stdout (journald and containers collect it), as text or JSON lines, with the
    token redacted from every line."""
    handler = logging.StreamHandler(sys.stdout)
    if style.strip().lower() == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    handler.addFilter(RedactToken(token))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper() if level.upper() in logging._nameToLevel else "INFO")


def point_at(settings: BotSettings) -> None:
    """Use another Discord-compatible server (or a test double) when one is configured."""
    if settings.api_base.rstrip("/") != DISCORD_API_BASE:
        discord.http.Route.BASE = settings.api_base.rstrip("/")
    if settings.gateway_url != DISCORD_GATEWAY_URL:
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(settings.gateway_url)


async def run(settings: BotSettings, service: NewsService) -> None:
    async with make_bot(settings, service) as bot:
        await bot.start(settings.token, reconnect=True)


def demo() -> int:
    from index import cli

    code = cli.main(["demo"])
    print(HOW_TO_CONNECT)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args == ["env-example"]:
        print(env_example(CoreSettings, BotSettings), end="")
        return 0
    try:
        settings = load_settings(BotSettings)
        core = load_settings(CoreSettings)
        settings.shards()  # refuses a bad pair now
        if settings.log_format.strip().lower() not in ("text", "json"):
            raise NewsbotError("NEWSBOT_LOG_FORMAT must be text or json")
    except NewsbotError as exc:
        print(f"newsbot: error: {exc}", file=sys.stderr)
        return 2
    if not settings.token:
        print("No DISCORD_TOKEN set: running the terminal demo instead.\n")
        return demo()
    configure_logging(settings.log_level, settings.token, settings.log_format)
    point_at(settings)
    try:
        service = NewsService(core)
    except NewsbotError as exc:
        log.error("cannot open the data directory: %s", exc)
        return 2
    try:
        asyncio.run(run(settings, service))
    except discord.LoginFailure:
        log.error("Discord refused the token: check DISCORD_TOKEN")
        return 2
    except KeyboardInterrupt:
        log.info("stopped")
    finally:
        service.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
