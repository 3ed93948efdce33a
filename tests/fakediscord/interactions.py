"""Slash commands: a member runs one, the bot acknowledges it, edits it and follows it up.

Discord rules enforced here, the ones that bite bots in real life: the 3-second
acknowledgement (a bot that works before deferring gets ``404 Unknown interaction``), one
acknowledgement only, and the first follow-up after a defer replacing the "thinking" message.
The callback is POSTed with ``?with_response=1`` and needs a JSON body back
(``{"interaction": ..., "resource": ...}``); a bare 204 breaks ``response.send_message``.
"""

# The public waits take ``timeout=`` by design (the fake's API), hence ASYNC109 is off here.
# ruff: noqa: ASYNC109

from __future__ import annotations

import copy
import secrets
import time
from collections.abc import Callable
from typing import Any

from .commands import CommandRegistry
from .gateway import Gateway
from .messages import MessageStore, check_not_empty
from .models import (
    ADMINISTRATOR,
    ALL_PERMISSIONS,
    FLAG_EPHEMERAL,
    FLAG_LOADING,
    SETTABLE_FLAGS,
    FakeDiscordError,
    FakeGuild,
    FakeMember,
    form_error,
    unknown,
)
from .options import Options, build_options
from .routing import Incoming, Route
from .waits import Signal
from .world import World

ATTACHMENT_SIZE_LIMIT = 10 * 1024 * 1024


class FakeInteraction:
    """An application-command interaction the fake dispatched, and the bot's answers to it."""

    def __init__(
        self,
        messages: MessageStore,
        signal: Signal,
        *,
        id: int,
        token: str,
        payload: dict[str, Any],
        channel_id: int,
    ) -> None:
        self._messages = messages
        self._signal = signal
        self.id = id
        self.token = token
        self.payload = payload
        self.channel_id = channel_id
        self.created_at = time.monotonic()
        self.callback: dict[str, Any] | None = None
        self.original_id: int | None = None
        self.followup_ids: list[int] = []
        self.original_filled = False  # deferred "thinking" message replaced yet?

    def __repr__(self) -> str:
        data = self.payload["data"]
        name = data.get("name") or data.get("custom_id")
        return f"<FakeInteraction id={self.id} name={name!r} callback={self.response_type}>"

    @property
    def response_type(self) -> int | None:
        """Callback type: 4 message, 5 deferred, None if not acknowledged yet."""
        return None if self.callback is None else int(self.callback.get("type", 0))

    @property
    def original(self) -> dict[str, Any] | None:
        """The original response message in its latest state; None once deleted (or never)."""
        return self._messages.copy(self.original_id)

    @property
    def messages(self) -> list[dict[str, Any]]:
        """Original response (if any) then follow-ups, each in its latest (edited) state."""
        ids = ([self.original_id] if self.original_id is not None else []) + self.followup_ids
        found = (self._messages.copy(i) for i in ids)
        return [m for m in found if m is not None]

    async def wait_response(self, timeout: float = 5.0) -> dict[str, Any]:
        """The initial callback body (``{"type": 4|5, "data": {... "flags": 64 ...}}``)."""
        return await self._signal.wait_until(
            lambda: self.callback, timeout, f"the callback of interaction {self.id}"
        )

    async def wait_final(
        self,
        timeout: float = 10.0,
        predicate: Callable[[dict[str, Any]], bool] | None = None,
    ) -> dict[str, Any]:
        """The latest-touched visible message of this interaction (not the "thinking" one).

        For a type-4 callback that is the original message; for a deferred one the PATCHed
        @original or a follow-up. Pass ``predicate`` when the bot edits in steps ("Searching..."
        then the answer), so the wait ends at the step the test cares about.
        """

        def check() -> dict[str, Any] | None:
            candidates = [m for m in self.messages if not int(m.get("flags", 0)) & FLAG_LOADING]
            if predicate is not None:
                candidates = [m for m in candidates if predicate(m)]
            if not candidates:
                return None
            return max(candidates, key=lambda m: self._messages.touched.get(int(m["id"]), 0))

        return await self._signal.wait_until(check, timeout, f"a final reply to {self!r}")


