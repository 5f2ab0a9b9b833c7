"""The rules of messages: what a create or update may set, the index, the author's participant, and the
conversation states that refuse new content. No HTTP here."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session

from ...twilio import sids
from ...twilio.clock import now
from ...twilio.errors import INVALID_PARAMETER, NotFound, TwilioError
from ...twilio.forms import FormParameters
from ...twilio.paging import Page, PageLimits, PageRequest
from .. import fields
from ..conversations.models import Conversation, conversation_state
from ..conversations.service import CONVERSATION_CLOSED
from ..participants.models import participant_writing_as
from .models import ConversationMessage, get_message, insert_message, list_messages_page, take_index

MESSAGE = "IM"
MEDIA = "ME"
CONTENT = "HX"
BODY_MISSING = 50503
BODY_TOO_LONG = 50504
CONTENT_VARIABLES_NOT_AN_OBJECT = 50527
CONTENT_VARIABLE_TOO_LONG = 50541

DEFAULT_AUTHOR = "system"
MAX_BODY_BYTES = 32 * 1024
MAX_ATTRIBUTES = 4 * 1024
MAX_SUBJECT = 256
MAX_CONTENT_VARIABLE = 256
ORDERS = ("asc", "desc")
PAGES = PageLimits(default=50, largest=100, accepted=1000)


def participant_for_author(session: Session, conversation_sid: str, author: str) -> str | None:
    """The SID of the conversation's participant who writes as `author`: the one whose identity is
    `author`, else the one whose messaging binding address is `author`; None for any other author
    (`system`, say)."""
    return participant_writing_as(session, conversation_sid, author)


def is_message_sid(value: str) -> bool:
    return sids.is_sid(value, MESSAGE)


def _checked_body(value: str) -> str | None:
    """An empty body is no body."""
    if len(value.encode("utf-8", "surrogatepass")) > MAX_BODY_BYTES:
        raise TwilioError(400, BODY_TOO_LONG, f"Invalid Body: longer than {MAX_BODY_BYTES} bytes")
    return fields.storable("Body", value) or None


def _checked_author(value: str) -> str:
    """An empty author is the default one."""
    return fields.storable("Author", value) or DEFAULT_AUTHOR


def _checked_content_variables(value: str) -> None:
    """Checked, then dropped: there is no Content API here to fill a template with them."""
    try:
        variables = fields.read_json(value)
    except (ValueError, RecursionError):
        variables = None
    if not isinstance(variables, dict):
        raise TwilioError(
            400, CONTENT_VARIABLES_NOT_AN_OBJECT, "Invalid ContentVariables: must be a JSON object"
        )
    for name, variable in variables.items():
        text = variable if isinstance(variable, str) else json.dumps(variable)
        if len(text) > MAX_CONTENT_VARIABLE:
            raise TwilioError(
                400,
                CONTENT_VARIABLE_TOO_LONG,
                f"Invalid ContentVariables: the value of {name!r} is longer than {MAX_CONTENT_VARIABLE}"
                " characters",
            )


def _missing_body() -> TwilioError:
    return TwilioError(400, BODY_MISSING, "Message body not provided")


def changes_from_form(form: FormParameters, *, creating: bool) -> dict[str, Any]:
    """The columns a create or update sets, every parameter checked in the documented order. A create
    gets its defaults here, and must carry a body, a media SID or a content SID."""
    changes: dict[str, Any] = {}
    if "Author" in form:
        changes["author"] = _checked_author(form.last("Author"))
    if "Body" in form:
        changes["body"] = _checked_body(form.last("Body"))
    if "Attributes" in form:
        changes["attributes"] = fields.checked_attributes(form.last("Attributes"), MAX_ATTRIBUTES)
    if creating and "MediaSid" in form:
        changes["media_sid"] = fields.checked_sid("MediaSid", form.last("MediaSid"), MEDIA)
    if creating and "ContentSid" in form:
        changes["content_sid"] = fields.checked_sid("ContentSid", form.last("ContentSid"), CONTENT)
    if creating and "ContentVariables" in form:
        _checked_content_variables(form.last("ContentVariables"))
    if "Subject" in form:
        # Accepted and not kept: no message answer or event carries a subject.
        fields.checked_length("Subject", form.last("Subject"), MAX_SUBJECT, INVALID_PARAMETER)
    for parameter, column in (("DateCreated", "date_created"), ("DateUpdated", "date_updated")):
        if parameter in form:
            changes[column] = fields.checked_moment(parameter, form.last(parameter))
    if creating:
        changes.setdefault("author", DEFAULT_AUTHOR)
        if changes.get("content_sid"):
            # A template message: the template is its content, so Body and MediaSid are ignored.
            changes["body"] = changes["media_sid"] = None
        if not (changes.get("body") or changes.get("media_sid") or changes.get("content_sid")):
            raise _missing_body()
    return changes


def _check_open(session: Session, account_sid: str, conversation: Conversation) -> None:
    """The conversation as it is now, inside the write: gone since the request arrived is 404, closed
    is refused."""
    state = conversation_state(session, account_sid, conversation.chat_service_sid, conversation.sid)
    if state is None:
        raise NotFound
    if state == "closed":
        raise TwilioError(
            400, CONVERSATION_CLOSED, "The conversation is closed and can't be used for chatting anymore"
        )


def _copy(message: ConversationMessage) -> ConversationMessage:
    # Writes in one group commit share a session: the caller gets a copy the next write cannot change.
    return ConversationMessage.model_validate(message.model_dump())


def create_message(
    session: Session,
    account_sid: str,
    conversation: Conversation,
    changes: dict[str, Any],
    sid: str | None = None,
) -> ConversationMessage:
    """`sid` is a fixture's own; a request's message gets a new one.

    Core statements throughout (the ORM's load, flush and copy were most of a create's time): after a
    flush of what the session holds (the batch's earlier writes, a fixture's conversation), since Core
    statements do not autoflush. The message returned is in no session, so no later write changes it."""
    session.flush()
    _check_open(session, account_sid, conversation)
    moment = now()
    date_created: datetime = changes.get("date_created", moment)
    message = ConversationMessage(
        sid=sid or sids.new_sid(MESSAGE),
        account_sid=account_sid,
        conversation_sid=conversation.sid,
        index=take_index(session, account_sid, conversation.sid),
        author=changes["author"],
        participant_sid=participant_for_author(session, conversation.sid, changes["author"]),
        date_created=date_created,
        date_updated=date_created,
    )
    for name, value in changes.items():
        setattr(message, name, value)
    message.id = insert_message(session, message)
    return message


def find_message(
    session: Session, account_sid: str, conversation: Conversation, sid: str
) -> ConversationMessage:
    message = get_message(session, account_sid, conversation.sid, sid)
    if message is None:
        raise NotFound
    return message


def update_message(
    session: Session, account_sid: str, conversation: Conversation, sid: str, changes: dict[str, Any]
) -> ConversationMessage:
    message = find_message(session, account_sid, conversation, sid)
    _check_open(session, account_sid, conversation)
    if message.content_sid is not None:
        # A template message's content is its template, as at its creation.
        changes = {name: value for name, value in changes.items() if name != "body"}
    if not (changes.get("body", message.body) or message.media_sid or message.content_sid):
        raise _missing_body()
    if "author" in changes and changes["author"] != message.author:
        message.participant_sid = participant_for_author(session, conversation.sid, changes["author"])
    for name, value in changes.items():
        setattr(message, name, value)
    if "date_updated" not in changes:
        message.date_updated = now()
    session.add(message)
    session.flush()
    return _copy(message)


def delete_message(
    session: Session, account_sid: str, conversation: Conversation, sid: str
) -> ConversationMessage:
    """The message as it was. Allowed in a closed conversation too, as deleting the conversation itself
    is. Its index is not handed out again."""
    message = find_message(session, account_sid, conversation, sid)
    removed = _copy(message)
    session.delete(message)
    session.flush()
    return removed


@dataclass(frozen=True)
class ListOrder:
    descending: bool = False
    # As page URLs repeat it: lower case, and only when the request gave it.
    given: tuple[tuple[str, str], ...] = ()


def checked_order(query: dict[str, str]) -> ListOrder:
    order = query.get("Order")
    if order is None:
        return ListOrder()
    spelled = order.lower() if order.isascii() else order
    if spelled not in ORDERS:
        raise fields.invalid("Order", "must be asc or desc")
    return ListOrder(spelled == "desc", (("Order", spelled),))


def list_page(
    session: Session, account_sid: str, conversation: Conversation, request: PageRequest, order: ListOrder
) -> Page[ConversationMessage]:
    rows = list_messages_page(session, account_sid, conversation.sid, request, descending=order.descending)
    return Page.cut(request, rows)
