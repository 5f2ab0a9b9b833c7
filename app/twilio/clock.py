"""The one clock: every timestamp the emulator writes comes from here."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime

_pinned: ContextVar[datetime | None] = ContextVar("pinned", default=None)


def now() -> datetime:
    """The current time in UTC, to the second, as Twilio stores resource dates; or the pinned moment."""
    return _pinned.get() or datetime.now(UTC).replace(microsecond=0)


@contextmanager
def pinned(moment: datetime) -> Iterator[None]:
    """`now()` answers `moment` inside the block (in this thread or task): for rows that several processes
    must work out alike."""
    token = _pinned.set(moment)
    try:
        yield
    finally:
        _pinned.reset(token)


def iso8601(moment: datetime) -> str:
    """Twilio's date format on resources: `2015-12-16T22:18:37Z`."""
    # Not strftime's %Y: glibc writes year 435 as "435", which is not an ISO 8601 date.
    return f"{moment.year:04d}-{moment:%m-%dT%H:%M:%S}Z"


def iso8601_ms(moment: datetime) -> str:
    """A stored date as Twilio writes it in webhook parameters: `2015-12-16T22:18:37.000Z`. A date without
    a zone is UTC, as every stored date is."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{moment.microsecond // 1000:03d}Z"


def timestamp_ms(epoch: float | None = None) -> str:
    """A time (default: now) as Twilio writes it in webhook parameters: `2015-12-16T22:18:37.123Z`."""
    moment = datetime.now(UTC) if epoch is None else datetime.fromtimestamp(epoch, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
