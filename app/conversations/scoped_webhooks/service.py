"""The rules of conversation-scoped webhooks: what a create or update may set, the five-per-conversation
limit, fetch, delete, list.

A webhook's configuration depends on its target: `webhook` posts the events named in its filters to a
URL, `trigger` posts messages holding one of its keywords, `studio` names a Studio flow. Parameters of
another target are accepted and ignored. An update merges what it names into the stored configuration,
and the result must be a valid configuration of the webhook's target, as on create.
"""

from __future__ import annotations

import re
from typing import Any

from sqlmodel import Session

from ...twilio import sids
from ...twilio.clock import now
from ...twilio.errors import NotFound, TwilioError
from ...twilio.forms import FormParameters
from ...twilio.paging import Page, PageLimits, PageRequest
from .. import fields
from ..webhooks import rules as webhook_rules
from .models import (
    ConversationWebhook,
    conversation_exists,
    count_webhooks,
    get_webhook,
    list_webhooks_page,
)

WEBHOOK = "WH"
TOO_MANY_WEBHOOKS = 50361
TOO_MANY_TRIGGERS = 50362
INVALID_TARGET = 50364
INVALID_FILTER = 50365
INVALID_TRIGGER = 50366
INVALID_FLOW_SID = 50367
MISSING_TARGET = 50368
MISSING_URL = 50369
MISSING_FILTERS = 50370
MISSING_TRIGGERS = 50371
URL_TOO_LONG = 50372
# Twilio names no code of its own for these; the service configuration's are the nearest.
INVALID_URL = webhook_rules.INVALID_POST_WEBHOOK_URL
INVALID_METHOD = webhook_rules.INVALID_METHOD

TARGETS = ("webhook", "trigger", "studio")
METHODS = ("get", "post")
DEFAULT_METHOD = "post"
# Scoped webhooks are post-event hooks only.
EVENTS = webhook_rules.POST_EVENTS
MAX_WEBHOOKS = 5
MAX_URL = 512
MAX_TRIGGERS = 5
MAX_TRIGGER = 248
# What every backend's INTEGER column holds.
MAX_REPLAY_AFTER = 2**31 - 1
PAGES = PageLimits(default=5, largest=5, accepted=1000)

TARGET = "Target"
URL = "Configuration.Url"
METHOD = "Configuration.Method"
FILTERS = "Configuration.Filters"
TRIGGERS = "Configuration.Triggers"
FLOW_SID = "Configuration.FlowSid"
REPLAY_AFTER = "Configuration.ReplayAfter"

_FLOW_SID = re.compile(r"FW[0-9a-fA-F]{32}")
# The configuration columns: those a target does not use are None.
CONFIGURATION_COLUMNS = ("url", "method", "filters", "triggers", "flow_sid")


def is_webhook_sid(value: str) -> bool:
    return sids.is_sid(value, WEBHOOK)


def _required(code: int, parameter: str, target: str) -> TwilioError:
    return TwilioError(400, code, f"Missing required parameter {parameter} for target {target}")


def _checked_url(value: str | None, target: str) -> str:
    if not value:
        raise _required(MISSING_URL, URL, target)
    if len(value) > MAX_URL:
        raise TwilioError(400, URL_TOO_LONG, f"Invalid {URL}: longer than {MAX_URL} characters")
    problem = webhook_rules.url_problem(value)
    if problem is not None:
        raise TwilioError(400, INVALID_URL, f"Invalid {URL}: {problem}")
    return value


def _checked_method(value: str) -> str:
    """Lower case, as Twilio's enum spells it; an empty value puts back the default."""
    if value == "":
        return DEFAULT_METHOD
    normalized = value.lower() if value.isascii() else value
    if normalized not in METHODS:
        raise TwilioError(400, INVALID_METHOD, f"Invalid {METHOD} {value!r}: must be get or post")
    return normalized


def _checked_filters(values: list[str]) -> list[str]:
    """Empty values dropped, duplicates dropped (first kept), order kept."""
    kept: list[str] = []
    for value in values:
        if value == "":
            continue
        if value not in EVENTS:
            raise TwilioError(
                400,
                INVALID_FILTER,
                f"Invalid {FILTERS} value {value!r}: not one of the post-event names "
                "a conversation-scoped webhook takes",
            )
        if value not in kept:
            kept.append(value)
    return kept


def _checked_triggers(values: list[str] | None, target: str) -> list[str]:
    """Keywords as given: none may be empty, so an empty value is refused rather than dropped."""
    if not values:
        raise _required(MISSING_TRIGGERS, TRIGGERS, target)
    if len(values) > MAX_TRIGGERS:
        raise TwilioError(
            400, TOO_MANY_TRIGGERS, f"Invalid {TRIGGERS}: at most {MAX_TRIGGERS} keywords, not {len(values)}"
        )
    for value in values:
        if not 1 <= len(value) <= MAX_TRIGGER:
            raise TwilioError(
                400, INVALID_TRIGGER, f"Invalid {TRIGGERS} value: must be 1 to {MAX_TRIGGER} characters long"
            )
        fields.storable(TRIGGERS, value)
    return list(values)


def _checked_flow_sid(value: str | None, target: str) -> str:
    if not value:
        raise _required(INVALID_FLOW_SID, FLOW_SID, target)
    if _FLOW_SID.fullmatch(value) is None:
        raise TwilioError(
            400, INVALID_FLOW_SID, f"Invalid {FLOW_SID} {value!r}: must be FW followed by 32 hex digits"
        )
    return value


