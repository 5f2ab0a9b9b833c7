"""Injected faults: make the next matching Twilio API calls fail, or answer slowly, on purpose.

A fault matches on method, a path glob and optionally the account; each matching request consumes one
of its `times`. The error it produces is Twilio's error envelope, so retry logic sees what Twilio sends.
The queue lives in this process's memory (`FaultQueue`), or in a table when several processes serve one
database (`TableFaultQueue`), where taking a fault is one atomic decrement whichever process takes it.
"""

from __future__ import annotations

import asyncio
import fnmatch
import itertools
import threading
from dataclasses import asdict, dataclass, fields
from typing import Any, Protocol

from sqlalchemy import delete, insert, select, update

from ..db import Database
from ..twilio.errors import TwilioError, code_for_status, generic_error, unauthenticated
from .tables import fault as fault_table

# Methods a fault may name; "*" matches any.
FAULT_METHODS = ("*", "GET", "POST", "DELETE")
# A rate limit always says when to come back: the seconds a 429 fault that names none sends.
RATE_LIMIT_RETRY_AFTER_S = 1


@dataclass(frozen=True)
class FaultSpec:
    """A fault as asked for: what `add` queues."""

    method: str
    path: str
    account_sid: str | None
    status: int | None
    code: int | None
    times: int
    delay_ms: int
    retry_after: int | None


@dataclass
class Fault:
    id: int
    method: str
    path: str
    account_sid: str | None
    status: int | None
    code: int | None
    times: int
    delay_ms: int
    retry_after: int | None

    def matches(self, method: str, path: str, account_sid: str | None) -> bool:
        return (
            self.method in ("*", method)
            and fnmatch.fnmatchcase(path, self.path)
            and (self.account_sid is None or self.account_sid == account_sid)
        )

    @property
    def effective_code(self) -> int | None:
        """The code the fault answers with: the one asked for, else the status's own."""
        if self.status is None:
            return None
        return self.code if self.code is not None else code_for_status(self.status)

    @property
    def effective_retry_after(self) -> int | None:
        """The `Retry-After` seconds the fault answers with: the ones asked for, else a 429's default."""
        if self.retry_after is None and self.status == 429:
            return RATE_LIMIT_RETRY_AFTER_S
        return self.retry_after

    def error(self) -> TwilioError | None:
        if self.status is None:
            return None
        # A 401 is Twilio's own, challenge header included, as for bad credentials.
        error = unauthenticated() if self.status == 401 else generic_error(self.status)
        if self.code is not None:
            error.code = self.code
        retry_after = self.effective_retry_after
        if retry_after is not None:
            error.headers["Retry-After"] = str(retry_after)
        return error

    def as_json(self) -> dict[str, Any]:
        # The code and `Retry-After` it will answer with, so a listing shows what a matching request gets.
        return asdict(self) | {"code": self.effective_code, "retry_after": self.effective_retry_after}


class Faults(Protocol):
    def add(self, spec: FaultSpec) -> Fault: ...

    async def take(self, method: str, path: str, account_sid: str | None) -> Fault | None:
        """The first queued fault matching this request, with one of its `times` used up."""

    def pending(self) -> list[Fault]: ...
    def clear(self, account_sid: str | None = None) -> None: ...


class FaultQueue:
    """The faults of one process, in its memory."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def add(self, spec: FaultSpec) -> Fault:
        fault = Fault(next(self._ids), **asdict(spec))
        with self._lock:
            self._faults.append(fault)
        return fault

    async def take(self, method: str, path: str, account_sid: str | None) -> Fault | None:
        if not self._faults:
            return None
        with self._lock:
            for fault in self._faults:
                if fault.matches(method, path, account_sid):
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def pending(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def clear(self, account_sid: str | None = None) -> None:
        with self._lock:
            if account_sid is None:
                self._faults.clear()
            else:
                self._faults = [fault for fault in self._faults if fault.account_sid != account_sid]


class TableFaultQueue:
    """The faults of every process on the database, in `emulator_fault`."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self._names = [field.name for field in fields(Fault)]
        # Built once: every Twilio API request runs it.
        self._pending = (
            select(*(fault_table.c[name] for name in self._names))
            .where(fault_table.c.times > 0)
            .order_by(fault_table.c.id)
        )

    def add(self, spec: FaultSpec) -> Fault:
        values = asdict(spec)
        with self.database.writing() as session:
            added = session.execute(insert(fault_table).values(**values).returning(fault_table.c.id))
            return Fault(id=added.scalar_one(), **values)

    async def take(self, method: str, path: str, account_sid: str | None) -> Fault | None:
        # Every Twilio API request asks, and almost always nothing is queued: one read decides that.
        while candidates := [fault for fault in self.pending() if fault.matches(method, path, account_sid)]:
            taken = await asyncio.to_thread(self._use_one, candidates[0])
            if taken is not None:
                return taken
            # Another process used up that fault's last time between the read and the write: look again.
        return None

    def _use_one(self, candidate: Fault) -> Fault | None:
        with self.database.writing() as session:
            left = session.execute(
                update(fault_table)
                .where(fault_table.c.id == candidate.id, fault_table.c.times > 0)
                .values(times=fault_table.c.times - 1)
                .returning(fault_table.c.times)
            ).scalar_one_or_none()
            if left is None:
                return None
            if left <= 0:
                session.execute(delete(fault_table).where(fault_table.c.id == candidate.id))
        candidate.times = left
        return candidate

    def pending(self) -> list[Fault]:
        with self.database.autocommit() as connection:
            return [Fault(**row._mapping) for row in connection.execute(self._pending)]

    def clear(self, account_sid: str | None = None) -> None:
        statement = delete(fault_table)
        if account_sid is not None:
            statement = statement.where(fault_table.c.account_sid == account_sid)
        with self.database.writing() as session:
            session.execute(statement)
