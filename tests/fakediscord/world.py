"""Who and where: the guilds, users, DM channels and the bot's own user, and their wire forms.

One place answers "which guild is this channel in", "what may this member do" and "what does
discord.py receive for this guild", for the gateway, REST and interactions alike.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from .models import (
    ADMINISTRATOR,
    ALL_PERMISSIONS,
    DEFAULT_BOT_PERMISSIONS,
    FakeGuild,
    FakeMember,
    FakeRole,
    FakeUser,
    Snowflakes,
    unknown,
)

_MENTION_RE = re.compile(r"<@!?(\d+)>")

BOT_USER_ID = 1_200_000_000_000_000_001


class World:
    """The guilds and users the fake serves, the bot among them."""

    def __init__(self, guilds: list[FakeGuild], snowflake: Snowflakes) -> None:
        self.guilds: dict[int, FakeGuild] = {g.id: g for g in guilds}
        self.bot_user = FakeUser(BOT_USER_ID, "newsbot", bot=True)
        self.application_id = BOT_USER_ID
        self.bot_permissions = DEFAULT_BOT_PERMISSIONS
        self.snowflake = snowflake
        self.users: dict[int, FakeUser] = {self.bot_user.id: self.bot_user}
        self._dm_channels: dict[int, int] = {}  # user id -> DM channel id
        self._dm_users: dict[int, int] = {}  # DM channel id -> user id
        self._bot_roles: dict[int, int] = {}
        for guild in self.guilds.values():
            self._bot_roles[guild.id] = snowflake()
            for member in guild.members:
                self.users[member.user.id] = member.user

    # ------------------------------------------------------------------ lookups

    def guild(self, guild_id: int | str) -> FakeGuild:
        """The guild, or 404 Unknown Guild."""
        try:
            return self.guilds[int(guild_id)]
        except KeyError:
            raise unknown("Guild", 10004) from None

    def channel_guild(self, channel_id: int) -> FakeGuild | None:
        """The guild holding ``channel_id`` (None for a DM or unknown channel)."""
        return next((g for g in self.guilds.values() if g.has_channel(channel_id)), None)

    def require_channel(self, channel_id: int) -> FakeGuild | None:
        """Like ``channel_guild`` but 404 Unknown Channel unless it is a guild or DM channel."""
        guild = self.channel_guild(channel_id)
        if guild is None and channel_id not in self._dm_users:
            raise unknown("Channel", 10003)
        return guild

    def member_permissions(self, guild: FakeGuild, member: FakeMember) -> int:
        """The member's given bitfield, else Discord's sum of @everyone and their roles."""
        if member.permissions is not None:
            return member.permissions
        if member.user.id == guild.owner_id:
            return ALL_PERMISSIONS
        perms = guild.everyone_permissions
        for role in guild.all_roles():
            if role.id in member.roles:
                perms |= role.permissions
        return ALL_PERMISSIONS if perms & ADMINISTRATOR else perms

    def bot_member(self, guild: FakeGuild) -> FakeMember:
        """The bot as a member of ``guild``, holding its managed role."""
        return FakeMember(self.bot_user, roles=[self._bot_roles[guild.id]])

    def find_member(self, guild: FakeGuild, user_id: int) -> FakeMember | None:
        """A member of ``guild`` by user id (the bot included)."""
        if user_id == self.bot_user.id:
            return self.bot_member(guild)
        return next((m for m in guild.members if m.user.id == user_id), None)

    def remove_member(self, guild_id: int, user_id: int) -> None:
        """``user_id`` is no longer a member of the guild (the test's FakeGuild is left as it
        was: this fake serves a copy without them)."""
        guild = self.guild(guild_id)
        members = [m for m in guild.members if m.user.id != user_id]
        self.guilds[guild.id] = dataclasses.replace(guild, members=members)

    def dm_channel_id(self, user: FakeUser | int) -> int:
        """The DM channel between the bot and ``user`` (created on first use)."""
        user_id = user.id if isinstance(user, FakeUser) else int(user)
        if isinstance(user, FakeUser):
            self.users.setdefault(user.id, user)
        if user_id not in self._dm_channels:
            channel_id = self.snowflake()
            self._dm_channels[user_id] = channel_id
            self._dm_users[channel_id] = user_id
        return self._dm_channels[user_id]

    # ------------------------------------------------------------------ wire forms

    def bot_user_payload(self) -> dict[str, Any]:
        """The bot's own user object (``/users/@me`` and READY)."""
        data = self.bot_user.payload()
        data.update(verified=True, mfa_enabled=False, flags=0, locale="en-US")
        return data

    def dm_channel_payload(self, channel_id: int) -> dict[str, Any]:
        """DM channel object with its one recipient."""
        user = self.users[self._dm_users[channel_id]]
        return {
            "id": str(channel_id),
            "type": 1,
            "last_message_id": None,
            "flags": 0,
            "recipients": [user.payload()],
        }

    def guild_payload(self, guild: FakeGuild) -> dict[str, Any]:
        """The full GUILD_CREATE object: roles (the bot's managed one too), members, channels."""
        roles = [r.payload(i) for i, r in enumerate(guild.all_roles())]
        bot_role_id = self._bot_roles[guild.id]
        bot_role = FakeRole(bot_role_id, self.bot_user.username, self.bot_permissions)
        bot_role_data = bot_role.payload(len(roles))
        bot_role_data.update(managed=True, tags={"bot_id": str(self.bot_user.id)})
        members = [m.payload() for m in guild.members]
        members.append(self.bot_member(guild).payload())
        return {
            "id": str(guild.id),
            "name": guild.name,
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "banner": None,
            "description": None,
            "owner_id": str(guild.owner_id),
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "roles": [*roles, bot_role_data],
            "emojis": [],
            "stickers": [],
            "features": [],
            "mfa_level": 0,
            "application_id": None,
            "system_channel_id": None,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "public_updates_channel_id": None,
            "safety_alerts_channel_id": None,
            "vanity_url_code": None,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "preferred_locale": "en-US",
            "nsfw_level": 0,
            "premium_progress_bar_enabled": False,
            "joined_at": "2024-01-01T00:00:00+00:00",
            "large": False,
            "unavailable": False,
            "member_count": len(members),
            "voice_states": [],
            "members": members,
            "channels": [guild.channel_payload(int(c[0])) for c in guild.channels],
            "threads": [],
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
        }

    def mentions(self, content: str, guild: FakeGuild | None) -> list[dict[str, Any]]:
        """The users ``<@id>`` in ``content`` names, with their member data inside a guild."""
        out = []
        for user_id in dict.fromkeys(int(m) for m in _MENTION_RE.findall(content)):
            user = self.users.get(user_id)
            if user is None:
                continue
            data = user.payload()
            member = self.find_member(guild, user_id) if guild else None
            if member is not None:
                data["member"] = member.payload(with_user=False)
            out.append(data)
        return out
