"""The post-event hooks of REST calls (README: "REST calls fire post-events").

A create, update or delete of a conversation, participant or message made with
`X-Twilio-Webhook-Enabled: true` sends its post-events, never a pre-event: first to the configuration
`choose_configuration` picks (its post-event URL, for the events in its filters), then to each of the
conversation's scoped webhooks that takes the event. Their parameters are the stored rows' values. They go
out after the write commits and before the answer, and nothing a handler does changes that answer.

Routers call one function per action after their write; each does nothing without the header.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass

from sqlmodel import Session

from ..accounts.models import get_account
from ..control.inputs import emulator_state
from ..conversations.conversations.models import Conversation
from ..conversations.messages.models import ConversationMessage
from ..conversations.participants.models import Participant
from ..conversations.participants.service import messaging_binding
from ..conversations.scoped_webhooks.models import ConversationWebhook, webhooks_of
from ..edge.deps import TwilioCall
from ..twilio.clock import iso8601_ms, timestamp_ms
from .events import POST, choose_configuration, parameter_text, signing_token
from .sender import HookCall, Sent, new_client, send
from .targets import TargetPolicy

logger = logging.getLogger(__name__)

HEADER = "x-twilio-webhook-enabled"
SOURCE = "API"
# What the delivery log's `configuration` says of a conversation-scoped webhook.
CONVERSATION_SCOPE = "conversation"
SCOPED_DEFAULT_METHOD = "post"
TRIGGERED_EVENT = "onMessageAdded"
CHAT_BINDING = "CHAT"


def webhooks_enabled(call: TwilioCall) -> bool:
    """`X-Twilio-Webhook-Enabled: true`, in any ASCII case. Any other value is the header's absence."""
    value = call.request.headers.get(HEADER)
    return value is not None and value.isascii() and value.lower() == "true"


@dataclass(frozen=True)
class PostEvent:
    name: str
    # The event's own parameters; the common ones are added per delivery.
    parameters: dict[str, str]


def _event(name: str, values: dict[str, str | None]) -> PostEvent:
    # A null value is left out rather than sent empty.
    return PostEvent(name, {key: value for key, value in values.items() if value is not None})


# --- the events' parameters, from stored rows ----------------------------------------------------------


def _conversation_values(conversation: Conversation) -> dict[str, str | None]:
    return {
        "ConversationSid": conversation.sid,
        "DateCreated": iso8601_ms(conversation.date_created),
        "DateUpdated": iso8601_ms(conversation.date_updated),
        "FriendlyName": conversation.friendly_name,
        "UniqueName": conversation.unique_name,
        "Attributes": conversation.attributes,
        "MessagingServiceSid": conversation.messaging_service_sid,
        "State": conversation.state,
    }


def conversation_added_events(conversation: Conversation) -> list[PostEvent]:
    return [_event("onConversationAdded", _conversation_values(conversation))]


def conversation_updated_events(conversation: Conversation, previous_state: str) -> list[PostEvent]:
    """onConversationUpdated; then onConversationStateUpdated when the update changed the state."""
    events = [_event("onConversationUpdated", _conversation_values(conversation))]
    if conversation.state != previous_state:
        state = {
            "ConversationSid": conversation.sid,
            "StateFrom": previous_state,
            "StateTo": conversation.state,
            "StateUpdated": iso8601_ms(conversation.date_updated),
            "Reason": "API",
            "MessagingServiceSid": conversation.messaging_service_sid,
        }
        events.append(_event("onConversationStateUpdated", state))
    return events


def conversation_removed_events(conversation: Conversation, removed_at: str) -> list[PostEvent]:
    return [
        _event("onConversationRemoved", {**_conversation_values(conversation), "DateRemoved": removed_at})
    ]


def _binding_values(participant: Participant) -> dict[str, str | None]:
    binding = messaging_binding(participant)
    return {
        "MessagingBinding.Address": participant.address,
        "MessagingBinding.ProxyAddress": participant.proxy_address,
        "MessagingBinding.ProjectedAddress": participant.projected_address,
        "MessagingBinding.Type": binding["type"].upper() if binding else CHAT_BINDING,
    }


def _participant_values(participant: Participant) -> dict[str, str | None]:
    return {
        "ConversationSid": participant.conversation_sid,
        "ParticipantSid": participant.sid,
        "DateCreated": iso8601_ms(participant.date_created),
        "DateUpdated": iso8601_ms(participant.date_updated),
        "Identity": participant.identity,
        "RoleSid": participant.role_sid,
        "Attributes": participant.attributes,
        **_binding_values(participant),
    }


