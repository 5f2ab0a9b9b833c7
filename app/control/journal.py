"""The request journal: what the Twilio API received, so a test can assert what its code sent.

A ring buffer, so memory stays flat however long the server runs. Credentials never enter it: only
the Basic auth username is kept.
"""

from __future__ import annotations

import fnmatch
from dataclasses import asdict, dataclass
from typing import Any

from ..twilio.clock import timestamp_ms
from .ring import RingLog


@dataclass(frozen=True)
class JournalEntry:
    # Seconds since the epoch; formatted only when the journal is read, off the request path.
    time: float
    request_id: str
    method: str
    path: str
    query: str
    params: list[list[str]]
    account_sid: str | None
    username: str | None
    status: int
    duration_ms: float

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "time": timestamp_ms(self.time)}


class RequestJournal(RingLog[JournalEntry]):
    def entries(
        self,
        method: str | None = None,
        path: str | None = None,
        account_sid: str | None = None,
        limit: int | None = None,
    ) -> list[JournalEntry]:
        """Matching entries, oldest first; `limit` keeps the newest N of them."""
        return self.select(
            lambda entry: (
                (method is None or entry.method == method.upper())
                and (path is None or fnmatch.fnmatchcase(entry.path, path))
                and (account_sid is None or entry.account_sid == account_sid)
            ),
            limit,
        )
