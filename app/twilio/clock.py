"""The one clock: every timestamp the emulator writes comes from here."""

from __future__ import annotations

from datetime import UTC, datetime


def now() -> datetime:
    """The current time in UTC, to the second, as Twilio stores resource dates."""
    return datetime.now(UTC).replace(microsecond=0)


def iso8601(moment: datetime) -> str:
    """Twilio's date format on resources: `2015-12-16T22:18:37Z`."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def timestamp_ms(epoch: float | None = None) -> str:
    """A time (default: now) as Twilio writes it in webhook parameters: `2015-12-16T22:18:37.123Z`."""
    moment = datetime.now(UTC) if epoch is None else datetime.fromtimestamp(epoch, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
