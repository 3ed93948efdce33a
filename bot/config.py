"""The bot's own settings, declared beside their defaults and help (see index.settings)."""

from __future__ import annotations

import dataclasses

from index.errors import StoreError
from index.settings import setting

DISCORD_API_BASE = "https://discord.com/api/v10"
DISCORD_GATEWAY_URL = "wss://gateway.discord.gg/"


@dataclasses.dataclass(frozen=True)
class BotSettings:
    """The bot's settings; ``shards()`` reads the sharding pair."""

    token: str = setting(
        "DISCORD_TOKEN", "", "The bot token from the Discord developer portal (keep it secret)."
    )
    admin_role: str = setting(
        "NEWSBOT_ADMIN_ROLE",
        "",
        "Name of a role whose members may rebuild, forget and manage feeds, besides Manage Server.",
    )
    dev_guild: int | None = setting(
        "NEWSBOT_DEV_GUILD",
        None,
        "A server id whose slash commands sync instantly (development); empty syncs globally.",
    )
    api_base: str = setting(
        "DISCORD_API_BASE",
        DISCORD_API_BASE,
        "Discord REST base URL (change only for a test double).",
    )
    gateway_url: str = setting(
        "DISCORD_GATEWAY_URL", DISCORD_GATEWAY_URL, "Discord gateway URL (likewise)."
    )
    command_prefix: str = setting("NEWSBOT_PREFIX", "!", "Prefix of text commands like !ingest.")
    ask_cooldown_seconds: float = setting(
        "NEWSBOT_ASK_COOLDOWN",
        30.0,
        "Window, in seconds, of the per-member limit on /ask and /search (0: off).",
    )
    ask_burst: int = setting("NEWSBOT_ASK_BURST", 5, "Questions a member may ask in that window.")
    ingest_cooldown_seconds: float = setting(
        "NEWSBOT_INGEST_COOLDOWN",
        60.0,
        "Window, in seconds, of the per-member limit on ingestion (0: off).",
    )
    ingest_burst: int = setting(
        "NEWSBOT_INGEST_BURST", 5, "Ingest commands a member may run in that window."
    )
    max_attachments: int = setting(
        "NEWSBOT_MAX_ATTACHMENTS", 10, "Files read from one !ingest message."
    )
    poll_feeds: bool = setting(
        "NEWSBOT_POLL_FEEDS", True, "Poll followed feeds in the background (false pauses all)."
    )
    alert_scan_seconds: float = setting(
        "NEWSBOT_ALERT_SCAN",
        30.0,
        "Seconds between two looks for new articles matching watches (an ingest wakes it too).",
    )
    alert_bulk: int = setting(
        "NEWSBOT_ALERT_BULK",
        10,
        "New articles at one look that make a bulk import: its alerts become one summary.",
    )
    digest_check_seconds: float = setting(
        "NEWSBOT_DIGEST_CHECK", 60.0, "Seconds between two checks for a daily digest that is due."
    )
    shard_count: int | None = setting(
        "NEWSBOT_SHARD_COUNT",
        None,
        "Discord shards in all (empty: one unsharded connection). Each process serves"
        " NEWSBOT_SHARD_IDS of them; all processes share NEWSBOT_DATABASE_URL.",
    )
    shard_ids: str = setting(
        "NEWSBOT_SHARD_IDS",
        "",
        "Comma-separated shard ids this process serves, e.g. 0,1 (empty: all of"
        " NEWSBOT_SHARD_COUNT).",
    )
    log_level: str = setting("NEWSBOT_LOG_LEVEL", "INFO", "Logging level: DEBUG, INFO, WARNING.")
    log_format: str = setting(
        "NEWSBOT_LOG_FORMAT",
        "text",
        "Log lines on stdout: text (for people and journald) or json (one object a line, for"
        " log aggregators).",
    )
    health_port: int | None = setting(
        "NEWSBOT_HEALTH_PORT",
        None,
        "Port of the health and metrics server (GET /healthz, GET /metrics); empty: off,"
        " 0: any free port (logged).",
    )
    health_host: str = setting(
        "NEWSBOT_HEALTH_HOST",
        "127.0.0.1",
        "Address the health server listens on (0.0.0.0 exposes it to the network).",
    )

    def shards(self) -> tuple[int, list[int]] | None:
        """(shard count, the ids this process serves), or None when not sharded."""
        if not self.shard_count:
            if self.shard_ids.strip():
                raise StoreError("NEWSBOT_SHARD_IDS needs NEWSBOT_SHARD_COUNT")
            return None
        count = int(self.shard_count)
        try:
            ids = [int(x) for x in self.shard_ids.replace(" ", "").split(",") if x]
        except ValueError:
            raise StoreError("NEWSBOT_SHARD_IDS must be comma-separated numbers") from None
        ids = ids or list(range(count))
        if count < 1 or any(not 0 <= i < count for i in ids):
            raise StoreError(f"NEWSBOT_SHARD_IDS must be between 0 and {count - 1}")
        return count, sorted(set(ids))
