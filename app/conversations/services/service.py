"""The rules of Conversation Services: create, list in pages, fetch, delete."""

from __future__ import annotations

import hashlib

from sqlmodel import Session

from ...twilio import sids
from ...twilio.clock import now
from ...twilio.errors import INVALID_PARAMETER, NotFound, TwilioError, missing_parameter
from ...twilio.paging import Page, PageLimits, PageRequest
from .models import ConversationService, get_service, list_services_page, service_exists

MAX_FRIENDLY_NAME = 256
PAGES = PageLimits(default=50, largest=1000, accepted=1000)
DEFAULT_SERVICE_NAME = "Default Conversations Service"


def default_service_sid(account_sid: str) -> str:
    """The account's default service: derived from the account, so it is the same across restarts and
    resets, and a test can work it out."""
    digest = hashlib.sha256(f"default-conversation-service:{account_sid}".encode()).hexdigest()
    return sids.SERVICE + digest[:32]


def ensure_default_service(session: Session, account_sid: str) -> str:
    """The default service's SID, creating the service if the account has none (or deleted it)."""
    sid = default_service_sid(account_sid)
    if not service_exists(session, account_sid, sid):
        create_service(session, account_sid, DEFAULT_SERVICE_NAME, sid=sid)
    return sid


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


def create_service(
    session: Session, account_sid: str, friendly_name: str | None, sid: str | None = None
) -> ConversationService:
    name = checked_friendly_name(friendly_name)
    moment = now()
    service = ConversationService(
        sid=sid or sids.new_sid(sids.SERVICE),
        account_sid=account_sid,
        friendly_name=name,
        date_created=moment,
        date_updated=moment,
    )
    session.add(service)
    session.flush()
    return service


def fetch_service(session: Session, account_sid: str, sid: str) -> ConversationService:
    service = get_service(session, account_sid, sid)
    if service is None:
        raise NotFound
    return service


def delete_service(session: Session, account_sid: str, sid: str) -> None:
    """Remove the service; what hangs under it (its webhook configuration, its conversations and all
    under them) goes with it, by the tables' cascading keys."""
    service = fetch_service(session, account_sid, sid)
    session.delete(service)
    session.flush()


def list_page(session: Session, account_sid: str, request: PageRequest) -> Page[ConversationService]:
    return Page.cut(request, list_services_page(session, account_sid, request))
