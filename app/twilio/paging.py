"""Twilio's list pages: `PageSize`, `Page` and `PageToken` in, the `meta` block and page URLs out.

Pages are cut by keyset: a token carries the surrogate key of the row it follows ("PA") or precedes
("PB"), so paging stays cheap and stable however many rows come before. A plain `Page=N` without a
token is an offset, as Twilio's libraries never send one alone but people do.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar
from urllib.parse import urlencode

from .errors import INVALID_PARAMETER, TwilioError

AFTER = "PA"
BEFORE = "PB"
# Tokens are opaque to clients and ours are short: a longer one was not issued here.
MAX_KEY_DIGITS = 18
MAX_PAGE_DIGITS = 9


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

    @classmethod
    def cut(cls, request: PageRequest, rows: Sequence[Row]) -> Page[Row]:
        """The page from up to `request.size + 1` rows read in list order (for `BEFORE`: read backwards
        and put back in list order), the extra row telling that there is more."""
        position = request.position
        more = len(rows) > request.size
        if position is None:
            return cls(rows[: request.size], more, request.number > 0)
        if position.after:
            return cls(rows[: request.size], more, True)
        return cls(rows[-request.size :], True, more)


def _invalid(name: str, rule: str) -> TwilioError:
    return TwilioError(400, INVALID_PARAMETER, f"Invalid {name}: {rule}")


def _position(token: str) -> Position | None:
    kind, digits = token[:2], token[2:]
    if kind not in (AFTER, BEFORE) or not digits.isascii() or not digits.isdigit():
        return None
    if len(digits) > MAX_KEY_DIGITS:
        return None
    return Position(kind == AFTER, int(digits))


def page_request(query: Mapping[str, str], limits: PageLimits = PageLimits()) -> PageRequest:
    """`PageSize`, `Page` and `PageToken` from a query, checked; 400 / 20002 for a bad one."""
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
    if token is not None and _position(token) is None:
        raise _invalid("PageToken", "is not a page token this server issued")
    return PageRequest(size, number, token or None)


def _key(row: Keyed) -> int:
    key = row.id
    assert key is not None, "a listed row has its key"
    return key


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
    next_token = f"{AFTER}{_key(page.rows[-1])}" if page.has_next and page.rows else None
    previous_token = f"{BEFORE}{_key(page.rows[0])}" if page.has_previous and page.rows else None
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
