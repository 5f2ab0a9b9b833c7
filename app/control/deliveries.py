"""The delivery log: every webhook request the emulator made, and what came of it.

A ring buffer like the request journal, so memory stays flat however long the server runs; size 0 keeps
nothing.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from .ring import RingLog

# Why a delivery got no answer: what `error` holds, and what the log's `status` filter takes besides a status.
ERROR_KINDS = ("timeout", "refused", "unreachable", "error", "no_auth_token", "blocked", "too_many_redirects")


def valid_status_filter(wanted: str) -> bool:
    """An HTTP status (three digits, 100-599) or one of the error kinds."""
    if wanted in ERROR_KINDS:
        return True
    return len(wanted) == 3 and wanted.isascii() and wanted.isdigit() and 100 <= int(wanted) <= 599


@dataclass(frozen=True)
class Delivery:
    time: str
    account_sid: str
    chat_service_sid: str
    event: str
    # "pre" or "post": which hook of the action this was.
    hook: str
    # Whose configuration chose the URL: "service", "account", or "conversation" (a scoped webhook).
    configuration: str
    method: str
    url: str
    parameters: dict[str, str]
    signature: str | None
    idempotency_token: str
    # The receiver's HTTP status, or None when there was no answer; then `error` says why.
    status: int | None
    error: str | None
    error_message: str | None
    duration_ms: float
    response_body: str | None
    # The URLs requested after `url`, in order, when the receiver redirected; `status` is the last answer's.
    # `method` and `signature` are the first request's.
    redirects: list[str] = field(default_factory=list)

    def matches_status(self, wanted: str) -> bool:
        """`wanted` is an HTTP status (`403`) or an error kind (`timeout`)."""
        return wanted == self.error or (self.status is not None and wanted == str(self.status))

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


class DeliveryLog(RingLog[Delivery]):
    def entries(
        self,
        account_sid: str | None = None,
        chat_service_sid: str | None = None,
        event: str | None = None,
        status: str | None = None,
        limit: int | None = None,
    ) -> list[Delivery]:
        """Matching deliveries, oldest first; `limit` keeps the newest N of them."""
        return self.select(
            lambda entry: (
                (account_sid is None or entry.account_sid == account_sid)
                and (chat_service_sid is None or entry.chat_service_sid == chat_service_sid)
                and (event is None or entry.event == event)
                and (status is None or entry.matches_status(status))
            ),
            limit,
        )
