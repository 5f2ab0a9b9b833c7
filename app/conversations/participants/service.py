"""The rules of participants: what kind a create makes, every parameter's check, the uniqueness of
identities and address bindings, update, delete, list.

A participant is a chat user (`Identity`), optionally shown in group MMS as a Twilio number
(`ProjectedAddress`); or a phone, WhatsApp or RCS address (`Address`) talking to a Twilio number
(`ProxyAddress`); or, in group MMS, a phone number alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlmodel import Session

from ...twilio import sids
from ...twilio.clock import now
from ...twilio.errors import NotFound, TwilioError
from ...twilio.forms import FormParameters
from ...twilio.paging import Page, PageLimits, PageRequest
from .. import fields
from ..conversations.models import Conversation, get_conversation
from ..conversations.service import CONVERSATION_CLOSED
from .models import (
    Participant,
    conversation_binding,
    get_participant,
    group_address_taken,
    identity_taken,
    list_participants_page,
)

PARTICIPANT = "MB"

IDENTITY_NOT_PROVIDED = 50204
IDENTITY_TOO_LONG = 50207
IDENTITY_WITH_ADDRESS = 50211
MISSING_ADDRESS = 50411  # empty, or absent beside a proxy address
EMPTY_PROXY_ADDRESS = 50412
INVALID_ADDRESS = 50407
INVALID_PROXY_ADDRESS = 50408
ADDRESS_IS_PROXY = 50409
BINDING_EXISTS = 50416
ADDRESS_TYPES_DIFFER = 50414
IDENTITY_TAKEN = 50433
GROUP_ADDRESS_TAKEN = 50437
NO_PROXY_TO_REMOVE = 50440
PROXY_NOT_CHANGEABLE = 50441
PROJECTED_ON_ADDRESS = 50443
IDENTITY_NOT_CHANGEABLE = 50444

IDENTITY = "Identity"
ADDRESS = "MessagingBinding.Address"
PROXY_ADDRESS = "MessagingBinding.ProxyAddress"
PROJECTED_ADDRESS = "MessagingBinding.ProjectedAddress"
# On update, this literal value removes a proxy or projected address.
REMOVE = "null"

MAX_IDENTITY = 256
MAX_ADDRESS = 256
MAX_ATTRIBUTES = 4 * 1024
# Stored in a 64-bit column.
MAX_MESSAGE_INDEX = 2**63 - 1
PAGES = PageLimits(default=50, largest=100, accepted=1000)

_E164 = re.compile(r"\+[1-9][0-9]{1,14}")
# Address syntax: the binding type is read off the prefix.
_ADDRESS_PREFIXES = (("whatsapp:", "whatsapp"), ("rcs:", "rcs"), ("", "sms"))
SMS = "sms"


def address_type(address: str) -> str | None:
    """`sms`, `whatsapp` or `rcs` for an E.164 number with its channel's prefix; None for anything else."""
    for prefix, kind in _ADDRESS_PREFIXES:
        if address.startswith(prefix) and _E164.fullmatch(address[len(prefix) :]):
            return kind
    return None


def is_participant_sid(value: str) -> bool:
    return sids.is_sid(value, PARTICIPANT)


def messaging_binding(participant: Participant) -> dict[str, str] | None:
    """What the body shows of how the participant exchanges messages; None for a chat-only participant."""
    if participant.address is not None:
        binding = {"type": address_type(participant.address) or SMS, "address": participant.address}
        if participant.proxy_address is not None:
            binding["proxy_address"] = participant.proxy_address
        return binding
    if participant.projected_address is not None:
        return {"type": SMS, "projected_address": participant.projected_address}
    return None


# --- parameters -------------------------------------------------------------------------------------


def _given(form: FormParameters, name: str) -> str | None:
    return form.last(name) if name in form else None


def _checked_identity(value: str) -> str:
    return fields.checked_length(IDENTITY, value, MAX_IDENTITY, IDENTITY_TOO_LONG)


def _checked_address(name: str, value: str, code: int) -> str:
    """An address's syntax; returns its binding type."""
    kind = address_type(value) if len(value) <= MAX_ADDRESS else None
    if kind is None:
        raise TwilioError(
            400,
            code,
            f"Invalid {name}: must be a phone number in E.164 format (+15558675310), "
            "optionally after whatsapp: or rcs:",
        )
    return kind


