"""The rules of a simulated Conversations action (README: "Webhook deliveries").

Which configuration applies (the service's own when it has a URL, else the account's), which hooks fire
(only events in `filters`), and what the pre-event's answer does: 2xx publishes, and its JSON may modify
the fields Twilio lets it; 4xx/5xx rejects; no answer publishes unmodified. Then the paired post-event,
with the published values and the SID the action created.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import Session

from ..accounts.models import Account, get_account
from ..control.deliveries import Delivery, DeliveryLog
from ..control.inputs import parse_json_body
from ..control.tokens import SigningTokens
from ..conversations.configuration.models import get_account_configuration
from ..conversations.services.models import get_service
from ..conversations.webhooks.models import get_configuration
from ..conversations.webhooks.rules import DEFAULT_METHOD
from ..documents import read_json
from ..twilio import sids
from ..twilio.clock import timestamp_ms
from ..twilio.errors import MISSING_PARAMETER, TwilioError, not_found
from .sender import HookCall, new_client, send
from .targets import TargetPolicy

PUBLISHED = "published"
MODIFIED = "modified"
REJECTED = "rejected"
PRE = "pre"
POST = "post"
SOURCES = ("SDK", "API")
# Every delivery carries these; the emulator sets them, so an action's params may not.
COMMON_PARAMETERS = frozenset({"AccountSid", "ChatServiceSid", "EventType", "Source", "RetryCount"})
REQUEST_FIELDS = ("account_sid", "chat_service_sid", "event", "source", "params")

# What a pre-event's 2xx JSON answer may change (Twilio: "Modifiable Fields"): answer key -> parameter.
MESSAGE_FIELDS = {"body": "Body", "author": "Author", "attributes": "Attributes"}
CONVERSATION_FIELDS = {"friendly_name": "FriendlyName"}


@dataclass(frozen=True)
class Resource:
    """What an event about one kind of resource carries when the caller does not say."""

    # Parameter -> SID prefix, minted when the caller gives none.
    sids: dict[str, str]
    defaults: dict[str, str]


MESSAGE = Resource(
    {"ConversationSid": "CH", "MessageSid": "IM", "ParticipantSid": "MB"},
    {"Author": "system", "Body": "", "Attributes": "{}", "Index": "0"},
)
CONVERSATION = Resource({"ConversationSid": "CH"}, {"Attributes": "{}", "State": "active"})
PARTICIPANT = Resource({"ConversationSid": "CH", "ParticipantSid": "MB"}, {"Attributes": "{}"})
USER = Resource({"UserSid": "US"}, {"Attributes": "{}"})
CONVERSATION_STATE = Resource(
    {"ConversationSid": "CH"}, {"StateFrom": "active", "StateTo": "inactive", "Reason": "API"}
)
DELIVERY_RECEIPT = Resource(
    {
        "ConversationSid": "CH",
        "MessageSid": "IM",
        "ParticipantSid": "MB",
        "DeliveryReceiptSid": "DY",
        "ChannelMessageSid": "SM",
    },
    {"Status": "delivered"},
)

ADDED = ("DateCreated",)
CHANGED = ("DateCreated", "DateUpdated")


@dataclass(frozen=True)
class Action:
    post_event: str
    # None for the events Twilio sends only after the fact (onDeliveryUpdated, ...).
    pre_event: str | None
    resource: Resource
    dates: tuple[str, ...]
    # The SID an "add" action mints: absent from its pre-event, present in its post-event.
    creates: str | None = None
    modifiable: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.pre_event or self.post_event


ACTIONS = (
    Action("onMessageAdded", "onMessageAdd", MESSAGE, ADDED, "MessageSid", MESSAGE_FIELDS),
    Action("onMessageUpdated", "onMessageUpdate", MESSAGE, CHANGED, None, MESSAGE_FIELDS),
    Action("onMessageRemoved", "onMessageRemove", MESSAGE, CHANGED),
    Action(
        "onConversationAdded",
        "onConversationAdd",
        CONVERSATION,
        CHANGED,
        "ConversationSid",
        CONVERSATION_FIELDS,
    ),
    Action("onConversationUpdated", "onConversationUpdate", CONVERSATION, CHANGED, None, CONVERSATION_FIELDS),
    Action("onConversationRemoved", "onConversationRemove", CONVERSATION, CHANGED),
    Action("onParticipantAdded", "onParticipantAdd", PARTICIPANT, ADDED, "ParticipantSid"),
    Action("onParticipantUpdated", "onParticipantUpdate", PARTICIPANT, CHANGED),
    Action("onParticipantRemoved", "onParticipantRemove", PARTICIPANT, CHANGED),
    Action("onUserUpdated", "onUserUpdate", USER, CHANGED),
    Action("onUserAdded", None, USER, ADDED, "UserSid"),
    Action("onConversationStateUpdated", None, CONVERSATION_STATE, ("StateUpdated",)),
    Action("onDeliveryUpdated", None, DELIVERY_RECEIPT, CHANGED),
)
ACTIONS_BY_NAME = {action.name: action for action in ACTIONS}
PRE_EVENT_OF = {action.post_event: action.pre_event for action in ACTIONS if action.pre_event}


def _bad(message: str) -> TwilioError:
    return TwilioError(400, MISSING_PARAMETER, message)


def parameter_text(value: Any) -> str:
    """A JSON value as a webhook parameter: strings as they are, anything else as JSON text."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True)
