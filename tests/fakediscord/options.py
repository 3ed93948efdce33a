"""Slash-command options as Discord sends them, typed from the command's synced schema.

A test writes ``{"file": attachment, "url": "..."}``; Discord sends typed option rows, nested
under their subcommand, and the attachments they name in ``resolved``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

# Application command option types.
OPT_SUB_COMMAND = 1
OPT_CHANNEL = 7
OPT_ATTACHMENT = 11

Options = Sequence[Mapping[str, Any]] | Mapping[str, Any]


def build_options(
    cmd: dict[str, Any],
    options: Options,
    subcommand: str | None,
    attachments: Mapping[int, dict[str, Any]],
    channel: Callable[[int], dict[str, Any]] | None = None,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The option rows and ``resolved`` of one interaction.

    Raw option rows pass as they are; a mapping is typed from the schema, an attachment value
    (the dict from ``add_attachment``, or its id) resolved, and a channel id resolved through
    ``channel`` (its payload, as Discord puts it in ``resolved.channels``).
    """
    schema: list[dict[str, Any]] = cmd.get("options") or []
    if subcommand is not None:
        node = next(
            (o for o in schema if o["name"] == subcommand and o["type"] == OPT_SUB_COMMAND), None
        )
        if node is None:
            raise LookupError(f"/{cmd['name']} has no subcommand {subcommand!r}")
        schema = node.get("options") or []
    resolved: dict[str, Any] = {}
    if isinstance(options, Mapping):
        leaf = [
            _typed(schema, key, value, attachments, resolved, channel)
            for key, value in options.items()
        ]
        missing = [o["name"] for o in schema if o.get("required") and o["name"] not in options]
        if missing:
            raise ValueError(f"/{cmd['name']}: missing required options {missing}")
    else:
        leaf = [dict(o) for o in options]
    if subcommand is not None:
        leaf = [{"name": subcommand, "type": OPT_SUB_COMMAND, "options": leaf}]
    return leaf, resolved


def _typed(
    schema: list[dict[str, Any]],
    name: str,
    value: Any,
    attachments: Mapping[int, dict[str, Any]],
    resolved: dict[str, Any],
    channel: Callable[[int], dict[str, Any]] | None = None,
) -> dict[str, Any]:
    spec = next((o for o in schema if o["name"] == name), None)
    if spec is None:
        raise LookupError(f"no option {name!r}; have {[o['name'] for o in schema]}")
    kind = int(spec["type"])
    if kind == OPT_ATTACHMENT:
        att = value if isinstance(value, Mapping) else attachments[int(value)]
        resolved.setdefault("attachments", {})[str(att["id"])] = dict(att)
        value = str(att["id"])
    elif kind == OPT_CHANNEL and channel is not None:
        resolved.setdefault("channels", {})[str(value)] = channel(int(value))
        value = str(value)
    return {"name": name, "type": kind, "value": value}