class Interactions:
    """Dispatches interactions and serves the callback and webhook routes that answer them."""

    def __init__(
        self,
        world: World,
        messages: MessageStore,
        commands: CommandRegistry,
        gateway: Gateway,
        signal: Signal,
    ) -> None:
        self._world = world
        self._messages = messages
        self._commands = commands
        self._gateway = gateway
        self._signal = signal
        self.by_id: dict[int, FakeInteraction] = {}
        self.ack_timeout = 3.0

    def routes(self) -> list[Route]:
        """The interaction callback and the webhook routes of follow-ups and edits."""
        hook = r"/webhooks/(?P<app>\d+)/(?P<token>[^/]+)"
        return [
            ("POST", r"/interactions/(?P<iid>\d+)/(?P<token>[^/]+)/callback", self._callback),
            ("POST", hook, self._followup),
            ("PATCH", hook + r"/messages/(?P<mid>\d+)", self._hook_patch_message),
            ("GET", hook + r"/messages/@original", self._hook_get),
            ("PATCH", hook + r"/messages/@original", self._hook_patch),
            ("DELETE", hook + r"/messages/@original", self._hook_delete),
        ]

    async def send(
        self,
        *,
        guild_id: int | None,
        channel_id: int,
        member: FakeMember,
        name: str,
        options: Options = (),
        subcommand: str | None = None,
        enforce_default_permissions: bool = False,
        target_message: dict[str, Any] | None = None,
    ) -> FakeInteraction:
        """A member runs slash command ``name``: INTERACTION_CREATE type 2 is dispatched.

        ``options`` is either Discord's raw option list or a mapping ``{option_name: value}``
        typed from the synced schema: an attachment value may be the dict from
        ``add_attachment``, and ``resolved`` is built for you. ``subcommand`` nests the options.

        Discord itself hides commands whose ``default_member_permissions`` the member lacks,
        but guild admins can override that, so by default the bot gets the interaction anyway;
        ``enforce_default_permissions=True`` raises PermissionError instead.

        ``target_message`` (a message as stored, e.g. from ``send_message``) makes it a
        message context-menu command (type 3, "right-click → Apps"): Discord sends the
        message in ``resolved.messages``, content included, and its id as ``target_id``.
        """
        command_type = 1 if target_message is None else 3
        cmd, scope = self._commands.find(name, guild_id, command_type)
        guild = self._world.guild(guild_id) if guild_id is not None else None
        perms = self._world.member_permissions(guild, member) if guild else ALL_PERMISSIONS
        required = cmd.get("default_member_permissions")
        if (
            enforce_default_permissions
            and required is not None
            and not perms & ADMINISTRATOR
            and perms & int(required) != int(required)
        ):
            raise PermissionError(f"{member.user.username} cannot see /{name}")
        data: dict[str, Any]
        if target_message is None:
            option_rows, resolved = build_options(
                cmd, options, subcommand, self._messages.attachments, self._channel_of(guild)
            )
            data = {"id": cmd["id"], "name": name, "type": 1, "options": option_rows}
            if resolved:
                data["resolved"] = resolved
        else:
            target = self._messages.copy(int(target_message["id"]))
            if target is None:
                raise LookupError(f"no message {target_message['id']} to target")
            data = {
                "id": cmd["id"],
                "name": name,
                "type": 3,
                "target_id": target["id"],
                "resolved": {"messages": {target["id"]: target}},
            }
        if scope is not None:
            data["guild_id"] = scope
        return await self._dispatch(guild, channel_id, member, perms, data, 2)

    @staticmethod
    def _channel_of(guild: FakeGuild | None) -> Callable[[int], dict[str, Any]] | None:
        """A channel option's resolved payload: the guild's channel with the member's view."""
        if guild is None:
            return None

        def payload(channel_id: int) -> dict[str, Any]:
            data = guild.channel_payload(channel_id)
            data["permissions"] = str(ALL_PERMISSIONS)
            return data

        return payload

    async def press(
        self,
        *,
        message: dict[str, Any],
        custom_id: str,
        member: FakeMember,
    ) -> FakeInteraction:
        """A member presses the button ``custom_id`` under the bot's ``message``: an
        INTERACTION_CREATE of type 3 (message component) carrying the message as it is now,
        components included. Discord checks the button is there; so does the fake."""
        current = self._messages.copy(int(message["id"]))
        if current is None:
            raise LookupError(f"no message {message['id']}")
        buttons = [
            c.get("custom_id")
            for row in current.get("components") or []
            for c in row.get("components") or []
        ]
        if custom_id not in buttons:
            raise LookupError(f"no button {custom_id!r} under message {message['id']}: {buttons}")
        channel_id = int(current["channel_id"])
        guild = self._world.channel_guild(channel_id)
        perms = self._world.member_permissions(guild, member) if guild else ALL_PERMISSIONS
        data = {"custom_id": custom_id, "component_type": 2}
        return await self._dispatch(guild, channel_id, member, perms, data, 3, current)

    async def _dispatch(
        self,
        guild: FakeGuild | None,
        channel_id: int,
        member: FakeMember,
        perms: int,
        data: dict[str, Any],
        interaction_type: int,
        message: dict[str, Any] | None = None,
    ) -> FakeInteraction:
        self._world.users.setdefault(member.user.id, member.user)
        interaction_id = self._world.snowflake()
        token = "aW50ZXJhY3Rpb24" + secrets.token_urlsafe(48)
        payload = self._payload(interaction_id, token, data, channel_id)
        payload["type"] = interaction_type
        if message is not None:
            payload["message"] = message
        if guild is not None:
            payload.update(_guild_context(guild, channel_id, member, perms))
        else:
            payload.update(self._dm_context(member))
        interaction = FakeInteraction(
            self._messages,
            self._signal,
            id=interaction_id,
            token=token,
            payload=payload,
            channel_id=int(payload["channel_id"]),
        )
        self.by_id[interaction_id] = interaction
        await self._gateway.dispatch("INTERACTION_CREATE", copy.deepcopy(payload))
        return interaction

    def _payload(
        self, interaction_id: int, token: str, data: dict[str, Any], channel_id: int
    ) -> dict[str, Any]:
        return {
            "id": str(interaction_id),
            "application_id": str(self._world.application_id),
            "type": 2,
            "token": token,
            "version": 1,
            "channel_id": str(channel_id),
            "app_permissions": str(self._world.bot_permissions),
            "locale": "en-US",
            "entitlements": [],
            "entitlement_sku_ids": [],
            "attachment_size_limit": ATTACHMENT_SIZE_LIMIT,
            "data": data,
        }

    def _dm_context(self, member: FakeMember) -> dict[str, Any]:
        channel_id = self._world.dm_channel_id(member.user)
        return {
            "channel_id": str(channel_id),
            "channel": self._world.dm_channel_payload(channel_id),
            "user": member.user.payload(),
            "context": 1,
            "authorizing_integration_owners": {"0": str(self._world.application_id)},
        }

    def _message_extra(self, interaction: FakeInteraction) -> dict[str, Any]:
        payload = interaction.payload
        user = payload.get("member", {}).get("user") or payload.get("user")
        return {
            "webhook_id": str(self._world.application_id),
            "application_id": str(self._world.application_id),
            "interaction_metadata": {
                "id": str(interaction.id),
                "type": int(payload["type"]),
                "name": payload["data"].get("name", ""),
                "user": user,
                "authorizing_integration_owners": payload.get("authorizing_integration_owners", {}),
            },
        }

    async def _callback(self, req: Incoming, iid: str, token: str) -> Any:
        interaction = self.by_id.get(int(iid))
        if interaction is None or interaction.token != token:
            raise unknown("interaction", 10062)
        if interaction.callback is not None:
            raise FakeDiscordError(400, 40060, "Interaction has already been acknowledged.")
        if time.monotonic() - interaction.created_at > self.ack_timeout:
            raise unknown("interaction", 10062)  # what a late (>3 s) acknowledgement gets
        body = req.json or {}
        cb_type = int(body.get("type", 0))
        data = body.get("data") or {}
        message: dict[str, Any] | None = None
        if cb_type == 4:
            message = self._messages.create_from_bot(
                interaction.channel_id,
                data,
                req.uploads,
                flags=int(data.get("flags") or 0) & SETTABLE_FLAGS,
                msg_type=20,
                extra=self._message_extra(interaction),
            )
            interaction.original_filled = True
        elif cb_type == 5:
            message = self._messages.new(
                channel_id=interaction.channel_id,
                author=self._world.bot_user,
                content="",
                flags=FLAG_LOADING | int(data.get("flags") or 0) & FLAG_EPHEMERAL,
                msg_type=20,
                extra=self._message_extra(interaction),
            )
        elif cb_type == 7:  # update the message whose component was pressed
            pressed = interaction.payload.get("message")
            if pressed is None:
                raise form_error("type", "UPDATE_MESSAGE needs a component interaction")
            found = self._messages.by_id.get(int(pressed["id"]))
            if found is None:
                raise unknown("Message", 10008)
            self._messages.edit(found, data, req.uploads)
            check_not_empty(found)
            self._messages.touch(int(found["id"]))
        elif cb_type not in (1, 6, 8, 9, 12):
            raise form_error("type", f"Invalid interaction callback type {cb_type}")
        if message is not None:
            interaction.original_id = int(message["id"])
        interaction.callback = copy.deepcopy(body)
        self._signal.notify()
        return _callback_response(interaction, cb_type, message)

    def _hook_interaction(self, app: str, token: str) -> FakeInteraction:
        if int(app) == self._world.application_id:
            for interaction in self.by_id.values():
                if interaction.token == token and interaction.callback is not None:
                    return interaction
        raise unknown("Webhook", 10015)  # also what an un-acknowledged token gets

    async def _followup(self, req: Incoming, app: str, token: str) -> Any:
        interaction = self._hook_interaction(app, token)
        body = req.json or {}
        original = self._messages.by_id.get(interaction.original_id or -1)
        loading = original is not None and int(original["flags"]) & FLAG_LOADING
        if original is not None and loading and not interaction.original_filled:
            # First follow-up after a defer replaces the "thinking" message; its ephemerality
            # comes from the defer, the follow-up's own flags are ignored (Discord docs).
            self._messages.edit(original, body, req.uploads)
            original["flags"] = int(original["flags"]) & ~FLAG_LOADING
            original["edited_timestamp"] = None
            check_not_empty(original)
            interaction.original_filled = True
            self._messages.touch(int(original["id"]))
            self._signal.notify()
            message = original
        else:
            message = self._messages.create_from_bot(
                interaction.channel_id,
                body,
                req.uploads,
                flags=int(body.get("flags") or 0) & SETTABLE_FLAGS,
                extra=self._message_extra(interaction),
            )
            interaction.followup_ids.append(int(message["id"]))
        wait = (req.query.get("wait") or "").lower() in {"1", "true", "yes"}
        return message if wait else None

    def _original(self, app: str, token: str) -> dict[str, Any]:
        interaction = self._hook_interaction(app, token)
        found = self._messages.by_id.get(interaction.original_id or -1)
        if found is None:
            raise unknown("Message", 10008)
        return found

    async def _hook_get(self, req: Incoming, app: str, token: str) -> Any:
        """GET @original: discord.py reads it back (``original_response()``)."""
        return self._original(app, token)

    async def _hook_delete(self, req: Incoming, app: str, token: str) -> Any:
        """DELETE @original: the bot takes back its public "thinking…" or progress message."""
        found = self._original(app, token)
        del self._messages.by_id[int(found["id"])]
        self._signal.notify()
        return None

    async def _hook_patch_message(self, req: Incoming, app: str, token: str, mid: str) -> Any:
        """PATCH a follow-up (or the message a component was pressed under)."""
        interaction = self._hook_interaction(app, token)
        pressed = (interaction.payload.get("message") or {}).get("id")
        if int(mid) not in interaction.followup_ids and str(mid) != str(pressed):
            raise unknown("Message", 10008)
        found = self._messages.by_id.get(int(mid))
        if found is None:
            raise unknown("Message", 10008)
        self._messages.edit(found, req.json or {}, req.uploads)
        check_not_empty(found)
        self._messages.touch(int(found["id"]))
        return found

    async def _hook_patch(self, req: Incoming, app: str, token: str) -> Any:
        """PATCH @original: the bot edits its reply ("Searching..." then the answer)."""
        interaction = self._hook_interaction(app, token)
        found = self._messages.by_id.get(interaction.original_id or -1)
        if found is None:
            raise unknown("Message", 10008)
        self._messages.edit(found, req.json or {}, req.uploads)
        if int(found["flags"]) & FLAG_LOADING:
            found["flags"] = int(found["flags"]) & ~FLAG_LOADING
            interaction.original_filled = True
        check_not_empty(found)
        self._messages.touch(int(found["id"]))
        return found


