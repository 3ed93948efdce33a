"""REST routes for who the bot is, who is in a guild and what the bot posts in a channel."""

from __future__ import annotations

from typing import Any

from .messages import MessageStore
from .models import (
    FLAG_SUPPRESS_EMBEDS,
    FLAG_SUPPRESS_NOTIFICATIONS,
    FakeUser,
    unknown,
)
from .routing import Incoming, Route
from .world import World


class Rest:
    """Handlers of the plain REST API (commands and interactions have their own)."""

    def __init__(self, world: World, messages: MessageStore) -> None:
        self._world = world
        self._messages = messages

    def routes(self) -> list[Route]:
        """This part's (method, pattern, handler) rows."""
        return [
            ("GET", r"/users/@me", self._get_me),
            ("GET", r"/oauth2/applications/@me", self._get_application),
            ("GET", r"/applications/@me", self._get_application),
            ("POST", r"/channels/(?P<channel>\d+)/typing", self._typing),
            ("POST", r"/channels/(?P<channel>\d+)/messages", self._post_message),
            ("GET", r"/users/(?P<user>\d+)", self._get_user),
            ("GET", r"/guilds/(?P<guild>\d+)/members/(?P<user>\d+)", self._get_member),
            ("POST", r"/users/@me/channels", self._open_dm),
        ]

    # ------------------------------------------------------------------ identity

    async def _get_me(self, req: Incoming) -> Any:
        return self._world.bot_user_payload()

    async def _get_application(self, req: Incoming) -> Any:
        world = self._world
        return {
            "id": str(world.application_id),
            "name": world.bot_user.username,
            "icon": None,
            "description": "",
            "bot_public": False,
            "bot_require_code_grant": False,
            "owner": FakeUser(1, "owner").payload(),
            "team": None,
            "verify_key": "0" * 64,
            "flags": 0,
            "bot": world.bot_user.payload(),
            "interactions_endpoint_url": None,
        }

    async def _get_user(self, req: Incoming, user: str) -> Any:
        found = self._world.users.get(int(user))
        if found is None:
            raise unknown("User", 10013)
        return found.payload()

    async def _get_member(self, req: Incoming, guild: str, user: str) -> Any:
        """A member of the guild with their user; 404 Unknown Member for anyone else (one who
        left or was banned included), as ``guild.fetch_member`` meets it."""
        found = self._world.find_member(self._world.guild(guild), int(user))
        if found is None:
            raise unknown("Member", 10007)
        return found.payload()

    async def _open_dm(self, req: Incoming) -> Any:
        """The DM channel with a user (``user.send`` opens it first)."""
        recipient = int((req.json or {}).get("recipient_id", 0))
        if recipient not in self._world.users:
            raise unknown("User", 10013)
        return self._world.dm_channel_payload(self._world.dm_channel_id(recipient))

    async def _typing(self, req: Incoming, channel: str) -> Any:
        self._world.require_channel(int(channel))
        return None

    # ------------------------------------------------------------------ messages

    async def _post_message(self, req: Incoming, channel: str) -> Any:
        self._world.require_channel(int(channel))
        body = req.json or {}
        flags = int(body.get("flags") or 0) & (FLAG_SUPPRESS_EMBEDS | FLAG_SUPPRESS_NOTIFICATIONS)
        return self._messages.create_from_bot(int(channel), body, req.uploads, flags=flags)
