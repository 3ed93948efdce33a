"""What the fake knows and records: Discord's constants, users, members, roles, guilds, requests.

Each object renders its own wire form (``payload()``), the JSON discord.py parses.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

API_PREFIX = "/api/v10"
DISCORD_EPOCH_MS = 1_420_070_400_000

# Permission bits (https://discord.com/developers/docs/topics/permissions).
ADMINISTRATOR = 1 << 3
MANAGE_GUILD = 1 << 5
ADD_REACTIONS = 1 << 6
VIEW_CHANNEL = 1 << 10
SEND_MESSAGES = 1 << 11
EMBED_LINKS = 1 << 14
ATTACH_FILES = 1 << 15
READ_MESSAGE_HISTORY = 1 << 16
USE_APPLICATION_COMMANDS = 1 << 31
ALL_PERMISSIONS = (1 << 51) - 1
DEFAULT_EVERYONE_PERMISSIONS = (
    VIEW_CHANNEL
    | SEND_MESSAGES
    | READ_MESSAGE_HISTORY
    | ADD_REACTIONS
    | EMBED_LINKS
    | ATTACH_FILES
    | USE_APPLICATION_COMMANDS
)
DEFAULT_BOT_PERMISSIONS = DEFAULT_EVERYONE_PERMISSIONS

# Gateway intent bits the fake honours.
INTENT_GUILDS = 1 << 0
INTENT_GUILD_MEMBERS = 1 << 1  # privileged
INTENT_GUILD_MODERATION = 1 << 2
INTENT_GUILD_MESSAGES = 1 << 9
INTENT_DIRECT_MESSAGES = 1 << 12
INTENT_MESSAGE_CONTENT = 1 << 15

# Message flags.
FLAG_SUPPRESS_EMBEDS = 1 << 2
FLAG_EPHEMERAL = 1 << 6
FLAG_LOADING = 1 << 7
FLAG_SUPPRESS_NOTIFICATIONS = 1 << 12
SETTABLE_FLAGS = FLAG_SUPPRESS_EMBEDS | FLAG_EPHEMERAL | FLAG_SUPPRESS_NOTIFICATIONS


@dataclass(frozen=True)
class FakeUser:
    """A Discord user as the fake knows it; ``bot`` users are ignored by ``commands.Bot``."""

    id: int
    username: str
    bot: bool = False
    global_name: str | None = None

    def payload(self) -> dict[str, Any]:
        """User object in Discord's wire form."""
        return {
            "id": str(self.id),
            "username": self.username,
            "discriminator": "0",
            "global_name": self.global_name,
            "avatar": None,
            "bot": self.bot,
            "public_flags": 0,
        }


@dataclass
class FakeMember:
    """A guild member.

    ``permissions`` is the integer bitfield Discord puts into interaction payloads (e.g.
    ``MANAGE_GUILD`` = 0x20). ``None`` means "compute it like Discord does": @everyone plus the
    member's roles, everything for the owner or an ADMINISTRATOR. Prefix commands always see the
    role-derived value (discord.py computes ``guild_permissions`` itself), so give members the
    matching roles when a test mixes both kinds of command.
    """

    user: FakeUser
    roles: list[int] = field(default_factory=list)
    permissions: int | None = None
    nick: str | None = None
    joined_at: str = "2024-01-01T00:00:00+00:00"

    def payload(self, *, with_user: bool = True) -> dict[str, Any]:
        """Guild member object (``flags`` is required by discord.py's Member)."""
        data: dict[str, Any] = {
            "roles": [str(r) for r in self.roles],
            "nick": self.nick,
            "avatar": None,
            "joined_at": self.joined_at,
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "pending": False,
            "flags": 0,
            "communication_disabled_until": None,
        }
        if with_user:
            data["user"] = self.user.payload()
        return data


class FakeRole(NamedTuple):
    """A guild role; a plain ``(id, name, permissions)`` tuple works too."""

    id: int
    name: str
    permissions: int = 0

    def payload(self, position: int) -> dict[str, Any]:
        """Role object in Discord's wire form."""
        return {
            "id": str(self.id),
            "name": self.name,
            "permissions": str(self.permissions),
            "position": position,
            "color": 0,
            "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
            "hoist": False,
            "managed": False,
            "mentionable": False,
            "icon": None,
            "unicode_emoji": None,
            "flags": 0,
        }


