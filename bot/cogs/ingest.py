"""Adding news: /ingest (url, file or text) and !ingest with text, a link or attached files."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import PurePath
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from index.errors import InputError
from index.ingest import web
from index.ingest.fetch import FetchResult, fetch
from index.ingest.sources import SUPPORTED, Failed
from index.models import Document
from index.service import IngestReport

from ..checks import collection_for, in_guild, ingest_cooldown, per_member
from ..errors import UserError
from ..render import ingest_report, plain

if TYPE_CHECKING:
    from ..client import NewsBot

# Every file type newsbot reads, except .jsonl: each of its lines states its own url, source
# and date, which the bot would then cite as such, and one upload would hold a whole batch.
UPLOAD_TYPES = [ext for ext in SUPPORTED if ext != ".jsonl"]
MAX_PASTE_CHARS = 100_000
# How many messages' files and pages are read at the same time (each one bounded in size and
# tags: index.ingest.extract), in threads of their own.
EXTRACT_THREADS = 3

# What one ingest command hands over: a file's name and bytes, a fetched page, a document, or
# the reason an input was refused before it was read.
Item = tuple[str, bytes] | FetchResult | Failed | Document


def check_attachment(att: discord.Attachment, max_bytes: int) -> str | None:
    """Why an attachment is refused before it is downloaded, or None when it is fine."""
    ext = PurePath(att.filename).suffix.lower()
    kind = (att.content_type or "").split(";")[0]
    if kind.startswith(("image/", "video/", "audio/")):
        return (
            f"{att.filename} is {(kind.split('/')[0] == 'image' and 'an image') or 'media'};"
            f" I read articles from {', '.join(UPLOAD_TYPES)} files."
        )
    if ext not in UPLOAD_TYPES:
        return f"{att.filename}: I read articles from {', '.join(UPLOAD_TYPES)} files."
    if att.size > max_bytes:
        return f"{att.filename} is too large ({att.size:,} bytes; the limit is {max_bytes:,})."
    return None


class Ingest(commands.Cog):
    def __init__(self, bot: NewsBot) -> None:
        self.bot = bot
        # `!ingest` has /ingest's limit (counted apart), built here: prefix cooldowns can't read it.
        rate = per_member(bot.settings.ingest_burst, bot.settings.ingest_cooldown_seconds)
        self.prefix_cooldown = (
            commands.CooldownMapping(rate, commands.BucketType.user) if rate else None
        )
        # Its own threads, so pages being read never take the ones questions are answered in.
        self.extractor = ThreadPoolExecutor(EXTRACT_THREADS, thread_name_prefix="newsbot-extract")
        self.add_menu = app_commands.ContextMenu(name="Add to newsbot", callback=self.add_message)

    async def cog_load(self) -> None:
        self.bot.tree.add_command(self.add_menu)

    async def cog_unload(self) -> None:
        self.bot.tree.remove_command(self.add_menu.name, type=self.add_menu.type)
        self.extractor.shutdown(wait=False, cancel_futures=True)

    async def _ingest(
        self,
        guild_id: int,
        author: discord.abc.User,
        items: list[Item],
    ) -> IngestReport:
        """Extract first, in the extraction threads and outside the writer lock (a slow page
        then delays only its sender), then embed and store, one writer at a time."""
        service = self.bot.service

        def extract() -> list[Document | Failed]:
            documents: list[Document | Failed] = []
            for item in items:
                if isinstance(item, Failed | Document):
                    documents.append(item)
                elif isinstance(item, FetchResult):
                    documents.append(service.document_from_fetched(item))
                else:
                    name, data = item
                    documents.extend(service.documents_from_bytes(data, name))
            return documents

        documents = await asyncio.get_running_loop().run_in_executor(self.extractor, extract)
        if all(isinstance(d, Failed) for d in documents):
            report = IngestReport(failed=[d for d in documents if isinstance(d, Failed)])
            self.bot.metrics.ingest(self.bot.shard_label(guild_id), "member", report)
            return report
        async with self.bot.writer:
            report = await asyncio.to_thread(
                service.ingest,
                collection_for(guild_id),
                documents,
                added_by=f"{author} ({author.id})",
            )
        self.bot.metrics.ingest(self.bot.shard_label(guild_id), "member", report)
        if report.added:
            self.bot.dispatch("newsbot_ingested", guild_id)  # watches look at once
        return report

    async def _fetch(self, url: str) -> FetchResult | Failed:
        """Network only, on the event loop; refusals (not public, too large…) become replies."""
        try:
            return await fetch(url, web.policy_for(self.bot.service.settings))
        except InputError as exc:
            return Failed(url, f"{url}: {exc}")  # shown as text: ingest_report

    async def _read(self, att: discord.Attachment) -> tuple[str, bytes] | Failed:
        refusal = check_attachment(att, self.bot.service.settings.max_input_bytes)
        if refusal:
            return Failed(att.filename, refusal)
        try:
            return att.filename, await att.read()
        except discord.HTTPException:
            return Failed(att.filename, f"I couldn't download {att.filename}; try again.")

    async def _items_from(self, content: str, attachments: list[discord.Attachment]) -> list[Item]:
        """What one message hands over, as `!ingest` reads it: its files, and its text as links
        (when it is only links) or as the article itself."""
        content = content.strip()
        kept = attachments[: self.bot.settings.max_attachments]
        if not content and not kept:
            raise UserError(
                "Paste the article after `!ingest`, or attach .txt, .md, .html or .pdf files."
            )
        links = content.split()
        # Only links: each is read as a page. Anything else: the whole message is the article.
        urls = [web.web_address(w) for w in links] if all(map(web.is_url, links)) else []
        if len(content) > MAX_PASTE_CHARS:
            raise UserError(
                f"That paste is too long ({len(content):,} characters; attach it "
                "as a file instead)."
            )
        items: list[Item] = [await self._read(att) for att in kept]
        if urls:
            items[:0] = [await self._fetch(u) for u in urls[: self.bot.settings.max_attachments]]
        elif content:
            items.insert(0, ("pasted text.txt", content.encode("utf-8")))
        skipped = len(attachments) - len(kept)
        if skipped:
            items.append(
                Failed(
                    "",
                    f"{skipped} more files were not read (at most "
                    f"{self.bot.settings.max_attachments} a message).",
                )
            )
        return items

    @in_guild()
    @app_commands.checks.dynamic_cooldown(ingest_cooldown)
    async def add_message(
        self, interaction: discord.Interaction[NewsBot], message: discord.Message
    ) -> None:
        """Right-click → Apps → "Add to newsbot": the message's links and files, or its text,
        as `!ingest` would read them, with the same report."""
        if not message.content.strip() and not message.attachments:
            raise UserError(
                "That message has no text, links or files to add. Pick one with an article, "
                "a link to one, or .txt, .md, .html or .pdf files."
            )
        await interaction.response.defer(thinking=True)
        items = await self._items_from(message.content, message.attachments)
        if all(isinstance(i, Failed) for i in items):
            report = IngestReport(failed=[i for i in items if isinstance(i, Failed)])
        else:
            report = await self._ingest(interaction.guild_id, interaction.user, items)
        if not (report.added or report.updated or report.duplicates):
            raise UserError(ingest_report(report))  # a failure: shown to its sender only
        await interaction.followup.send(ingest_report(report))

    @app_commands.command(name="ingest", description="Add a news article to this server")
    @app_commands.describe(
        url="A link to the article",
        file="A .txt, .md, .html or .pdf file",
        text="The article text, pasted",
    )
    @in_guild()
    @app_commands.checks.dynamic_cooldown(ingest_cooldown)
    async def ingest_slash(
        self,
        interaction: discord.Interaction[NewsBot],
        url: str | None = None,
        file: discord.Attachment | None = None,
        text: app_commands.Range[str, 1, 4000] | None = None,
    ) -> None:
        given = [x for x in (url, file, text) if x]
        if len(given) != 1:
            raise UserError("Give exactly one of `url`, `file` or `text`.")
        address = web.web_address(url) if url else None
        if file is not None and (
            refusal := check_attachment(file, self.bot.service.settings.max_input_bytes)
        ):
            raise UserError(plain(refusal))  # the file's name is the member's
        await interaction.response.defer(thinking=True)
        item: Item
        if address:
            item = await self._fetch(address)
        elif file is not None:
            item = await self._read(file)
        else:
            item = ("pasted text.txt", str(text).encode("utf-8"))
        report = await self._ingest(interaction.guild_id, interaction.user, [item])
        if not (report.added or report.updated or report.duplicates):
            raise UserError(ingest_report(report))  # a failure: shown to its sender only
        await interaction.followup.send(ingest_report(report))

    @commands.command(name="ingest", help="Add articles: paste text, or attach .txt/.md/.html/.pdf")
    @in_guild()
    async def ingest_prefix(self, ctx: commands.Context[NewsBot], *, content: str = "") -> None:
        if self.prefix_cooldown is not None:
            bucket = self.prefix_cooldown.get_bucket(ctx.message)
            retry = bucket.update_rate_limit() if bucket else None
            if retry:
                raise commands.CommandOnCooldown(bucket, retry, commands.BucketType.user)
        items = await self._items_from(content, ctx.message.attachments)
        if all(isinstance(i, Failed) for i in items):
            report = IngestReport(failed=[i for i in items if isinstance(i, Failed)])
        else:
            async with ctx.typing():
                report = await self._ingest(ctx.guild.id, ctx.author, items)
        await ctx.reply(ingest_report(report), mention_author=False)


async def setup(bot: NewsBot) -> None:
    await bot.add_cog(Ingest(bot))
