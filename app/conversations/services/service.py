"""The rules of Conversation Services: create, list in pages, fetch, delete."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session

from app.conversations.services.models import (
    ConversationService,
    get_service,
    list_services_page,
)
from app.conversations.webhooks.models import delete_configurations
from app.twilio import sids
from app.twilio.clock import now
from app.twilio.errors import INVALID_PARAMETER, TwilioError, missing_parameter, not_found

MAX_FRIENDLY_NAME = 256
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
# Page tokens are opaque to clients; ours carry the keyset position: "PA" after it, "PB" before it.
NEXT_TOKEN = "PA"  # noqa: S105 - a page-token prefix, not a secret
PREVIOUS_TOKEN = "PB"  # noqa: S105


def checked_friendly_name(value: str | None) -> str:
    if value is None or value == "":
        raise missing_parameter("FriendlyName")
    if len(value) > MAX_FRIENDLY_NAME:
        raise TwilioError(
            400,
            INVALID_PARAMETER,
            f"Invalid FriendlyName: must be at most {MAX_FRIENDLY_NAME} characters long",
        )
    if "\x00" in value:
        # No storage the emulator runs on keeps it (PostgreSQL text cannot hold it): refused everywhere.
        raise TwilioError(400, INVALID_PARAMETER, "Invalid FriendlyName: must not contain U+0000 (NUL)")
    return value


def create_service(session: Session, account_sid: str, friendly_name: str | None) -> ConversationService:
    name = checked_friendly_name(friendly_name)
    moment = now()
    service = ConversationService(
        sid=sids.new_sid(sids.SERVICE),
        account_sid=account_sid,
        friendly_name=name,
        date_created=moment,
        date_updated=moment,
    )
    session.add(service)
    session.flush()
    return service


def fetch_service(session: Session, account_sid: str, sid: str, path: str) -> ConversationService:
    service = get_service(session, account_sid, sid)
    if service is None:
        raise not_found(path)
    return service


def delete_service(session: Session, account_sid: str, sid: str, path: str) -> None:
    """Remove the service and, with it, its webhook configuration."""
    service = fetch_service(session, account_sid, sid, path)
    delete_configurations(session, account_sid, sid)
    session.delete(service)
    session.flush()


@dataclass(frozen=True)
class PageRequest:
    size: int
    number: int
    token: str | None


@dataclass(frozen=True)
class Page:
    services: list[ConversationService]
    has_next: bool
    has_previous: bool


def _invalid(name: str, rule: str) -> TwilioError:
    return TwilioError(400, INVALID_PARAMETER, f"Invalid {name}: {rule}")


def checked_page_request(size: str | None, number: str | None, token: str | None) -> PageRequest:
    page_size = DEFAULT_PAGE_SIZE
    if size is not None:
        if not size.isascii() or not size.isdigit() or not 1 <= int(size) <= MAX_PAGE_SIZE:
            raise _invalid("PageSize", f"must be an integer from 1 to {MAX_PAGE_SIZE}")
        page_size = int(size)
    page_number = 0
    if number is not None:
        if not number.isascii() or not number.isdigit() or len(number) > 9:
            raise _invalid("Page", "must be a non-negative integer")
        page_number = int(number)
    if token is not None and not _token_position(token):
        raise _invalid("PageToken", "is not a page token this server issued")
    return PageRequest(page_size, page_number, token or None)


def _token_position(token: str) -> tuple[str, int] | None:
    kind, position = token[:2], token[2:]
    if kind not in (NEXT_TOKEN, PREVIOUS_TOKEN) or not position.isascii() or not position.isdigit():
        return None
    if len(position) > 18:
        return None
    return kind, int(position)


def list_page(session: Session, account_sid: str, request: PageRequest) -> Page:
    position = _token_position(request.token) if request.token else None
    probe = request.size + 1
    if position is None:
        rows = list_services_page(session, account_sid, probe, offset=request.number * request.size)
        return Page(rows[: request.size], len(rows) > request.size, request.number > 0)
    kind, key = position
    if kind == NEXT_TOKEN:
        rows = list_services_page(session, account_sid, probe, after_id=key)
        return Page(rows[: request.size], len(rows) > request.size, True)
    rows = list_services_page(session, account_sid, probe, before_id=key)
    return Page(rows[-request.size :], True, len(rows) > request.size)


def next_token(page: Page) -> str | None:
    return f"{NEXT_TOKEN}{page.services[-1].id}" if page.has_next and page.services else None


def previous_token(page: Page) -> str | None:
    return f"{PREVIOUS_TOKEN}{page.services[0].id}" if page.has_previous and page.services else None