@dataclass
class FakeGuild:
    """A guild with text channels ``(id, name)``, roles ``(id, name[, permissions])`` and
    members; @everyone (id == guild id) is implied."""

    id: int
    name: str
    owner_id: int
    channels: list[tuple[int, str]] = field(default_factory=list)
    roles: list[tuple[int, str] | tuple[int, str, int]] = field(default_factory=list)
    members: list[FakeMember] = field(default_factory=list)
    everyone_permissions: int = DEFAULT_EVERYONE_PERMISSIONS

    def all_roles(self) -> list[FakeRole]:
        """@everyone first, then the guild's own roles."""
        roles = [FakeRole(self.id, "@everyone", self.everyone_permissions)]
        return roles + [FakeRole(*r) for r in self.roles if int(r[0]) != self.id]

    def has_channel(self, channel_id: int) -> bool:
        """Whether ``channel_id`` is one of this guild's text channels."""
        return any(int(c[0]) == channel_id for c in self.channels)

    def channel_payload(self, channel_id: int) -> dict[str, Any]:
        """Text channel object in Discord's wire form (404 Unknown Channel if not here)."""
        for position, (cid, name) in enumerate((int(c[0]), c[1]) for c in self.channels):
            if cid == channel_id:
                return {
                    "id": str(cid),
                    "type": 0,
                    "guild_id": str(self.id),
                    "name": name,
                    "position": position,
                    "permission_overwrites": [],
                    "nsfw": False,
                    "parent_id": None,
                    "topic": None,
                    "last_message_id": None,
                    "rate_limit_per_user": 0,
                    "flags": 0,
                }
        raise unknown("Channel", 10003)


class RecordedFile(NamedTuple):
    """One uploaded file: the name the bot gave it and its bytes."""

    filename: str
    data: bytes


@dataclass
class RecordedRequest:
    """One HTTP request the client made.

    ``path`` is relative to ``api_base`` (``/channels/1/messages``) for API calls and starts with
    ``/cdn/`` for CDN downloads (``kind == "cdn"``). ``json`` is the parsed JSON body, or the
    parsed ``payload_json`` field of a multipart body. ``handled`` is False for routes the fake
    does not know (answered 404). A request is recorded once answered (``status`` is set);
    ``index`` is its position in ``FakeDiscord.requests``.
    """

    index: int
    method: str
    path: str
    query: dict[str, str]
    json: Any
    files: list[RecordedFile]
    kind: str = "api"
    status: int = 0
    response: Any = None
    handled: bool = True

    def __str__(self) -> str:
        return f"{self.method} {self.path} -> {self.status}"


class FakeDiscordError(Exception):
    """Raised inside a handler to answer with a Discord-style error body."""

    def __init__(
        self, status: int, code: int, message: str, errors: dict[str, Any] | None = None
    ) -> None:
        super().__init__(f"{status} {code} {message}")
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors

    def body(self) -> dict[str, Any]:
        """Error JSON in the shape discord.py parses into ``HTTPException.text``."""
        data: dict[str, Any] = {"message": self.message, "code": self.code}
        if self.errors:
            data["errors"] = self.errors
        return data


def form_error(field_name: str, message: str, code: str = "BASE_TYPE_MAX_LENGTH") -> Exception:
    """Discord's 400 "Invalid Form Body" naming the field at fault."""
    return FakeDiscordError(
        400,
        50035,
        "Invalid Form Body",
        {field_name: {"_errors": [{"code": code, "message": message}]}},
    )


def unknown(what: str, code: int) -> FakeDiscordError:
    """Discord's 404 "Unknown <what>" with its JSON error code."""
    return FakeDiscordError(404, code, f"Unknown {what}")


class GuildKeyed(dict[str | None, list[dict[str, Any]]]):
    """Dict keyed by guild id as str (or None = global) that also accepts int keys on lookup."""

    @staticmethod
    def _key(key: object) -> str | None:
        return None if key is None else str(key)

    def __getitem__(self, key: object) -> list[dict[str, Any]]:
        return super().__getitem__(self._key(key))

    def __setitem__(self, key: object, value: list[dict[str, Any]]) -> None:
        super().__setitem__(self._key(key), value)

    def __contains__(self, key: object) -> bool:
        return super().__contains__(self._key(key))

    def get(self, key: object, default: Any = None) -> Any:  # type: ignore[override]
        return super().get(self._key(key), default)


class Snowflakes:
    """Increasing snowflakes whose timestamp part is now (discord.py derives created_at)."""

    def __init__(self) -> None:
        self._last = 0

    def __call__(self) -> int:
        candidate = (int(time.time() * 1000) - DISCORD_EPOCH_MS) << 22
        self._last = max(candidate, self._last + 1)
        return self._last


def now_iso() -> str:
    """A Discord timestamp for now."""
    return datetime.now(UTC).isoformat()