class EventRequest:
    account_sid: str
    chat_service_sid: str
    action: Action
    source: str
    # The caller's event parameters; None leaves a default parameter out.
    params: dict[str, str | None]


def find_action(event: Any) -> Action:
    if isinstance(event, str) and event in ACTIONS_BY_NAME:
        return ACTIONS_BY_NAME[event]
    if isinstance(event, str) and event in PRE_EVENT_OF:
        raise _bad(
            f"Invalid event {event!r}: it is the post-event of {PRE_EVENT_OF[event]}; name the action "
            "by its pre-event and the emulator sends both hooks"
        )
    pre = ", ".join(action.name for action in ACTIONS if action.pre_event)
    post_only = ", ".join(action.name for action in ACTIONS if not action.pre_event)
    raise _bad(
        f"Invalid event {event!r}: must be an action's pre-event ({pre}) or a post-only event ({post_only})"
    )


def _required_sid(data: dict[str, Any], name: str, prefix: str) -> str:
    if name not in data:
        raise _bad(f"Missing required field {name} in the JSON body")
    value = data[name]
    if not isinstance(value, str) or not sids.is_sid(value, prefix):
        raise _bad(f"Invalid {name} {value!r}: must be {prefix} followed by 32 hex digits")
    return value


def parse_event_request(body: bytes) -> EventRequest:
    """The JSON body of `POST /_emulator/events`, or a 400 (code 20001) naming what is wrong."""
    data = parse_json_body(body)
    if not isinstance(data, dict):
        raise _bad("The body must be a JSON object with account_sid, chat_service_sid and event")
    unknown = sorted(set(data) - set(REQUEST_FIELDS))
    if unknown:
        raise _bad(f"Unknown field {unknown[0]!r}: the fields are {', '.join(REQUEST_FIELDS)}")
    account_sid = _required_sid(data, "account_sid", sids.ACCOUNT)
    chat_service_sid = _required_sid(data, "chat_service_sid", sids.SERVICE)
    if "event" not in data:
        raise _bad("Missing required field event in the JSON body")
    action = find_action(data["event"])
    source = data.get("source", "SDK")
    if source not in SOURCES:
        raise _bad(f"Invalid source {source!r}: must be SDK or API")
    params = data.get("params", {})
    if not isinstance(params, dict):
        raise _bad("Invalid params: must be a JSON object of parameter names and values")
    reserved = sorted(COMMON_PARAMETERS & set(params))
    if reserved:
        raise _bad(f"Invalid params: {reserved[0]} is set by the emulator on every delivery")
    values = {name: None if value is None else parameter_text(value) for name, value in params.items()}
    return EventRequest(account_sid, chat_service_sid, action, source, values)