def participant_added_events(participant: Participant) -> list[PostEvent]:
    values = _participant_values(participant)
    del values["DateUpdated"]  # not among onParticipantAdded's parameters
    return [_event("onParticipantAdded", values)]


def participant_updated_events(participant: Participant) -> list[PostEvent]:
    index = participant.last_read_message_index
    values = {
        **_participant_values(participant),
        "LastReadMessageIndex": None if index is None else str(index),
    }
    return [_event("onParticipantUpdated", values)]


def participant_removed_events(participant: Participant, removed_at: str) -> list[PostEvent]:
    return [_event("onParticipantRemoved", {**_participant_values(participant), "DateRemoved": removed_at})]


def _media(message: ConversationMessage) -> str | None:
    """A JSON array text, as Twilio sends it; only the SID is known (there is no Media service here)."""
    if message.media_sid is None:
        return None
    return parameter_text([{"Sid": message.media_sid, "Filename": None, "ContentType": None, "Size": None}])


def _message_values(message: ConversationMessage) -> dict[str, str | None]:
    return {
        "ConversationSid": message.conversation_sid,
        "MessageSid": message.sid,
        "Index": str(message.index),
        "DateCreated": iso8601_ms(message.date_created),
        "DateUpdated": iso8601_ms(message.date_updated),
        "Body": message.body,
        "Author": message.author,
        "ParticipantSid": message.participant_sid,
        "Attributes": message.attributes,
        "Media": _media(message),
    }


def message_added_events(conversation: Conversation, message: ConversationMessage) -> list[PostEvent]:
    values = _message_values(message)
    del values["DateUpdated"]  # not among onMessageAdded's parameters
    return [_event("onMessageAdded", {**values, "MessagingServiceSid": conversation.messaging_service_sid})]


def message_updated_events(message: ConversationMessage) -> list[PostEvent]:
    return [_event("onMessageUpdated", _message_values(message))]


def message_removed_events(message: ConversationMessage, removed_at: str) -> list[PostEvent]:
    return [_event("onMessageRemoved", {**_message_values(message), "DateRemoved": removed_at})]


# --- where they go -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """One URL the events may go to, and which of them it takes."""

    configuration: str  # "service", "account" or "conversation"
    url: str
    method: str
    events: frozenset[str]
    # A trigger's keywords: it takes only messages whose body holds one.
    keywords: tuple[str, ...] = ()

    def takes(self, event: PostEvent) -> bool:
        if event.name not in self.events:
            return False
        return not self.keywords or holds_keyword(event.parameters.get("Body", ""), self.keywords)


def holds_keyword(body: str, keywords: Sequence[str]) -> bool:
    """One of the keywords as a whole word (not inside a longer word), in any case."""
    return any(
        re.search(rf"(?<!\w){re.escape(keyword)}(?!\w)", body, re.IGNORECASE) is not None
        for keyword in keywords
    )


def scoped_webhooks(session: Session, conversation: Conversation) -> list[ConversationWebhook]:
    """The conversation's scoped webhooks, in creation order: read before a delete, whose cascade
    removes them, so that onConversationRemoved still reaches them. Copies: a write's session is shared
    with the writes committed with it."""
    return [
        ConversationWebhook.model_validate(webhook.model_dump())
        for webhook in webhooks_of(session, conversation.account_sid, conversation.sid)
    ]


def _scoped_target(webhook: ConversationWebhook) -> Target | None:
    if webhook.url is None:
        return None  # a studio flow: there is no Studio here to run it
    method = (webhook.method or SCOPED_DEFAULT_METHOD).upper()
    if webhook.target == "webhook":
        return Target(CONVERSATION_SCOPE, webhook.url, method, frozenset(webhook.filters or ()))
    if webhook.target == "trigger" and webhook.triggers:
        return Target(
            CONVERSATION_SCOPE, webhook.url, method, frozenset({TRIGGERED_EVENT}), tuple(webhook.triggers)
        )
    return None


@dataclass(frozen=True)
class Plan:
    targets: list[Target]
    # None when the emulator knows no token to sign with: each delivery is logged as not sent.
    auth_token: str | None


def _plan(
    session: Session,
    call: TwilioCall,
    conversation: Conversation,
    hooks: Sequence[ConversationWebhook] | None,
) -> Plan:
    targets: list[Target] = []
    configuration = choose_configuration(session, call.account_sid, conversation.chat_service_sid)
    if configuration is not None and configuration.post_webhook_url:
        targets.append(
            Target(
                configuration.scope,
                configuration.post_webhook_url,
                configuration.method,
                configuration.filters,
            )
        )
    for webhook in scoped_webhooks(session, conversation) if hooks is None else hooks:
        target = _scoped_target(webhook)
        if target is not None:
            targets.append(target)
    account = get_account(session, call.account_sid)
    token = None
    if account is not None:
        # This request's own token is the one the account last authenticated with, though it is
        # remembered only as the answer goes.
        signer = call.context.signer
        current = signer[1] if signer is not None and signer[0] == call.account_sid else None
        token = signing_token(account, emulator_state(call.request).last_auth_tokens, current)
    return Plan(targets, token)


