"""REST routes for who the bot is, guilds, channels and channel messages."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .messages import MessageStore, check_not_empty
from .models import (
    FLAG_EPHEMERAL,
    FLAG_SUPPRESS_EMBEDS,
    FLAG_SUPPRESS_NOTIFICATIONS,
    FakeDiscordError,
    FakeUser,
    unknown,
)
from .routing import Incoming, Route
from .world import World


class Rest:
    """Handlers of the plain REST API (commands and interactions have their own)."""

    def __init__(self, world: World, messages: MessageStore, gateway_url: Callable[[], str]):
        self._world = world
        self._messages = messages
        self._gateway_url = gateway_url

    def routes(self) -> list[Route]:
        """This part's (method, pattern, handler) rows."""
        msgs = r"/channels/(?P<channel>\d+)/messages"
        one = msgs + r"/(?P<message>\d+)"
        reaction = one + r"/reactions/(?P<emoji>[^/]+)/@me"
        return [
            ("GET", r"/users/@me", self._get_me),
            ("GET", r"/users/(?P<user>\d+)", self._get_user),
            ("POST", r"/users/@me/channels", self._create_dm),
            ("GET", r"/oauth2/applications/@me", self._get_application),
            ("GET", r"/applications/@me", self._get_application),
            ("GET", r"/gateway", self._get_gateway),
            ("GET", r"/gateway/bot", self._get_gateway),
            ("GET", r"/guilds/(?P<guild>\d+)", self._get_guild),
            ("GET", r"/guilds/(?P<guild>\d+)/channels", self._get_guild_channels),
            ("GET", r"/guilds/(?P<guild>\d+)/members/(?P<user>\d+)", self._get_member),
            ("GET", r"/channels/(?P<channel>\d+)", self._get_channel),
            ("POST", r"/channels/(?P<channel>\d+)/typing", self._typing),
            ("GET", msgs, self._history),
            ("POST", msgs, self._post_message),
            ("GET", one, self._get_message),
            ("PATCH", one, self._patch_message),
            ("DELETE", one, self._delete_message),
            ("PUT", reaction, self._react),
            ("DELETE", reaction, self._unreact),
        ]

    # ------------------------------------------------------------------ identity

    async def _get_me(self, req: Incoming) -> Any:
        return self._world.bot_user_payload()

    async def _get_user(self, req: Incoming, user: str) -> Any:
        found = self._world.users.get(int(user))
        if found is None:
            raise unknown("User", 10013)
        return found.payload()

    async def _create_dm(self, req: Incoming) -> Any:
        user_id = int(req.json["recipient_id"])
        if user_id not in self._world.users:
            raise unknown("User", 10013)
        return self._world.dm_channel_payload(self._world.dm_channel_id(user_id))

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

    async def _get_gateway(self, req: Incoming) -> Any:
        limit = {"total": 1000, "remaining": 1000, "reset_after": 0, "max_concurrency": 1}
        return {"url": self._gateway_url(), "shards": 1, "session_start_limit": limit}

    # ------------------------------------------------------------------ guilds and channels

    async def _get_guild(self, req: Incoming, guild: str) -> Any:
        data = self._world.guild_payload(self._world.guild(guild))
        for key in ("members", "channels", "threads", "presences", "voice_states"):
            data.pop(key)
        return data

    async def _get_guild_channels(self, req: Incoming, guild: str) -> Any:
        found = self._world.guild(guild)
        return [found.channel_payload(int(c[0])) for c in found.channels]

    async def _get_member(self, req: Incoming, guild: str, user: str) -> Any:
        member = self._world.find_member(self._world.guild(guild), int(user))
        if member is None:
            raise unknown("Member", 10007)
        return member.payload()

    async def _get_channel(self, req: Incoming, channel: str) -> Any:
        guild = self._world.require_channel(int(channel))
        if guild is None:
            return self._world.dm_channel_payload(int(channel))
        return guild.channel_payload(int(channel))

    async def _typing(self, req: Incoming, channel: str) -> Any:
        self._world.require_channel(int(channel))
        return None

    # ------------------------------------------------------------------ messages

    def _stored_in_channel(self, channel: str, message: str) -> dict[str, Any]:
        found = self._messages.by_id.get(int(message))
        if found is None or found["channel_id"] != channel:
            raise unknown("Message", 10008)
        return found

    async def _post_message(self, req: Incoming, channel: str) -> Any:
        self._world.require_channel(int(channel))
        body = req.json or {}
        flags = int(body.get("flags") or 0) & (FLAG_SUPPRESS_EMBEDS | FLAG_SUPPRESS_NOTIFICATIONS)
        return self._messages.create_from_bot(int(channel), body, req.uploads, flags=flags)

    async def _history(self, req: Incoming, channel: str) -> Any:
        self._world.require_channel(int(channel))
        limit = int(req.query.get("limit", 50))
        found = [
            m
            for m in self._messages.by_id.values()
            if m["channel_id"] == channel and not int(m.get("flags", 0)) & FLAG_EPHEMERAL
        ]
        if "before" in req.query:
            found = [m for m in found if int(m["id"]) < int(req.query["before"])]
        if "after" in req.query:
            found = [m for m in found if int(m["id"]) > int(req.query["after"])]
            return found[:limit][::-1]
        return found[::-1][:limit]

    async def _get_message(self, req: Incoming, channel: str, message: str) -> Any:
        return self._stored_in_channel(channel, message)

    async def _patch_message(self, req: Incoming, channel: str, message: str) -> Any:
        found = self._stored_in_channel(channel, message)
        if int(found["author"]["id"]) != self._world.bot_user.id:
            raise FakeDiscordError(403, 50005, "Cannot edit a message authored by another user")
        self._messages.edit(found, req.json or {}, req.uploads)
        check_not_empty(found)
        self._messages.touch(int(message))
        return found

    async def _delete_message(self, req: Incoming, channel: str, message: str) -> Any:
        self._stored_in_channel(channel, message)
        del self._messages.by_id[int(message)]
        return None

    async def _react(self, req: Incoming, channel: str, message: str, emoji: str) -> Any:
        found = self._stored_in_channel(channel, message)
        reaction = next((r for r in found["reactions"] if r["emoji"]["name"] == emoji), None)
        if reaction is None:
            new = {"emoji": {"id": None, "name": emoji}, "count": 1, "me": True}
            found["reactions"].append(new)
        elif not reaction["me"]:
            reaction.update(count=reaction["count"] + 1, me=True)
        return None

    async def _unreact(self, req: Incoming, channel: str, message: str, emoji: str) -> Any:
        found = self._stored_in_channel(channel, message)
        for reaction in list(found["reactions"]):
            if reaction["emoji"]["name"] == emoji and reaction["me"]:
                reaction.update(count=reaction["count"] - 1, me=False)
                if reaction["count"] <= 0:
                    found["reactions"].remove(reaction)
        return None