def _checked_projected_address(value: str) -> str:
    # A group-MMS number is a phone number (its binding is an SMS one); no Twilio code is known for it.
    if _E164.fullmatch(value) is None:
        raise fields.invalid(PROJECTED_ADDRESS, "must be a phone number in E.164 format (+15017122661)")
    return value


def _pair_must_match(address_kind: str, proxy_kind: str, *, same: bool) -> None:
    if same:
        raise TwilioError(
            400, ADDRESS_IS_PROXY, f"{ADDRESS} and {PROXY_ADDRESS} must not be the same address"
        )
    if address_kind != proxy_kind:
        raise TwilioError(
            400,
            ADDRESS_TYPES_DIFFER,
            f"{ADDRESS} ({address_kind}) and {PROXY_ADDRESS} ({proxy_kind}) must be of the same type",
        )


def _checked_dates(form: FormParameters) -> dict[str, datetime]:
    return {
        column: fields.checked_moment(parameter, form.last(parameter))
        for parameter, column in (("DateCreated", "date_created"), ("DateUpdated", "date_updated"))
        if parameter in form
    }


@dataclass(frozen=True)
class Binding:
    """Who a participant is and how it is reached: the columns the uniqueness rules look at."""

    identity: str | None = None
    address: str | None = None
    proxy_address: str | None = None
    projected_address: str | None = None


@dataclass(frozen=True)
class NewParticipant:
    binding: Binding
    attributes: str = "{}"
    role_sid: str | None = None
    dates: dict[str, datetime] = field(default_factory=dict)


def new_participant_from_form(form: FormParameters) -> NewParticipant:
    """A create's parameters, checked in the documented order. An empty `Identity` or
    `ProjectedAddress` is one not given; an empty address is an error of its own."""
    identity = _given(form, IDENTITY) or None
    address = _given(form, ADDRESS)
    proxy = _given(form, PROXY_ADDRESS)
    projected = _given(form, PROJECTED_ADDRESS) or None
    if (identity is None and address is None and proxy is None) or (
        projected is not None and identity is None
    ):
        raise TwilioError(400, IDENTITY_NOT_PROVIDED, "Identity not provided")
    if identity is not None and (address is not None or proxy is not None):
        raise TwilioError(
            400,
            IDENTITY_WITH_ADDRESS,
            f"A participant with an {IDENTITY} can't have a {ADDRESS} or {PROXY_ADDRESS}: "
            f"use {PROJECTED_ADDRESS} for group MMS",
        )
    if identity is not None:
        _checked_identity(identity)
    if address == "" or (address is None and proxy is not None):
        raise TwilioError(400, MISSING_ADDRESS, f"{ADDRESS} is required and must not be empty")
    if proxy == "":
        raise TwilioError(400, EMPTY_PROXY_ADDRESS, f"Invalid {PROXY_ADDRESS}: must not be empty")
    if address is not None:
        address_kind = _checked_address(ADDRESS, address, INVALID_ADDRESS)
        if proxy is not None:
            proxy_kind = _checked_address(PROXY_ADDRESS, proxy, INVALID_PROXY_ADDRESS)
            _pair_must_match(address_kind, proxy_kind, same=address == proxy)
        elif address_kind != SMS:
            raise TwilioError(
                400,
                INVALID_ADDRESS,
                f"Invalid {ADDRESS}: without a {PROXY_ADDRESS} the participant is in group MMS, "
                "which needs a phone number in E.164 format",
            )
    if projected is not None:
        _checked_projected_address(projected)
    attributes = "{}"
    if "Attributes" in form:
        attributes = fields.checked_attributes(form.last("Attributes"), MAX_ATTRIBUTES)
    role_sid = fields.checked_sid("RoleSid", form.last("RoleSid"), "RL") if "RoleSid" in form else None
    return NewParticipant(
        Binding(identity, address, proxy, projected), attributes, role_sid, _checked_dates(form)
    )


# Marks a binding field an update leaves as it is.
_KEEP: Any = object()


@dataclass(frozen=True)
class ParticipantChanges:
    """An update's parameters, checked. `columns` are set as given; the binding fields are `_KEEP`
    unless given (None removes)."""

    columns: dict[str, Any] = field(default_factory=dict)
    identity: Any = _KEEP
    proxy_address: Any = _KEEP
    projected_address: Any = _KEEP


def _checked_message_index(value: str) -> int | None:
    if value == "":
        return None
    if not value.isascii() or not value.isdigit() or int(value) > MAX_MESSAGE_INDEX:
        raise fields.invalid("LastReadMessageIndex", "must be a non-negative integer")
    return int(value)


