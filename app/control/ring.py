"""A bounded, thread-safe log of per-account entries: the shape of the journal and the delivery log.

A deque with a maximum length, so memory stays flat however long the server runs; capacity 0 keeps
nothing.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar


class AccountEntry(Protocol):
    @property
    def account_sid(self) -> str | None: ...


Entry = TypeVar("Entry", bound=AccountEntry)


class RingLog(Generic[Entry]):
    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._entries: deque[Entry] = deque(maxlen=capacity or None)
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.capacity > 0

    def record(self, entry: Entry) -> None:
        if self.enabled:
            with self._lock:
                self._entries.append(entry)

    def __len__(self) -> int:
        return len(self._entries)

    def select(self, keep: Callable[[Entry], bool], limit: int | None = None) -> list[Entry]:
        """Entries `keep` accepts, oldest first; `limit` keeps the newest N of them."""
        with self._lock:
            snapshot = list(self._entries)
        selected = [entry for entry in snapshot if keep(entry)]
        return selected if limit is None else selected[max(len(selected) - limit, 0) :]

    def clear(self, account_sid: str | None = None) -> None:
        """Forget every entry, or one account's."""
        with self._lock:
            kept = [] if account_sid is None else [e for e in self._entries if e.account_sid != account_sid]
            self._entries.clear()
            self._entries.extend(kept)
