"""Application commands: what the bot synced, globally or per guild, with Discord's checks."""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any

from .models import GuildKeyed, form_error, unknown
from .routing import Incoming, Route
from .world import World

_COMMAND_NAME_RE = re.compile(r"^[-_\w]{1,32}$")


class CommandRegistry:
    """``registered`` maps a guild id (None = global) to the commands synced there."""

    def __init__(self, world: World) -> None:
        self._world = world
        self.registered: GuildKeyed = GuildKeyed()
        self._ids: dict[tuple[str | None, str, int], int] = {}

    def find(
        self, name: str, guild_id: int | None, command_type: int = 1
    ) -> tuple[dict[str, Any], str | None]:
        """The registered command ``name`` of ``command_type`` (1 chat input, 2 user and 3
        message context menu): guild scope first, then global."""
        scopes = ([str(guild_id)] if guild_id is not None else []) + [None]
        for scope in scopes:
            for cmd in self.registered.get(scope) or []:
                if cmd["name"] == name and int(cmd.get("type", 1)) == command_type:
                    return cmd, scope
        known = {k: [c["name"] for c in v] for k, v in self.registered.items()}
        raise LookupError(f"command {name!r} not registered (guild {guild_id}); have {known}")

    def routes(self) -> list[Route]:
        """Listing and bulk sync (what ``tree.sync`` and ``fetch_commands`` use)."""
        cmds = r"/applications/(?P<app>\d+)(?:/guilds/(?P<guild>\d+))?/commands"
        return [("GET", cmds, self._list), ("PUT", cmds, self._put)]

    def _check_app(self, app: str) -> None:
        if int(app) != self._world.application_id:
            raise unknown("Application", 10002)

    def _store(self, scope: str | None, data: Mapping[str, Any]) -> dict[str, Any]:
        name = str(data.get("name", ""))
        cmd_type = int(data.get("type", 1))
        # Context-menu names (types 2 and 3) may hold spaces and capitals: "Add to newsbot".
        valid = _COMMAND_NAME_RE.match(name) if cmd_type == 1 else 1 <= len(name.strip()) <= 32
        if not valid or (cmd_type == 1 and name != name.lower()):
            raise form_error("name", f"Invalid command name {name!r}", "APPLICATION_COMMAND_NAME")
        description = str(data.get("description", ""))
        if cmd_type == 1 and not 1 <= len(description) <= 100:
            raise form_error("description", "Must be between 1 and 100 in length.")
        cmd_id = self._ids.setdefault((scope, name, cmd_type), self._world.snowflake())
        stored: dict[str, Any] = {
            "type": cmd_type,
            "description": description,
            "options": [],
            "default_member_permissions": None,
            "nsfw": False,
            **copy.deepcopy(dict(data)),
            "id": str(cmd_id),
            "application_id": str(self._world.application_id),
            "version": str(self._world.snowflake()),
        }
        if stored["default_member_permissions"] is not None:  # discord.py sends an int
            stored["default_member_permissions"] = str(int(stored["default_member_permissions"]))
        if scope is not None:
            stored["guild_id"] = scope
        return stored

    async def _list(self, req: Incoming, app: str, guild: str | None = None) -> Any:
        self._check_app(app)
        return self.registered.get(guild) or []

    async def _put(self, req: Incoming, app: str, guild: str | None = None) -> Any:
        self._check_app(app)
        if guild is not None:
            self._world.guild(guild)
        body = req.json or []
        if len({(c.get("name"), c.get("type", 1)) for c in body}) != len(body):
            raise form_error("_", "Application command names must be unique", "DUPLICATE")
        stored = [self._store(guild, c) for c in body]
        self.registered[guild] = stored
        return stored