async def _deliver(call: TwilioCall, chat_service_sid: str, events: list[PostEvent], plan: Plan) -> None:
    """Each target gets its events in order; targets are served concurrently; the log lists the
    deliveries event by event, each event's in the order of the targets."""
    planned = [
        (event, number)
        for event in events
        for number, target in enumerate(plan.targets)
        if target.takes(event)
    ]
    if not planned:
        return
    settings = call.settings
    timeout = settings.webhook_timeout
    allowed = settings.webhook_allowed_targets
    policy = TargetPolicy.parse(allowed) if allowed is not None else None
    hook_calls = [
        HookCall(
            account_sid=call.account_sid,
            chat_service_sid=chat_service_sid,
            event=event.name,
            hook=POST,
            configuration=plan.targets[number].configuration,
            method=plan.targets[number].method,
            url=plan.targets[number].url,
            parameters={
                "AccountSid": call.account_sid,
                "ChatServiceSid": chat_service_sid,
                "EventType": event.name,
                "Source": SOURCE,
                "RetryCount": "0",
                **event.parameters,
            },
        )
        for event, number in planned
    ]
    sent: list[Sent | None] = [None] * len(planned)
    async with new_client(timeout) as client:

        async def serve(target_number: int) -> None:
            for position, (_, number) in enumerate(planned):
                if number == target_number:
                    sent[position] = await send(
                        client, hook_calls[position], plan.auth_token, timeout, policy
                    )

        await asyncio.gather(*(serve(number) for number in sorted({number for _, number in planned})))
    log = emulator_state(call.request).deliveries
    for result in sent:
        if result is not None:
            await log.record(result.delivery)


async def _announce(
    call: TwilioCall,
    conversation: Conversation,
    events: list[PostEvent],
    hooks: Sequence[ConversationWebhook] | None = None,
) -> None:
    """Deliver the events of a committed write. Never raises: the answer is the write's, whatever
    happens here."""
    try:
        with call.database.reading() as session:
            plan = _plan(session, call, conversation, hooks)
        await _deliver(call, conversation.chat_service_sid, events, plan)
    except Exception:
        logger.exception("cannot deliver %s", ", ".join(event.name for event in events))


# --- what the routers call after their write -------------------------------------------------------------


async def conversation_added(call: TwilioCall, conversation: Conversation) -> None:
    if webhooks_enabled(call):
        await _announce(call, conversation, conversation_added_events(conversation))


async def conversation_updated(call: TwilioCall, conversation: Conversation, previous_state: str) -> None:
    if webhooks_enabled(call):
        await _announce(call, conversation, conversation_updated_events(conversation, previous_state))


async def conversation_removed(
    call: TwilioCall, conversation: Conversation, hooks: Sequence[ConversationWebhook]
) -> None:
    """`hooks`: the conversation's scoped webhooks as they were before the delete."""
    if webhooks_enabled(call):
        await _announce(call, conversation, conversation_removed_events(conversation, timestamp_ms()), hooks)


async def participant_added(call: TwilioCall, conversation: Conversation, participant: Participant) -> None:
    if webhooks_enabled(call):
        await _announce(call, conversation, participant_added_events(participant))


async def participant_updated(call: TwilioCall, conversation: Conversation, participant: Participant) -> None:
    if webhooks_enabled(call):
        await _announce(call, conversation, participant_updated_events(participant))


async def participant_removed(call: TwilioCall, conversation: Conversation, participant: Participant) -> None:
    if webhooks_enabled(call):
        await _announce(call, conversation, participant_removed_events(participant, timestamp_ms()))


async def message_added(call: TwilioCall, conversation: Conversation, message: ConversationMessage) -> None:
    if webhooks_enabled(call):
        await _announce(call, conversation, message_added_events(conversation, message))


async def message_updated(call: TwilioCall, conversation: Conversation, message: ConversationMessage) -> None:
    if webhooks_enabled(call):
        await _announce(call, conversation, message_updated_events(message))


async def message_removed(call: TwilioCall, conversation: Conversation, message: ConversationMessage) -> None:
    if webhooks_enabled(call):
        await _announce(call, conversation, message_removed_events(message, timestamp_ms()))
