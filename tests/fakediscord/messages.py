"""Messages and attachments: what users and the bot posted, in its latest (edited) state.

Discord's limits on what the bot sends (2000 characters, embed sizes, no empty message) are
checked here, where a channel post, an interaction reply and a follow-up all end up.
"""

from __future__ import annotations

import copy
import mimetypes
import re
import secrets
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

from .models import (
    FLAG_EPHEMERAL,
    FLAG_SUPPRESS_EMBEDS,
    FakeDiscordError,
    FakeUser,
    RecordedFile,
    form_error,
    now_iso,
)
from .waits import Signal
from .world import World

Uploads = list[tuple[str, RecordedFile]]  # (form field name, file)


class MessageStore:
    """Every message and attachment, and the order they were last touched in."""

    def __init__(self, world: World, signal: Signal, base_url: Callable[[], str]) -> None:
        self._world = world
        self._signal = signal
        self._base_url = base_url
        self.by_id: dict[int, dict[str, Any]] = {}
        self.cdn: dict[int, tuple[str, bytes, str]] = {}
        self.attachments: dict[int, dict[str, Any]] = {}
        self._touch_counter = 0
        self.touched: dict[int, int] = {}

    def touch(self, message_id: int) -> None:
        """Mark the message as the latest changed (``wait_final`` picks the latest)."""
        self._touch_counter += 1
        self.touched[message_id] = self._touch_counter

    def copy(self, message_id: int | None) -> dict[str, Any] | None:
        """A copy of the stored message, or None."""
        if message_id is None or message_id not in self.by_id:
            return None
        return copy.deepcopy(self.by_id[message_id])

    def in_channel(
        self, channel_id: int, *, include_ephemeral: bool = False
    ) -> list[dict[str, Any]]:
        """The bot's messages in a channel, oldest first, as copies."""
        return [
            copy.deepcopy(m)
            for m in self.by_id.values()
            if int(m["channel_id"]) == int(channel_id)
            and int(m["author"]["id"]) == self._world.bot_user.id
            and (include_ephemeral or not int(m.get("flags", 0)) & FLAG_EPHEMERAL)
        ]

    def add_attachment(self, filename: str, data: bytes, content_type: str) -> dict[str, Any]:
        """Serve ``data`` on the CDN route; returns a Discord attachment object.

        The URL carries ``?ex=..&is=..&hm=..`` like real CDN links, so code that guesses the
        type from ``url.endswith(".pdf")`` fails here as it would in production.
        """
        attachment_id = self._world.snowflake()
        self.cdn[attachment_id] = (filename, data, content_type)
        expires = int(time.time()) + 86400
        url = (
            f"{self._base_url()}/cdn/attachments/0/{attachment_id}/{quote(filename)}"
            f"?ex={expires:x}&is={int(time.time()):x}&hm={secrets.token_hex(16)}&"
        )
        attachment = {
            "id": str(attachment_id),
            "filename": filename,
            "size": len(data),
            "url": url,
            "proxy_url": url,
            "content_type": content_type,
            "flags": 0,
        }
        self.attachments[attachment_id] = attachment
        return copy.deepcopy(attachment)

    def new(
        self,
        *,
        channel_id: int,
        author: FakeUser,
        content: str,
        embeds: list[dict[str, Any]] | None = None,
        attachments: list[dict[str, Any]] | None = None,
        flags: int = 0,
        msg_type: int = 0,
        extra: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Store a message (anyone's) and wake the waits."""
        guild = self._world.channel_guild(channel_id)
        message: dict[str, Any] = {
            "id": str(self._world.snowflake()),
            "channel_id": str(channel_id),
            "author": author.payload(),
            "content": content,
            "timestamp": now_iso(),
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": self._world.mentions(content, guild),
            "mention_roles": [],
            "attachments": list(attachments or []),
            "embeds": list(embeds or []),
            "reactions": [],
            "pinned": False,
            "type": msg_type,
            "flags": flags,
            "components": [],
        }
        if guild is not None:
            message["guild_id"] = str(guild.id)
        message.update(extra or {})
        self.by_id[int(message["id"])] = message
        self.touch(int(message["id"]))
        self._signal.notify()
        return message

    def create_from_bot(
        self,
        channel_id: int,
        body: Mapping[str, Any],
        uploads: Uploads,
        *,
        flags: int,
        msg_type: int = 0,
        extra: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """A message the bot sent (post, interaction reply, follow-up), checked as Discord does."""
        validate(body)
        attachments = self._attachments_for(body, uploads, channel_id)
        check_not_empty({**body, "attachments": attachments})
        extra = dict(extra or {})
        reference = body.get("message_reference")
        if reference:
            reference = {  # discord.py sends int ids; Discord answers with strings
                k: str(v) if k.endswith("_id") and v is not None else v
                for k, v in reference.items()
            }
            extra["message_reference"] = reference
            referenced = self.copy(int(reference["message_id"]))
            if referenced is None and reference.get("fail_if_not_exists", True):
                raise form_error(
                    "message_reference", "Unknown message", "MESSAGE_REFERENCE_UNKNOWN_MESSAGE"
                )
            extra["referenced_message"] = referenced
            msg_type = 19 if msg_type == 0 else msg_type
        for key in ("components", "poll", "nonce", "tts"):
            if body.get(key) is not None:
                extra[key] = body[key]
        return self.new(
            channel_id=channel_id,
            author=self._world.bot_user,
            content=str(body.get("content") or ""),
            embeds=list(body.get("embeds") or []),
            attachments=attachments,
            flags=flags,
            msg_type=msg_type,
            extra=extra,
        )

    def edit(self, message: dict[str, Any], body: Mapping[str, Any], uploads: Uploads) -> None:
        """Apply a PATCH: the fields given replace the stored ones.

        Editing attachments is refused loudly (no bot of ours does it yet): the bot gets a 400
        and ``fake.errors`` says why, rather than a silent pass.
        """
        validate(body)
        for key, empty in (("content", ""), ("embeds", []), ("components", []), ("poll", None)):
            if key in body:
                message[key] = body[key] if body[key] is not None else empty
        if "flags" in body and body["flags"] is not None:
            keep = int(message.get("flags", 0)) & ~FLAG_SUPPRESS_EMBEDS
            message["flags"] = keep | (int(body["flags"]) & FLAG_SUPPRESS_EMBEDS)
        if body.get("attachments") or uploads:
            raise NotImplementedError("the fake does not edit attachments")
        if "content" in message:
            message["mentions"] = self._world.mentions(
                message["content"] or "", self._world.channel_guild(int(message["channel_id"]))
            )
        message["edited_timestamp"] = now_iso()

    def _attachments_for(
        self,
        body: Mapping[str, Any],
        uploads: Uploads,
        channel_id: int,
    ) -> list[dict[str, Any]]:
        """The attachments of a new message: payload ``attachments`` (or, without it, every
        upload) resolved against the uploaded ``files[n]``, each served on the CDN."""
        by_index = {}
        for position, (fieldname, upload) in enumerate(uploads):
            match = re.fullmatch(r"files\[(\d+)\]", fieldname)
            by_index[int(match.group(1)) if match else position] = upload
        described = body.get("attachments") or [{"id": i} for i in by_index]
        out = []
        for entry in described:
            upload = by_index.get(int(entry["id"]))
            if upload is None:
                raise form_error("attachments", f"Unknown attachment {entry['id']}")
            filename = entry.get("filename") or upload.filename
            content_type = mimetypes.guess_type(filename)[0] or "application/octet-stream"
            att = self.add_attachment(filename, upload.data, content_type)
            att["url"] = att["proxy_url"] = att["url"].replace(
                "/attachments/0/", f"/attachments/{channel_id}/"
            )
            self.attachments[int(att["id"])] = att
            out.append(att)
        return out


def validate(body: Mapping[str, Any]) -> None:
    """Discord's size limits: the ones a chatty bot trips over first."""
    content = body.get("content")
    if content is not None and len(str(content)) > 2000:
        raise form_error("content", "Must be 2000 or fewer in length.")
    embeds = body.get("embeds") or []
    if len(embeds) > 10:
        raise form_error("embeds", "Must be 10 or fewer in length.")
    total = sum(_embed_size(index, embed) for index, embed in enumerate(embeds))
    if total > 6000:
        raise form_error("embeds", "Embed size exceeds maximum size of 6000")


def _embed_size(index: int, embed: Mapping[str, Any]) -> int:
    """The characters an embed counts against the 6000 limit; each part's own limit checked."""
    total = 0
    for key, limit in (("title", 256), ("description", 4096)):
        text = str(embed.get(key) or "")
        total += len(text)
        if len(text) > limit:
            raise form_error(f"embeds.{index}.{key}", f"Must be {limit} or fewer.")
    fields = embed.get("fields") or []
    if len(fields) > 25:
        raise form_error(f"embeds.{index}.fields", "Must be 25 or fewer in length.")
    for f_index, fld in enumerate(fields):
        for key, limit in (("name", 256), ("value", 1024)):
            text = str(fld.get(key) or "")
            total += len(text)
            if not text or len(text) > limit:
                raise form_error(
                    f"embeds.{index}.fields.{f_index}.{key}",
                    f"Must be between 1 and {limit} in length.",
                )
    footer = str((embed.get("footer") or {}).get("text") or "")
    author = str((embed.get("author") or {}).get("name") or "")
    if len(footer) > 2048 or len(author) > 256:
        raise form_error(f"embeds.{index}", "Embed footer/author too long.")
    return total + len(footer) + len(author)


def check_not_empty(message: Mapping[str, Any]) -> None:
    """Discord refuses a message with nothing to show."""
    if not (
        message.get("content")
        or message.get("embeds")
        or message.get("attachments")
        or message.get("sticker_ids")
        or message.get("components")
        or message.get("poll")
    ):
        raise FakeDiscordError(400, 50006, "Cannot send an empty message")
