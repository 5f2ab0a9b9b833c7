"""Twilio's request bodies: `application/x-www-form-urlencoded`, lists as repeated keys.

Bodies are read whole (they are small, and a limit is enforced while reading), so an empty body, a
`Content-Length: 0` body and a chunked body all look the same to the routes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

from .errors import PAYLOAD_TOO_LARGE, TwilioError, unreadable_body

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
# Far above anything a real request sends (Twilio's libraries send a handful), low enough that a body
# of thousands of repeated keys is refused instead of processed.
MAX_PARAMETERS = 1000

Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]


class ClientDisconnected(Exception):
    """The client went away before its body was complete: there is nobody to answer, nothing to apply."""


class FormParameters:
    """Form parameters in the order sent, repeated keys kept."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self.pairs = pairs
        self._names = {name for name, _ in pairs}

    def __contains__(self, name: object) -> bool:
        return name in self._names

    def all(self, name: str) -> list[str]:
        return [value for key, value in self.pairs if key == name]

    def last(self, name: str) -> str:
        """A single-valued parameter sent more than once: the last value wins, as in most servers."""
        values = self.all(name)
        return values[-1] if values else ""

    def as_multidict(self) -> dict[str, list[str]]:
        grouped: dict[str, list[str]] = {}
        for name, value in self.pairs:
            grouped.setdefault(name, []).append(value)
        return grouped


def too_large(limit: int) -> TwilioError:
    return TwilioError(413, PAYLOAD_TOO_LARGE, f"Request body is larger than the limit of {limit} bytes")


async def read_body(headers: dict[str, str], receive: Receive, limit: int) -> bytes:
    """The whole request body, refused with 413 as soon as it is known to exceed `limit`."""
    declared = headers.get("content-length")
    if declared is not None and declared.strip().isdigit() and int(declared) > limit:
        raise too_large(limit)
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnected
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise too_large(limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def parse_form(content_type: str | None, body: bytes) -> FormParameters:
    """Parameters of a form body; a body of another content type carries none (a no-op update)."""
    media_type = (content_type or FORM_CONTENT_TYPE).split(";", 1)[0].strip().lower()
    if media_type != FORM_CONTENT_TYPE or not body:
        return FormParameters([])
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise unreadable_body(f"it is not UTF-8 (byte {exc.start})") from None
    # parse_qsl, not python-multipart's QuerystringParser: that one gives the same pairs (tests/test_forms.py)
    # but splits in Python, up to twice as slow (bench/forms.py).
    try:
        pairs = parse_qsl(
            text,
            keep_blank_values=True,
            encoding="utf-8",
            errors="strict",
            max_num_fields=MAX_PARAMETERS,
        )
    except UnicodeDecodeError:
        raise unreadable_body("a percent-encoded value is not UTF-8") from None
    except ValueError:
        raise unreadable_body(f"it has more than {MAX_PARAMETERS} parameters") from None
    return FormParameters(pairs)