def action_parameters(action: Action, given: dict[str, str | None], moment: str) -> dict[str, str]:
    """The event's own parameters before publication: the caller's, over minted SIDs, defaults, dates."""
    values: dict[str, str | None] = {
        name: given[name] if name in given else sids.new_sid(prefix)
        for name, prefix in action.resource.sids.items()
        if name != action.creates
    }
    values.update(action.resource.defaults)
    values.update(dict.fromkeys(action.dates, moment))
    values.update(given)
    return {name: value for name, value in values.items() if value is not None}


def published_parameters(action: Action, values: dict[str, str], moment: str) -> dict[str, str]:
    """The post-event's parameters: what was published, with the SID the action created."""
    published = dict(values)
    if action.creates is not None and action.creates not in published:
        published[action.creates] = sids.new_sid(action.resource.sids[action.creates])
    if action.post_event.endswith("Removed"):
        published.setdefault("DateRemoved", moment)
    return published


def modifications(action: Action, answer: bytes) -> dict[str, str]:
    """The changes a 2xx pre-event answer asks for, limited to the fields this action lets it modify.

    Anything that is not a JSON object (an empty body, `OK`, a list) modifies nothing.
    """
    if not action.modifiable or not answer.strip():
        return {}
    try:
        # Read as the control API reads JSON: a number of thousands of digits is refused, not a 500.
        data = read_json(answer)
    except (ValueError, RecursionError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {
        parameter: parameter_text(data[key])
        for key, parameter in action.modifiable.items()
        if data.get(key) is not None
    }


@dataclass(frozen=True)
class HookConfiguration:
    """The configuration an action's hooks follow."""

    scope: str  # "service" or "account": what the delivery log's `configuration` says
    pre_webhook_url: str | None
    post_webhook_url: str | None
    method: str
    filters: frozenset[str]

    def url_for(self, event: str, hook: str) -> str | None:
        url = self.pre_webhook_url if hook == PRE else self.post_webhook_url
        return url if url and event in self.filters else None


def choose_configuration(
    session: Session, account_sid: str, chat_service_sid: str
) -> HookConfiguration | None:
    """The service's own configuration if it has a URL set, else the account's, else none."""
    own = get_configuration(session, account_sid, chat_service_sid)
    if own is not None and (own.pre_webhook_url or own.post_webhook_url):
        return HookConfiguration(
            "service",
            own.pre_webhook_url,
            own.post_webhook_url,
            own.method or DEFAULT_METHOD,
            frozenset(own.filters or ()),
        )
    account = get_account_configuration(session, account_sid)
    if account is None or not (account.pre_webhook_url or account.post_webhook_url):
        return None
    if account.target == "flex":
        # Twilio hands these events to Flex internally; nothing is sent to the configured URLs.
        return HookConfiguration("account", None, None, DEFAULT_METHOD, frozenset())
    return HookConfiguration(
        "account",
        account.pre_webhook_url,
        account.post_webhook_url,
        account.method or DEFAULT_METHOD,
        frozenset(account.filters or ()),
    )


@dataclass(frozen=True)
class Setup:
    configuration: HookConfiguration | None
    # The key deliveries are signed with; None when the emulator knows no token for the account.
    auth_token: str | None


def load_setup(session: Session, request: EventRequest, last_auth_tokens: SigningTokens) -> Setup:
    """The configuration and signing key for an action; 404 for an unknown account or service."""
    account = get_account(session, request.account_sid)
    if account is None:
        raise not_found(f"/Accounts/{request.account_sid}")
    if get_service(session, request.account_sid, request.chat_service_sid) is None:
        raise not_found(f"/v1/Services/{request.chat_service_sid}")
    token = signing_token(account, last_auth_tokens)
    return Setup(choose_configuration(session, request.account_sid, request.chat_service_sid), token)


def signing_token(
    account: Account, last_auth_tokens: SigningTokens, current: str | None = None
) -> str | None:
    """The key an account's deliveries are signed with: its own token when known; in permissive mode, else
    `current` (the token of the request being answered, remembered only once it is) or the one it last
    authenticated with."""
    return account.auth_token or current or last_auth_tokens.get(account.sid)


@dataclass(frozen=True)
class Result:
    outcome: str
    event: str
    post_event: str
    configuration: str | None
    params: dict[str, str]
    deliveries: list[Delivery]
    # Whether the action acted on stored state (the SDK path), and the resource it left, as the
    # service-form REST fetch shows it (None after a remove or a rejection, and for a simulation).
    stored: bool = False
    resource: dict[str, Any] | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome,
            "event": self.event,
            "post_event": self.post_event,
            "configuration": self.configuration,
            "params": self.params,
            "deliveries": [delivery.as_json() for delivery in self.deliveries],
            "stored": self.stored,
            "resource": self.resource,
        }


