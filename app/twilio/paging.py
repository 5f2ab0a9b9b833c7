"""Twilio's list pages: `PageSize`, `Page` and `PageToken` in, the `meta` block and page URLs out.

Pages are cut by keyset: a token carries the surrogate key of the row it follows ("PA") or precedes
("PB"), so paging stays cheap and stable however many rows come before. A list in the order of a date
(conversations by creation date) carries that row's date too ("PA12M…"), so rows deleted while a client
pages do not lose its place. A plain `Page=N` without a token is an offset, as Twilio's libraries never
send one alone but people do.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Generic, Protocol, TypeVar
from urllib.parse import urlencode

from .errors import INVALID_PARAMETER, TwilioError

AFTER = "PA"
BEFORE = "PB"
MOMENT = "M"  # between a token's key and its row's date, in microseconds since 0001-01-01 UTC
# Tokens are opaque to clients and ours are short: a longer one was not issued here.
MAX_KEY_DIGITS = 18
MAX_PAGE_DIGITS = 9
_FIRST_MOMENT = datetime(1, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


class Keyed(Protocol):
    @property
    def id(self) -> int | None: ...


Row = TypeVar("Row", bound=Keyed)


@dataclass(frozen=True)
class PageLimits:
    """A list's page sizes: `PageSize` from 1 to `accepted` is valid, and more than `largest` is cut to it."""

    default: int = 50
    largest: int = 1000
    accepted: int = 1000


@dataclass(frozen=True)
class Position:
    after: bool  # the page starts after this key; else it ends before it
    key: int
    moment: datetime | None = None  # the row's date, in a list ordered by date and then key


@dataclass(frozen=True)
class PageRequest:
    size: int
    number: int
    token: str | None

    @property
    def position(self) -> Position | None:
        return _position(self.token) if self.token else None

    @property
    def offset(self) -> int:
        return self.number * self.size


@dataclass(frozen=True)
class Page(Generic[Row]):
    rows: Sequence[Row]
    has_next: bool
    has_previous: bool
    # The date a list is ordered by before the key, which its tokens carry; None for key order.
    moment_of: Callable[[Row], datetime] | None = None

    @classmethod
    def cut(
        cls, request: PageRequest, rows: Sequence[Row], moment_of: Callable[[Row], datetime] | None = None
    ) -> Page[Row]:
        """The page from up to `request.size + 1` rows read in list order (for `BEFORE`: read backwards
        and put back in list order), the extra row telling that there is more."""
        position = request.position
        more = len(rows) > request.size
        if position is None:
            return cls(rows[: request.size], more, request.number > 0, moment_of)
        if position.after:
            return cls(rows[: request.size], more, True, moment_of)
        return cls(rows[-request.size :], True, more, moment_of)

    def token(self, kind: str, row: Row) -> str:
        key = row.id
        assert key is not None, "a listed row has its key"
        if self.moment_of is None:
            return f"{kind}{key}"
        moment = self.moment_of(row)
        moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)  # as stored: UTC
        return f"{kind}{key}{MOMENT}{(moment - _FIRST_MOMENT) // _MICROSECOND}"


def _invalid(name: str, rule: str) -> TwilioError:
    return TwilioError(400, INVALID_PARAMETER, f"Invalid {name}: {rule}")


def _digits(text: str) -> int | None:
    if not text.isascii() or not text.isdigit() or len(text) > MAX_KEY_DIGITS:
        return None
    return int(text)


def _position(token: str) -> Position | None:
    kind, (key_text, dated, moment_text) = token[:2], token[2:].partition(MOMENT)
    key = _digits(key_text)
    if kind not in (AFTER, BEFORE) or key is None:
        return None
    if not dated:
        return Position(kind == AFTER, key)
    microseconds = _digits(moment_text)
    if microseconds is None:
        return None
    try:
        moment = _FIRST_MOMENT + microseconds * _MICROSECOND
    except OverflowError:  # past the year 9999: not a date any row has
        return None
    return Position(kind == AFTER, key, moment)


def page_request(
    query: Mapping[str, str], limits: PageLimits = PageLimits(), *, dated: bool = False
) -> PageRequest:
    """`PageSize`, `Page` and `PageToken` from a query, checked; 400 / 20002 for a bad one. `dated`: the
    list is in the order of a date, so its tokens carry one (and a token without one is another list's)."""
    size = limits.default
    given = query.get("PageSize")
    if given is not None:
        if not given.isascii() or not given.isdigit() or not 1 <= int(given) <= limits.accepted:
            raise _invalid("PageSize", f"must be an integer from 1 to {limits.accepted}")
        size = min(int(given), limits.largest)
    number = 0
    given = query.get("Page")
    if given is not None:
        if not given.isascii() or not given.isdigit() or len(given) > MAX_PAGE_DIGITS:
            raise _invalid("Page", "must be a non-negative integer")
        number = int(given)
    token = query.get("PageToken")
    if token is not None:
        position = _position(token)
        if position is None or (position.moment is not None) != dated:
            raise _invalid("PageToken", "is not a page token of this list")
    return PageRequest(size, number, token or None)


def meta(
    key: str,
    list_url: str,
    request: PageRequest,
    page: Page[Row],
    filters: Mapping[str, str] | None = None,
) -> dict[str, object]:
    """Twilio's `meta` block. Page URLs repeat the list's filters, so following them keeps the list."""

    def url(number: int, token: str | None) -> str:
        params: dict[str, str | int] = {**(filters or {}), "PageSize": request.size, "Page": number}
        if token:
            params["PageToken"] = token
        return f"{list_url}?{urlencode(params)}"

    number = request.number
    next_token = page.token(AFTER, page.rows[-1]) if page.has_next and page.rows else None
    previous_token = page.token(BEFORE, page.rows[0]) if page.has_previous and page.rows else None
    return {
        "page": number,
        "page_size": request.size,
        "first_page_url": url(0, None),
        "previous_page_url": (
            url(number - 1 if number > 0 else 0, previous_token) if previous_token or number > 0 else None
        ),
        "url": url(number, request.token),
        "next_page_url": url(number + 1, next_token) if next_token else None,
        "key": key,
    }


def listing(
    key: str,
    list_url: str,
    request: PageRequest,
    page: Page[Row],
    shape: Callable[[Row], dict[str, object]],
    filters: Mapping[str, str] | None = None,
) -> dict[str, object]:
    """A whole list answer: `{key: [shaped rows], "meta": {...}}`."""
    return {key: [shape(row) for row in page.rows], "meta": meta(key, list_url, request, page, filters)}