def _checked_replay_after(value: str) -> int | None:
    """A message index, kept as given (nothing is replayed); an empty value leaves it unset."""
    if value == "":
        return None
    # The length first: Python refuses to convert a string of thousands of digits.
    too_long = len(value) > len(str(MAX_REPLAY_AFTER))
    if too_long or not value.isascii() or not value.isdigit() or int(value) > MAX_REPLAY_AFTER:
        raise fields.invalid(REPLAY_AFTER, f"must be an integer from 0 to {MAX_REPLAY_AFTER}")
    return int(value)


def _configuration(target: str, form: FormParameters, stored: ConversationWebhook | None) -> dict[str, Any]:
    """The configuration columns of `target` from the form, where it names them, else from `stored`;
    checked in the order the parameters are documented in, whether given now or before."""
    columns: dict[str, Any] = dict.fromkeys(CONFIGURATION_COLUMNS)
    if target == "studio":
        flow_sid = form.last(FLOW_SID) if FLOW_SID in form else _kept(stored, "flow_sid")
        columns["flow_sid"] = _checked_flow_sid(flow_sid, target)
        return columns
    url = form.last(URL) if URL in form else _kept(stored, "url")
    columns["url"] = _checked_url(url, target)
    if METHOD in form:
        columns["method"] = _checked_method(form.last(METHOD))
    else:
        columns["method"] = _kept(stored, "method") or DEFAULT_METHOD
    if target == "webhook":
        filters = _checked_filters(form.all(FILTERS)) if FILTERS in form else _kept(stored, "filters")
        if not filters:
            raise _required(MISSING_FILTERS, FILTERS, target)
        columns["filters"] = list(filters)
    else:
        triggers = form.all(TRIGGERS) if TRIGGERS in form else _kept(stored, "triggers")
        columns["triggers"] = _checked_triggers(triggers, target)
    return columns


def _kept(stored: ConversationWebhook | None, column: str) -> Any:
    return None if stored is None else getattr(stored, column)


def columns_for_create(form: FormParameters) -> dict[str, Any]:
    """Every column a create sets but the keys, every parameter checked in the documented order."""
    target = form.last(TARGET)
    if target == "":  # absent, or empty as the Node library sends null
        raise TwilioError(400, MISSING_TARGET, f"Missing required parameter {TARGET} in the post body")
    if target not in TARGETS:
        raise TwilioError(
            400, INVALID_TARGET, f"Invalid {TARGET} {target!r}: must be webhook, trigger or studio"
        )
    columns = {"target": target, **_configuration(target, form, None)}
    columns["replay_after"] = _checked_replay_after(form.last(REPLAY_AFTER)) if REPLAY_AFTER in form else None
    return columns


def columns_for_update(stored: ConversationWebhook, form: FormParameters) -> dict[str, Any]:
    """The configuration the update leaves: the stored one with what the form names. `Target` and
    `ReplayAfter` cannot change, so they are ignored like any unknown parameter."""
    return _configuration(stored.target, form, stored)


def _copy(webhook: ConversationWebhook) -> ConversationWebhook:
    # Writes in one group commit share a session: the caller gets a copy the next write cannot change.
    return ConversationWebhook.model_validate(webhook.model_dump())


def create_webhook(
    session: Session,
    account_sid: str,
    conversation_sid: str,
    columns: dict[str, Any],
    sid: str | None = None,
) -> ConversationWebhook:
    """Checked inside the write, so two creates racing for the fifth place cannot both have it. `sid`
    is a fixture's own; a request's webhook gets a new one."""
    if not conversation_exists(session, account_sid, conversation_sid):
        raise NotFound  # deleted since the request found it
    if count_webhooks(session, conversation_sid) >= MAX_WEBHOOKS:
        raise TwilioError(
            400, TOO_MANY_WEBHOOKS, f"A conversation can have at most {MAX_WEBHOOKS} scoped webhooks"
        )
    moment = now()
    webhook = ConversationWebhook(
        sid=sid or sids.new_sid(WEBHOOK),
        account_sid=account_sid,
        conversation_sid=conversation_sid,
        date_created=moment,
        date_updated=moment,
        **columns,
    )
    session.add(webhook)
    session.flush()
    return _copy(webhook)


def find_webhook(session: Session, account_sid: str, conversation_sid: str, sid: str) -> ConversationWebhook:
    webhook = get_webhook(session, account_sid, conversation_sid, sid)
    if webhook is None:
        raise NotFound
    return webhook


def update_webhook(
    session: Session, account_sid: str, conversation_sid: str, sid: str, form: FormParameters
) -> ConversationWebhook:
    """Merged with the row as it is now, not as the request first read it, so a concurrent update of
    another field is kept rather than overwritten."""
    webhook = find_webhook(session, account_sid, conversation_sid, sid)
    for column, value in columns_for_update(webhook, form).items():
        setattr(webhook, column, value)
    webhook.date_updated = now()
    session.add(webhook)
    session.flush()
    return _copy(webhook)


def delete_webhook(session: Session, account_sid: str, conversation_sid: str, sid: str) -> None:
    session.delete(find_webhook(session, account_sid, conversation_sid, sid))
    session.flush()


def list_page(
    session: Session, account_sid: str, conversation_sid: str, request: PageRequest
) -> Page[ConversationWebhook]:
    return Page.cut(request, list_webhooks_page(session, account_sid, conversation_sid, request))