def _guild_context(
    guild: FakeGuild, channel_id: int, member: FakeMember, perms: int
) -> dict[str, Any]:
    """The guild, channel and member of an interaction run inside a guild."""
    channel = guild.channel_payload(channel_id)
    channel["permissions"] = str(perms)
    member_data = member.payload()
    member_data["permissions"] = str(perms)
    return {
        "guild_id": str(guild.id),
        "guild": {"id": str(guild.id), "locale": "en-US", "features": []},
        "guild_locale": "en-US",
        "channel": channel,
        "member": member_data,
        "context": 0,
        "authorizing_integration_owners": {"0": str(guild.id)},
    }


def _callback_response(
    interaction: FakeInteraction, cb_type: int, message: dict[str, Any] | None
) -> dict[str, Any]:
    """The ``?with_response=1`` body discord.py reads the response message from."""
    flags = int(message["flags"]) if message else 0
    info: dict[str, Any] = {
        "id": str(interaction.id),
        "type": int(interaction.payload["type"]),
        "response_message_loading": bool(flags & FLAG_LOADING),
        "response_message_ephemeral": bool(flags & FLAG_EPHEMERAL),
    }
    resource: dict[str, Any] = {"type": cb_type}
    if message is not None:
        info["response_message_id"] = message["id"]
        resource["message"] = message
    return {"interaction": info, "resource": resource}
