"""A bounded log of per-account entries: the shape of the journal and the delivery log.

At most `capacity` entries are kept, so storage stays flat however long the server runs; capacity 0 keeps
nothing. The entries live in this process's memory (`MemoryEntries`), or in a table when several
processes share the log (`TableEntries`); what a log selects and how is the same either way.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import asdict
from typing import Any, Generic, Protocol, TypeVar

from sqlalchemy import delete, insert, select
from sqlalchemy.engine import Connection
from sqlmodel import Session

from ..db import Database
from .tables import log_entry


class AccountEntry(Protocol):
    @property
    def account_sid(self) -> str | None: ...


Entry = TypeVar("Entry", bound=AccountEntry)

# A process keeping a log in a table deletes what fell out of the ring once every this many entries.
TRIM_EVERY = 64


class EntryStore(Protocol[Entry]):
    async def append(self, entry: Entry) -> None: ...
    def all(self) -> list[Entry]: ...
    def clear(self, account_sid: str | None) -> None: ...
    def count(self) -> int: ...


class MemoryEntries(Generic[Entry]):
    """A deque with a maximum length, in this process."""

    def __init__(self, capacity: int) -> None:
        self._entries: deque[Entry] = deque(maxlen=capacity or None)
        self._lock = threading.Lock()

    async def append(self, entry: Entry) -> None:
        with self._lock:
            self._entries.append(entry)

    def all(self) -> list[Entry]:
        with self._lock:
            return list(self._entries)

    def clear(self, account_sid: str | None) -> None:
        with self._lock:
            kept = [] if account_sid is None else [e for e in self._entries if e.account_sid != account_sid]
            self._entries.clear()
            self._entries.extend(kept)

    def count(self) -> int:
        return len(self._entries)


class TableEntries(Generic[Entry]):
    """Rows of `emulator_log_entry` named `log`, shared by every process on the database."""

    def __init__(
        self, database: Database, log: str, capacity: int, decode: Callable[[dict[str, Any]], Entry]
    ) -> None:
        self.database = database
        self.log = log
        self.capacity = capacity
        self.decode = decode
        # Built once: every Twilio API request runs the first two.
        self._insert = insert(log_entry)
        # Everything of this log older than its newest `capacity` entries (the other log's rows, which
        # share the id sequence, do not count).
        kept_from = (
            select(log_entry.c.id)
            .where(log_entry.c.log == self.log)
            .order_by(log_entry.c.id.desc())
            .limit(1)
            .offset(self.capacity)
            .scalar_subquery()
        )
        self._trim = delete(log_entry).where(log_entry.c.log == self.log, log_entry.c.id <= kept_from)
        self._appended = 0
        self._all = (
            select(log_entry.c.entry)
            .where(log_entry.c.log == self.log)
            .order_by(log_entry.c.id.desc())
            .limit(self.capacity)
        )

    async def append(self, entry: Entry) -> None:
        # In a worker thread: a write may wait for another process's lock, and the loop must not.
        await asyncio.to_thread(self._append, entry)

    def _append(self, entry: Entry) -> None:
        with self.database.writing() as session:
            self.append_in(session, entry)

    def append_in(self, session: Session | Connection, entry: Entry) -> None:
        """Add `entry` in the caller's transaction (which may write other control state too)."""
        values = {"log": self.log, "account_sid": entry.account_sid, "entry": asdict(entry)}  # type: ignore[call-overload]
        session.execute(self._insert, values)
        # Readers only ever see the newest `capacity` entries; storage is trimmed to that by each process
        # once every TRIM_EVERY of its entries, so most requests pay for one statement, not two.
        self._appended += 1
        if self._appended % TRIM_EVERY == 0:
            session.execute(self._trim)

    def all(self) -> list[Entry]:
        with self.database.reading() as session:
            return [self.decode(data) for data in session.execute(self._all).scalars()][::-1]

    def clear(self, account_sid: str | None) -> None:
        statement = delete(log_entry).where(log_entry.c.log == self.log)
        if account_sid is not None:
            statement = statement.where(log_entry.c.account_sid == account_sid)
        with self.database.writing() as session:
            session.execute(statement)

    def count(self) -> int:
        return len(self.all())


class RingLog(Generic[Entry]):
    def __init__(self, capacity: int, store: EntryStore[Entry] | None = None) -> None:
        self.capacity = capacity
        self.store: EntryStore[Entry] = store if store is not None else MemoryEntries(capacity)

    @property
    def enabled(self) -> bool:
        return self.capacity > 0

    async def record(self, entry: Entry) -> None:
        if self.enabled:
            await self.store.append(entry)

    def __len__(self) -> int:
        return self.store.count()

    def select(self, keep: Callable[[Entry], bool], limit: int | None = None) -> list[Entry]:
        """Entries `keep` accepts, oldest first; `limit` keeps the newest N of them."""
        selected = [entry for entry in self.store.all() if keep(entry)]
        return selected if limit is None else selected[max(len(selected) - limit, 0) :]

    def clear(self, account_sid: str | None = None) -> None:
        """Forget every entry, or one account's."""
        self.store.clear(account_sid)