def changes_from_form(form: FormParameters) -> ParticipantChanges:
    """An update's parameters, checked in the documented order; what needs the participant is checked
    by the write."""
    columns: dict[str, Any] = {}
    if "Attributes" in form:
        columns["attributes"] = fields.checked_attributes(form.last("Attributes"), MAX_ATTRIBUTES)
    if "RoleSid" in form:
        columns["role_sid"] = fields.checked_sid("RoleSid", form.last("RoleSid"), "RL")
    columns.update(_checked_dates(form))
    if "LastReadMessageIndex" in form:
        columns["last_read_message_index"] = _checked_message_index(form.last("LastReadMessageIndex"))
    if "LastReadTimestamp" in form:
        timestamp = form.last("LastReadTimestamp")
        columns["last_read_timestamp"] = fields.storable("LastReadTimestamp", timestamp) or None
    changes = ParticipantChanges(columns)
    if IDENTITY in form:
        changes = replace(changes, identity=_checked_identity(form.last(IDENTITY)) or None)
    proxy = _given(form, PROXY_ADDRESS)
    if proxy == REMOVE:
        changes = replace(changes, proxy_address=None)
    elif proxy is not None:
        if proxy == "":
            raise TwilioError(400, EMPTY_PROXY_ADDRESS, f"Invalid {PROXY_ADDRESS}: must not be empty")
        _checked_address(PROXY_ADDRESS, proxy, INVALID_PROXY_ADDRESS)
        changes = replace(changes, proxy_address=proxy)
    projected = _given(form, PROJECTED_ADDRESS)
    if projected in (REMOVE, ""):
        changes = replace(changes, projected_address=None)
    elif projected is not None:
        changes = replace(changes, projected_address=_checked_projected_address(projected))
    return changes


# --- the writes and reads ---------------------------------------------------------------------------


def _current_conversation(session: Session, account_sid: str, conversation: Conversation) -> Conversation:
    """The path's conversation as the write sees it: it may have been deleted or closed since."""
    current = get_conversation(
        session, account_sid, conversation.chat_service_sid, conversation.sid, by_sid=True
    )
    if current is None:
        raise NotFound
    return current


def _open_conversation(session: Session, account_sid: str, conversation: Conversation) -> Conversation:
    current = _current_conversation(session, account_sid, conversation)
    if current.state == "closed":
        raise TwilioError(
            400, CONVERSATION_CLOSED, "The conversation is closed and can't be used for chatting anymore"
        )
    return current


def _check_unique(
    session: Session, account_sid: str, conversation_sid: str, binding: Binding, except_sid: str | None = None
) -> None:
    """An identity once per conversation; an address and proxy pair once in all the account's
    conversations that are not closed; a group-MMS address once per conversation."""
    if binding.identity is not None and identity_taken(
        session, conversation_sid, binding.identity, except_sid
    ):
        raise TwilioError(
            400, IDENTITY_TAKEN, "A participant with the provided identity already exists in the conversation"
        )
    if binding.address is None:
        return
    if binding.proxy_address is not None:
        bound_in = conversation_binding(
            session, account_sid, binding.address, binding.proxy_address, except_sid
        )
        if bound_in is not None:
            raise TwilioError(
                400,
                BINDING_EXISTS,
                f"A binding for this participant and proxy address already exists in Conversation {bound_in}",
            )
    elif group_address_taken(session, conversation_sid, binding.address, except_sid):
        raise TwilioError(
            400,
            GROUP_ADDRESS_TAKEN,
            "A group MMS participant with the provided address already exists in the conversation",
        )


def _copy(participant: Participant) -> Participant:
    # Writes in one group commit share a session: the caller gets a copy the next write cannot change.
    return Participant.model_validate(participant.model_dump())


def create_participant(
    session: Session,
    account_sid: str,
    conversation: Conversation,
    new: NewParticipant,
    sid: str | None = None,
) -> Participant:
    """`sid` is a fixture's own; a request's participant gets a new one."""
    current = _open_conversation(session, account_sid, conversation)
    _check_unique(session, account_sid, current.sid, new.binding)
    moment = now()
    created = new.dates.get("date_created", moment)
    participant = Participant(
        sid=sid or sids.new_sid(PARTICIPANT),
        account_sid=account_sid,
        conversation_sid=current.sid,
        identity=new.binding.identity,
        address=new.binding.address,
        proxy_address=new.binding.proxy_address,
        projected_address=new.binding.projected_address,
        attributes=new.attributes,
        role_sid=new.role_sid,
        date_created=created,
        # Given a creation date alone, the participant was last updated then too.
        date_updated=new.dates.get("date_updated", created if "date_created" in new.dates else moment),
    )
    session.add(participant)
    session.flush()
    return _copy(participant)


