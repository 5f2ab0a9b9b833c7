"""Parameter rules that Conversations, Participants and Messages share: JSON attributes, dates, SIDs.

Each check takes the parameter's name as the request spells it, so its error names what the caller sent.
"""

from __future__ import annotations

import json
import re
import sys
from datetime import UTC, date, datetime, timedelta

from ..twilio import sids
from ..twilio.errors import INVALID_PARAMETER, TwilioError

INVALID_ATTRIBUTES = 50304
ATTRIBUTES_TOO_LONG = 50303

# ISO 8601 durations as Twilio's timers take them: PnDTnHnMnS (weeks, months and years are not durations
# of fixed length, so they are refused).
_DURATION = re.compile(r"P(?:(\d{1,6})D)?(?:T(?:(\d{1,6})H)?(?:(\d{1,6})M)?(?:(\d{1,6})S)?)?")


def invalid(name: str, rule: str) -> TwilioError:
    return TwilioError(400, INVALID_PARAMETER, f"Invalid {name}: {rule}")


def storable(name: str, value: str) -> str:
    """No backend the emulator runs on keeps U+0000 (PostgreSQL text cannot hold it): refused everywhere."""
    if "\x00" in value:
        raise invalid(name, "must not contain U+0000 (NUL)")
    return value


def checked_length(name: str, value: str, limit: int, code: int) -> str:
    if len(value) > limit:
        raise TwilioError(400, code, f"Invalid {name}: must be at most {limit} characters long")
    return storable(name, value)


class LongInteger(str):
    """A JSON integer with more digits than Python converts (`sys.get_int_max_str_digits()`), as its text."""


def _integer(text: str) -> int | str:
    limit = sys.get_int_max_str_digits()
    return LongInteger(text) if limit and len(text.lstrip("-")) > limit else int(text)


def _not_json(constant: str) -> None:
    raise ValueError(f"{constant} is not JSON")


def read_json(value: str) -> object:
    """`value` read as JSON text (RFC 8259); ValueError or RecursionError when it is not.

    Python's own reader differs from JSON both ways: it takes NaN and Infinity, which JSON has not (and
    `JSON.parse` in a client would throw on), and raises on an integer of more than 4300 digits, which
    JSON allows.
    """
    return json.loads(value, parse_int=_integer, parse_constant=_not_json)


def checked_attributes(value: str, limit: int, name: str = "Attributes") -> str:
    """Any structurally valid JSON text, at most `limit` bytes in UTF-8; stored as sent."""
    if len(value.encode("utf-8", "surrogatepass")) > limit:
        raise TwilioError(400, ATTRIBUTES_TOO_LONG, f"Invalid {name}: longer than {limit} bytes")
    try:
        read_json(value)
    except (ValueError, RecursionError):
        raise TwilioError(400, INVALID_ATTRIBUTES, f"Invalid {name}: not valid JSON") from None
    return storable(name, value)


def checked_sid(name: str, value: str, prefix: str) -> str | None:
    """A SID parameter of one kind; an empty value clears it."""
    if value == "":
        return None
    if not sids.is_sid(value, prefix):
        raise invalid(name, f"must be {prefix} followed by 32 hex digits")
    return value


def checked_moment(name: str, value: str) -> datetime:
    """An ISO 8601 date-time (the libraries send `YYYY-MM-DDTHH:MM:SSZ`), kept in UTC to the second."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise invalid(name, "must be an ISO 8601 date-time such as 2024-01-31T12:00:00Z") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC).replace(microsecond=0)
    except OverflowError:
        raise invalid(name, "is out of range") from None


def checked_day_bound(name: str, value: str, *, end: bool) -> datetime:
    """A list filter's date or date-time; a plain date covers its whole day (from 00:00:00 / to 23:59:59)."""
    try:
        day = date.fromisoformat(value)
    except ValueError:
        return checked_moment(name, value)
    moment = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return moment + timedelta(days=1, seconds=-1) if end else moment


def checked_duration(name: str, value: str, minimum: timedelta) -> timedelta:
    match = _DURATION.fullmatch(value)
    if match is None or value in ("P", "PT") or value.endswith("T"):
        raise invalid(name, "must be an ISO 8601 duration such as PT10M or P1DT2H")
    days, hours, minutes, seconds = (int(part or 0) for part in match.groups())
    duration = timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
    if duration < minimum:
        raise invalid(name, f"must be at least {int(minimum.total_seconds() // 60)} minutes")
    return duration
