"""Slash-command options as Discord sends them, typed from the command's synced schema.

A test writes ``{"file": attachment, "url": "..."}``; Discord sends typed option rows, nested
under their subcommand, and the users, channels, roles and attachments they name in
``resolved``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .models import FakeGuild, FakeMember, FakeUser
from .world import World

# Application command option types.
OPT_SUB_COMMAND = 1
OPT_USER = 6
OPT_CHANNEL = 7
OPT_ROLE = 8
OPT_MENTIONABLE = 9
OPT_ATTACHMENT = 11


class OptionBuilder:
    """Builds one interaction's option list and fills its ``resolved`` as it goes."""

    def __init__(
        self,
        world: World,
        attachments: Mapping[int, dict[str, Any]],
        guild: FakeGuild | None,
    ) -> None:
        self._world = world
        self._attachments = attachments
        self._guild = guild
        self.resolved: dict[str, Any] = {}

    def build(
        self,
        cmd: dict[str, Any],
        options: Sequence[Mapping[str, Any]] | Mapping[str, Any],
        subcommand: str | None,
    ) -> list[dict[str, Any]]:
        """Raw option rows pass as they are; a mapping is typed from the schema."""
        schema: list[dict[str, Any]] = cmd.get("options") or []
        if subcommand is not None:
            node = next(
                (o for o in schema if o["name"] == subcommand and o["type"] == OPT_SUB_COMMAND),
                None,
            )
            if node is None:
                raise LookupError(f"/{cmd['name']} has no subcommand {subcommand!r}")
            schema = node.get("options") or []
        if isinstance(options, Mapping):
            leaf = [self._typed(schema, key, value) for key, value in options.items()]
            missing = [o["name"] for o in schema if o.get("required") and o["name"] not in options]
            if missing:
                raise ValueError(f"/{cmd['name']}: missing required options {missing}")
        else:
            leaf = [dict(o) for o in options]
        if subcommand is not None:
            leaf = [{"name": subcommand, "type": OPT_SUB_COMMAND, "options": leaf}]
        return leaf

    def _typed(self, schema: list[dict[str, Any]], name: str, value: Any) -> dict[str, Any]:
        spec = next((o for o in schema if o["name"] == name), None)
        if spec is None:
            raise LookupError(f"no option {name!r}; have {[o['name'] for o in schema]}")
        kind = int(spec["type"])
        if kind == OPT_ATTACHMENT:
            att = value if isinstance(value, Mapping) else self._attachments[int(value)]
            self._resolve("attachments", str(att["id"]), dict(att))
            value = str(att["id"])
        elif kind in (OPT_USER, OPT_MENTIONABLE) and isinstance(value, FakeUser | FakeMember):
            value = self._user(value)
        elif kind == OPT_CHANNEL and self._guild is not None:
            channel = self._guild.channel_payload(int(value))
            channel["permissions"] = str(self._world.bot_permissions)
            self._resolve("channels", str(value), channel)
            value = str(value)
        elif kind in (OPT_ROLE, OPT_MENTIONABLE) and self._guild is not None:
            roles = self._guild.all_roles()
            role = next((r for r in roles if r.id == int(value)), None)
            if role is None:
                raise LookupError(f"no role {value} in guild {self._guild.id}")
            self._resolve("roles", str(role.id), role.payload(roles.index(role)))
            value = str(role.id)
        return {"name": name, "type": kind, "value": value}

    def _user(self, value: FakeUser | FakeMember) -> str:
        user = value.user if isinstance(value, FakeMember) else value
        self._world.users.setdefault(user.id, user)
        self._resolve("users", str(user.id), user.payload())
        member = value if isinstance(value, FakeMember) else None
        guild = self._guild
        if member is None and guild is not None:
            member = self._world.find_member(guild, user.id)
        if member is not None and guild is not None:
            data = member.payload(with_user=False)
            data["permissions"] = str(self._world.member_permissions(guild, member))
            self._resolve("members", str(user.id), data)
        return str(user.id)

    def _resolve(self, kind: str, key: str, data: dict[str, Any]) -> None:
        self.resolved.setdefault(kind, {})[key] = data
