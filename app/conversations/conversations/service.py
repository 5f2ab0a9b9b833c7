"""The rules of conversations: which service a path addresses, create, fetch, update, delete, list."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session

from ...twilio import sids
from ...twilio.clock import iso8601, now
from ...twilio.errors import INVALID_PARAMETER, NotFound, TwilioError
from ...twilio.forms import FormParameters
from ...twilio.paging import Page, PageLimits, PageRequest
from .. import fields
from .models import Conversation, get_conversation, list_conversations_page, unique_name_taken

CONVERSATION = "CH"
FRIENDLY_NAME_TOO_LONG = 50003
UNIQUE_NAME_TOO_LONG = 50004
UNIQUE_NAME_TAKEN = 50353
UNIQUE_NAME_LOOKS_LIKE_A_SID = 50390
CLOSED_ON_CREATE = 50384
CONVERSATION_CLOSED = 50377

MAX_NAME = 256
MAX_ATTRIBUTES = 16 * 1024
STATES = ("active", "inactive", "closed")
MINIMUM_INACTIVE = timedelta(minutes=1)
MINIMUM_CLOSED = timedelta(minutes=10)
PAGES = PageLimits(default=50, largest=100, accepted=1000)


@dataclass(frozen=True)
class ServiceForm:
    """The service a Conversations path addresses, and the form of the path: the short one
    (`/v1/Conversations`, the account's default service) or the service form."""

    chat_service_sid: str
    short: bool

    @property
    def conversations_path(self) -> str:
        if self.short:
            return "/v1/Conversations"
        return f"/v1/Services/{self.chat_service_sid}/Conversations"


def is_conversation_sid(value: str) -> bool:
    return sids.is_sid(value, CONVERSATION)


def _checked_state(value: str, *, creating: bool) -> str:
    if value == "closed" and creating:
        raise TwilioError(400, CLOSED_ON_CREATE, "A conversation cannot be created closed")
    if value not in STATES:
        raise fields.invalid("State", "must be active, inactive or closed")
    return value


def _checked_unique_name(value: str) -> str | None:
    if value == "":
        return None
    fields.checked_length("UniqueName", value, MAX_NAME, UNIQUE_NAME_TOO_LONG)
    if is_conversation_sid(value):
        raise TwilioError(
            400, UNIQUE_NAME_LOOKS_LIKE_A_SID, "Invalid UniqueName: it must not look like a conversation SID"
        )
    return value


def changes_from_form(form: FormParameters, *, creating: bool) -> dict[str, Any]:
    """The columns a create or update sets, every parameter checked in the documented order. Timers are
    durations here (`timer_inactive`, `timer_closed`); the write turns them into dates."""
    changes: dict[str, Any] = {}
    if "FriendlyName" in form:
        name = form.last("FriendlyName")
        changes["friendly_name"] = (
            fields.checked_length("FriendlyName", name, MAX_NAME, FRIENDLY_NAME_TOO_LONG) or None
        )
    if "UniqueName" in form:
        changes["unique_name"] = _checked_unique_name(form.last("UniqueName"))
    if "Attributes" in form:
        changes["attributes"] = fields.checked_attributes(form.last("Attributes"), MAX_ATTRIBUTES)
    if "State" in form:
        changes["state"] = _checked_state(form.last("State"), creating=creating)
    for parameter, column in (("DateCreated", "date_created"), ("DateUpdated", "date_updated")):
        if parameter in form:
            changes[column] = fields.checked_moment(parameter, form.last(parameter))
    if "MessagingServiceSid" in form:
        changes["messaging_service_sid"] = fields.checked_sid(
            "MessagingServiceSid", form.last("MessagingServiceSid"), "MG"
        )
    if "Timers.Inactive" in form:
        changes["timer_inactive"] = fields.checked_duration(
            "Timers.Inactive", form.last("Timers.Inactive"), MINIMUM_INACTIVE
        )
    if "Timers.Closed" in form:
        changes["timer_closed"] = fields.checked_duration(
            "Timers.Closed", form.last("Timers.Closed"), MINIMUM_CLOSED
        )
    for parameter, key in (("Bindings.Email.Address", "projected_address"), ("Bindings.Email.Name", "name")):
        if parameter in form:
            changes[f"email_{key}"] = fields.checked_length(
                parameter, form.last(parameter), MAX_NAME, INVALID_PARAMETER
            )
    return changes


def _apply(conversation: Conversation, changes: dict[str, Any], moment: datetime) -> None:
    timers = dict(conversation.timers)
    bindings = {name: dict(value) for name, value in conversation.bindings.items()}
    for name, value in changes.items():
        if name == "timer_inactive":
            timers["date_inactive"] = iso8601(moment + value)
        elif name == "timer_closed":
            timers["date_closed"] = iso8601(moment + value)
        elif name.startswith("email_"):
            bindings.setdefault("email", {})[name.removeprefix("email_")] = value
        else:
            setattr(conversation, name, value)
    conversation.timers = timers
    conversation.bindings = bindings


def _check_unique_name(session: Session, form: ServiceForm, name: str | None, sid: str | None = None) -> None:
    if name is not None and unique_name_taken(session, form.chat_service_sid, name, sid):
        raise TwilioError(400, UNIQUE_NAME_TAKEN, "Conversation with provided unique name already exists")


def create_conversation(
    session: Session, account_sid: str, form: ServiceForm, changes: dict[str, Any], sid: str | None = None
) -> Conversation:
    """`sid` is a fixture's own; a request's conversation gets a new one."""
    _check_unique_name(session, form, changes.get("unique_name"))
    moment = now()
    conversation = Conversation(
        sid=sid or sids.new_sid(CONVERSATION),
        account_sid=account_sid,
        chat_service_sid=form.chat_service_sid,
        date_created=moment,
        date_updated=moment,
    )
    _apply(conversation, changes, moment)
    if "date_created" in changes and "date_updated" not in changes:
        conversation.date_updated = conversation.date_created
    session.add(conversation)
    session.flush()
    return Conversation.model_validate(conversation.model_dump())


def find_conversation(
    session: Session, account_sid: str, form: ServiceForm, sid_or_unique_name: str
) -> Conversation:
    """By SID when it looks like one, else by unique name in the path's service; else 404."""
    conversation = get_conversation(
        session,
        account_sid,
        form.chat_service_sid,
        sid_or_unique_name,
        by_sid=is_conversation_sid(sid_or_unique_name),
    )
    if conversation is None:
        raise NotFound
    return conversation


def update_conversation(
    session: Session, account_sid: str, form: ServiceForm, sid_or_unique_name: str, changes: dict[str, Any]
) -> tuple[Conversation, str]:
    """The updated conversation and the state it had before."""
    conversation = find_conversation(session, account_sid, form, sid_or_unique_name)
    if conversation.state == "closed":
        raise TwilioError(400, CONVERSATION_CLOSED, "The conversation is closed and can't be updated anymore")
    _check_unique_name(session, form, changes.get("unique_name"), conversation.sid)
    previous_state = conversation.state
    moment = now()
    _apply(conversation, changes, moment)
    if "date_updated" not in changes:
        conversation.date_updated = moment
    session.add(conversation)
    session.flush()
    # Writes in one group commit share a session: the caller gets a copy the next write cannot change.
    return Conversation.model_validate(conversation.model_dump()), previous_state


def delete_conversation(
    session: Session, account_sid: str, form: ServiceForm, sid_or_unique_name: str
) -> Conversation:
    """The conversation as it was. What hangs under it goes with it, by the tables' cascading keys."""
    conversation = find_conversation(session, account_sid, form, sid_or_unique_name)
    removed = Conversation.model_validate(conversation.model_dump())
    session.delete(conversation)
    session.flush()
    return removed


@dataclass(frozen=True)
class ListFilters:
    state: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    # As the request spelled them: page URLs repeat them.
    given: tuple[tuple[str, str], ...] = ()

    @property
    def newest_first(self) -> bool:
        return self.created_from is not None or self.created_to is not None


def checked_filters(query: dict[str, str]) -> ListFilters:
    state = query.get("State")
    if state is not None and state not in STATES:
        raise fields.invalid("State", "must be active, inactive or closed")
    start, end = query.get("StartDate"), query.get("EndDate")
    created_from = fields.checked_day_bound("StartDate", start, end=False) if start is not None else None
    created_to = fields.checked_day_bound("EndDate", end, end=True) if end is not None else None
    given = tuple(
        (name, query[name]) for name in ("StartDate", "EndDate", "State") if query.get(name) is not None
    )
    return ListFilters(state, created_from, created_to, given)


def _date_created(conversation: Conversation) -> datetime:
    return conversation.date_created


def list_page(
    session: Session, account_sid: str, form: ServiceForm, request: PageRequest, filters: ListFilters
) -> Page[Conversation]:
    rows = list_conversations_page(
        session,
        account_sid,
        form.chat_service_sid,
        request,
        state=filters.state,
        created_from=filters.created_from,
        created_to=filters.created_to,
        newest_first=filters.newest_first,
    )
    return Page.cut(request, rows, _date_created if filters.newest_first else None)
