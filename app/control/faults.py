"""Injected faults: make the next matching Twilio API calls fail, or answer slowly, on purpose.

A fault matches on method, a path glob and optionally the account; each matching request consumes one
of its `times`. The error it produces is a real §4 envelope, so client retry logic sees what Twilio sends.
"""

from __future__ import annotations

import fnmatch
import itertools
import threading
from dataclasses import asdict, dataclass
from typing import Any

from app.twilio.errors import TwilioError, code_for_status, generic_error

# Methods a fault may name; "*" matches any.
FAULT_METHODS = ("*", "GET", "POST", "DELETE")


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

    def error(self) -> TwilioError | None:
        if self.status is None:
            return None
        error = generic_error(self.status)
        error.code = self.code if self.code is not None else code_for_status(self.status)
        if self.retry_after is not None:
            error.headers["Retry-After"] = str(self.retry_after)
        if self.status == 401:
            error.message = "Authenticate"
        return error

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


class FaultQueue:
    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def add(
        self,
        *,
        method: str,
        path: str,
        account_sid: str | None,
        status: int | None,
        code: int | None,
        times: int,
        delay_ms: int,
        retry_after: int | None,
    ) -> Fault:
        fault = Fault(next(self._ids), method, path, account_sid, status, code, times, delay_ms, retry_after)
        with self._lock:
            self._faults.append(fault)
        return fault

    def take(self, method: str, path: str, account_sid: str | None) -> Fault | None:
        """The first queued fault matching this request, with one of its `times` used up."""
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
