"""The headers Twilio puts on every response."""

from __future__ import annotations

import random

from . import sids

CORS_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"access-control-allow-origin", b"*"),
    (b"access-control-allow-methods", b"GET, POST, DELETE, OPTIONS"),
    (
        b"access-control-allow-headers",
        b"Accept, Authorization, Content-Type, If-Match, If-Modified-Since, If-None-Match, "
        b"If-Unmodified-Since, X-Twilio-Webhook-Enabled",
    ),
    (b"access-control-expose-headers", b"ETag"),
)


def new_request_id() -> str:
    """`RQ` and 32 hex digits, unique per request. Not a secret, so the fast generator will do:
    `secrets` costs a system call on every request."""
    return f"{sids.REQUEST}{random.getrandbits(128):032x}"


def response_headers(
    request_id: str, seconds: float, concurrent: int, *, cors: bool = True
) -> list[tuple[bytes, bytes]]:
    return [
        (b"twilio-request-id", request_id.encode()),
        (b"twilio-request-duration", f"{seconds:.3f}".encode()),
        (b"twilio-concurrent-requests", str(concurrent).encode()),
        *(CORS_HEADERS if cors else ()),
    ]