def hook_call(
    configuration: HookConfiguration | None,
    account_sid: str,
    chat_service_sid: str,
    event: str,
    hook: str,
    parameters: dict[str, str],
) -> HookCall | None:
    """The request a hook of the configuration makes, or None when it has no URL for the event."""
    url = configuration.url_for(event, hook) if configuration else None
    if configuration is None or url is None:
        return None
    return HookCall(
        account_sid=account_sid,
        chat_service_sid=chat_service_sid,
        event=event,
        hook=hook,
        configuration=configuration.scope,
        method=configuration.method,
        url=url,
        parameters=parameters,
    )


def verdict(
    action: Action, status: int | None, answer: bytes, values: dict[str, str]
) -> tuple[str, dict[str, str]]:
    """What a pre-event's answer decides: rejected (4xx, 5xx), or published with the changes a 2xx JSON
    answer makes to `values` (modified when there is one). No answer, or any other, publishes unmodified."""
    if status is not None and 400 <= status <= 599:
        return REJECTED, {}
    if status is None or not 200 <= status <= 299:
        return PUBLISHED, {}
    changes = {
        name: value for name, value in modifications(action, answer).items() if values.get(name) != value
    }
    return (MODIFIED if changes else PUBLISHED), changes


async def simulate(
    request: EventRequest,
    setup: Setup,
    timeout: float,
    log: DeliveryLog,
    targets: TargetPolicy | None = None,
) -> Result:
    """Run the action: its pre-event hook, the decision, then its post-event hook."""
    action = request.action
    configuration = setup.configuration
    moment = timestamp_ms()
    values = action_parameters(action, request.params, moment)
    deliveries: list[Delivery] = []

    def result(outcome: str, params: dict[str, str]) -> Result:
        scope = configuration.scope if configuration else None
        return Result(outcome, action.name, action.post_event, scope, params, deliveries)

    async with new_client(timeout) as client:

        async def fire(event: str, hook: str, params: dict[str, str]) -> tuple[int | None, bytes]:
            common = {
                "AccountSid": request.account_sid,
                "ChatServiceSid": request.chat_service_sid,
                "EventType": event,
                "Source": request.source,
                "RetryCount": "0",
            }
            call = hook_call(
                configuration,
                request.account_sid,
                request.chat_service_sid,
                event,
                hook,
                {**common, **params},
            )
            if call is None:
                return None, b""
            sent = await send(client, call, setup.auth_token, timeout, targets)
            await log.record(sent.delivery)
            deliveries.append(sent.delivery)
            return sent.delivery.status, sent.body

        outcome = PUBLISHED
        # REST API actions never fire pre-event hooks (Twilio); they publish straight away.
        if action.pre_event is not None and request.source == "SDK":
            status, answer = await fire(action.pre_event, PRE, values)
            outcome, changes = verdict(action, status, answer, values)
            if outcome == REJECTED:
                return result(REJECTED, values)
            values.update(changes)
        published = published_parameters(action, values, moment)
        await fire(action.post_event, POST, published)
    return result(outcome, published)
