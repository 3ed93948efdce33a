"""A response body read under a cap that counts decompressed bytes: gzip/deflate are inflated
here, a bounded step at a time, so a bomb stops at the cap."""

from __future__ import annotations

import zlib
from typing import Any

from .fetch_errors import FetchError, TooLargeError


class BodyReader:
    """Collects a body, inflating gzip/deflate in bounded steps so the cap applies to output."""

    def __init__(self, encoding: str, max_bytes: int) -> None:
        self.encoding = encoding
        self.max_bytes = max_bytes
        self.out = bytearray()
        self._pending = b""  # deflate: bytes held until the zlib header can be recognised
        self._inflater: Any = None
        if encoding == "gzip":
            self._inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding not in ("identity", "deflate"):
            raise FetchError(f"the page uses an unsupported compression ({encoding})")

    def feed(self, data: bytes) -> None:
        if self.encoding == "identity":
            self._append(data)
            return
        if self._inflater is None:  # deflate: zlib-wrapped per the RFC, raw from some servers
            self._pending += data
            if len(self._pending) < 2:
                return
            b0, b1 = self._pending[0], self._pending[1]
            wrapped = b0 & 0x0F == 8 and (b0 << 8 | b1) % 31 == 0
            self._inflater = zlib.decompressobj(zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS)
            data, self._pending = self._pending, b""
        self._inflate(data)

    def _inflate(self, data: bytes) -> None:
        try:
            while data:
                if self._inflater.eof:
                    # Another gzip member may follow; anything else after the end is ignored.
                    if self.encoding != "gzip" or not data.startswith(b"\x1f\x8b"):
                        return
                    self._inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
                room = self.max_bytes - len(self.out) + 1
                self._append(self._inflater.decompress(data, room))
                data = self._inflater.unconsumed_tail
                if self._inflater.eof:
                    data = self._inflater.unused_data
        except zlib.error:
            raise FetchError("the page could not be decompressed") from None

    def finish(self) -> bytes:
        if self._pending:  # a one-byte deflate body
            self._inflater = zlib.decompressobj(-zlib.MAX_WBITS)
            self._inflate(self._pending)
        if self._inflater is not None and not self._inflater.eof:
            try:
                self._append(self._inflater.flush())
            except zlib.error:
                raise FetchError("the page could not be decompressed") from None
        return bytes(self.out)

    def _append(self, data: bytes) -> None:
        self.out += data
        if len(self.out) > self.max_bytes:
            raise TooLargeError(f"page too large (over {size_text(self.max_bytes)})")


def media_type(raw: str) -> tuple[str, str | None]:
    media, *params = raw.split(";")
    charset = None
    for param in params:
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset":
            charset = value.strip().strip("\"'").lower() or None
    return media.strip().lower(), charset


def size_text(n: int) -> str:
    if n >= 1_000_000:
        return f"{n / 1_000_000:g} MB"
    if n >= 1_000:
        return f"{n / 1_000:g} KB"
    return f"{n} bytes"