def find_participant(
    session: Session, account_sid: str, conversation_sid: str, sid_or_identity: str
) -> Participant:
    """By SID when it looks like one, else (or when no participant has that SID) by identity; else 404.
    An address names no participant."""
    participant = None
    if is_participant_sid(sid_or_identity):
        participant = get_participant(session, account_sid, conversation_sid, sid=sid_or_identity)
    if participant is None:
        participant = get_participant(session, account_sid, conversation_sid, identity=sid_or_identity)
    if participant is None:
        raise NotFound
    return participant


def _changed_binding(participant: Participant, changes: ParticipantChanges) -> Binding:
    """The binding an update leads to, or the code of the first rule it breaks."""
    binding = Binding(
        participant.identity, participant.address, participant.proxy_address, participant.projected_address
    )
    if changes.identity is not _KEEP:
        # Only a group-MMS participant known by its projected number alone may be given an identity.
        if participant.identity is not None or participant.projected_address is None:
            raise TwilioError(
                400,
                IDENTITY_NOT_CHANGEABLE,
                f"{IDENTITY} can only be set on a participant without one that has a {PROJECTED_ADDRESS}",
            )
        binding = replace(binding, identity=changes.identity)
    if changes.proxy_address is not _KEEP:
        binding = replace(binding, proxy_address=_changed_proxy(participant, changes.proxy_address))
    if changes.projected_address is not _KEEP:
        if participant.address is not None:
            raise TwilioError(
                400,
                PROJECTED_ON_ADDRESS,
                f"{PROJECTED_ADDRESS} can't be set on a participant with a {ADDRESS}",
            )
        binding = replace(binding, projected_address=changes.projected_address)
    return binding


def _changed_proxy(participant: Participant, proxy: str | None) -> str | None:
    address = participant.address
    if address is None:
        raise TwilioError(
            400,
            PROXY_NOT_CHANGEABLE,
            f"{PROXY_ADDRESS} can only be changed on a participant with a {ADDRESS}",
        )
    address_kind = address_type(address) or SMS
    if proxy is None:
        if participant.proxy_address is None:
            raise TwilioError(400, NO_PROXY_TO_REMOVE, f"The participant has no {PROXY_ADDRESS} to remove")
        if address_kind != SMS:
            # Only phone numbers take part without a proxy (in group MMS).
            raise TwilioError(
                400,
                PROXY_NOT_CHANGEABLE,
                f"{PROXY_ADDRESS} can't be removed from a {address_kind} participant",
            )
        return None
    _pair_must_match(address_kind, address_type(proxy) or SMS, same=proxy == address)
    return proxy


def update_participant(
    session: Session,
    account_sid: str,
    conversation: Conversation,
    sid_or_identity: str,
    changes: ParticipantChanges,
) -> Participant:
    current = _open_conversation(session, account_sid, conversation)
    participant = find_participant(session, account_sid, current.sid, sid_or_identity)
    binding = _changed_binding(participant, changes)
    # Checked before the row changes: a flush of a taken identity would hit the table's constraint.
    _check_unique(session, account_sid, current.sid, binding, participant.sid)
    participant.identity = binding.identity
    participant.proxy_address = binding.proxy_address
    participant.projected_address = binding.projected_address
    for column, value in changes.columns.items():
        setattr(participant, column, value)
    if "date_updated" not in changes.columns:
        participant.date_updated = now()
    session.add(participant)
    session.flush()
    return _copy(participant)


def delete_participant(
    session: Session, account_sid: str, conversation: Conversation, sid_or_identity: str
) -> Participant:
    """The participant as it was. Allowed in a closed conversation too. The participant's messages stay."""
    current = _current_conversation(session, account_sid, conversation)
    participant = find_participant(session, account_sid, current.sid, sid_or_identity)
    removed = _copy(participant)
    session.delete(participant)
    session.flush()
    return removed


def list_page(
    session: Session, account_sid: str, conversation_sid: str, request: PageRequest
) -> Page[Participant]:
    return Page.cut(request, list_participants_page(session, account_sid, conversation_sid, request))
