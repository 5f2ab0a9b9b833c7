"""The request journal: what the Twilio API received, so a test can assert what its code sent.

A ring buffer, so memory stays flat however long the server runs, and bounded by bytes too: an entry keeps
at most MAX_PARAMETER_CHARS of parameters and MAX_QUERY_CHARS of query string (far more than a Twilio
library sends; a body of junk is cut, and the entry says so), and a request that did not authenticate keeps
none. Credentials never enter it: only the Basic auth username is kept.
"""

from __future__ import annotations

import fnmatch
from dataclasses import asdict, dataclass
from typing import Any

from ..twilio.clock import timestamp_ms
from .ring import RingLog

MAX_PARAMETER_CHARS = 16 * 1024
MAX_QUERY_CHARS = 4 * 1024
CUT = "…"


def bounded_parameters(
    pairs: list[tuple[str, str]], budget: int = MAX_PARAMETER_CHARS
) -> tuple[list[list[str]], bool]:
    """The parameters within `budget` characters of names and values, in order, and whether any were cut
    (a value cut short ends in `…`; parameters past the budget are left out)."""
    kept: list[list[str]] = []
    for name, value in pairs:
        room = budget - len(name)
        if room <= 0:
            return kept, True
        if len(value) > room:
            kept.append([name, value[: max(room - len(CUT), 0)] + CUT])
            return kept, True
        kept.append([name, value])
        budget = room - len(value)
    return kept, False


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
    # True when `params` or `query` were cut to the journal's bounds, or left out (no authentication).
    truncated: bool = False

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
