"""What a fetch refuses, each a :class:`FetchError` whose ``str()`` can be shown to the user as
it is (``fetch`` raises them; the address and body checks it uses do too)."""

from __future__ import annotations

from ..errors import InputError


class FetchError(InputError):
    """A URL could not or would not be fetched; the message says why in one short sentence."""


class NotWebAddressError(FetchError):
    """Not an http(s) URL with a plain host (other schemes, credentials, odd host syntax)."""


class NotPublicError(FetchError):
    """The host is, or resolves to, an address that is not public and is not allow-listed."""


class TooLargeError(FetchError):
    """The body, once decompressed, is larger than the policy allows."""


class FetchTimeoutError(FetchError):
    """The whole fetch (lookups, redirects and body) did not finish within the deadline."""


class NotArticleTypeError(FetchError):
    """The server answered with a content type that is not a page, text, PDF or feed."""


class TooManyRedirectsError(FetchError):
    """More redirects than the policy follows."""


class ConnectError(FetchError):
    """The host could not be resolved, reached or read from."""


class HTTPStatusError(FetchError):
    """The server answered with an error (or a redirect without a target)."""

    def __init__(self, status: int) -> None:
        super().__init__(f"the server answered {status}")
        self.status = status
