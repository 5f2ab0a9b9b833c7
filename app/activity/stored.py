"""The events of stored resources: their parameters, taken from the rows (README: "Parameters"); where
they go (the configuration that applies, then the conversation's scoped webhooks); and their delivery.

REST calls (`rest.py`) and SDK actions on stored state (`sdk.py`) both announce what they stored this
way; they differ in who sends (`Sender`): the source, and the client identity an SDK action may carry.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from dataclasses import dataclass

from sqlmodel import Session

from ..control.deliveries import Delivery, DeliveryLog
from ..conversations.conversations.models import Conversation
from ..conversations.messages.models import ConversationMessage
from ..conversations.participants.models import Participant
from ..conversations.participants.service import messaging_binding
from ..conversations.scoped_webhooks.models import ConversationWebhook, webhooks_of
from ..twilio.clock import iso8601_ms
from .events import POST, choose_configuration, parameter_text
from .sender import HookCall, Sent, new_client, send
from .targets import TargetPolicy

# What the delivery log's `configuration` says of a conversation-scoped webhook.
CONVERSATION_SCOPE = "conversation"
SCOPED_DEFAULT_METHOD = "post"
TRIGGERED_EVENT = "onMessageAdded"
CHAT_BINDING = "CHAT"
DEFAULT_REASON = "API"


@dataclass(frozen=True)
class Event:
    name: str
    # The event's own parameters; the common ones are added per delivery.
    parameters: dict[str, str]


def _event(name: str, values: dict[str, str | None]) -> Event:
    # A null value is left out rather than sent empty.
    return Event(name, {key: value for key, value in values.items() if value is not None})


def _only(values: dict[str, str | None], *names: str) -> dict[str, str | None]:
    return {name: values[name] for name in names}


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


def conversation_add_event(conversation: Conversation) -> Event:
    """The pre-event of a conversation to be created: it has no SID yet."""
    values = _only(
        _conversation_values(conversation),
        "FriendlyName",
        "UniqueName",
        "Attributes",
        "MessagingServiceSid",
        "State",
    )
    return _event("onConversationAdd", values)


def conversation_event(name: str, conversation: Conversation) -> Event:
    """onConversationAdded, onConversationUpdate(d), onConversationRemove: the conversation's values."""
    return _event(name, _conversation_values(conversation))


def state_updated_event(
    conversation: Conversation, previous_state: str, reason: str = DEFAULT_REASON
) -> Event:
    state = {
        "ConversationSid": conversation.sid,
        "StateFrom": previous_state,
        "StateTo": conversation.state,
        "StateUpdated": iso8601_ms(conversation.date_updated),
        "Reason": reason,
        "MessagingServiceSid": conversation.messaging_service_sid,
    }
    return _event("onConversationStateUpdated", state)


def conversation_updated_events(conversation: Conversation, previous_state: str) -> list[Event]:
    """onConversationUpdated; then onConversationStateUpdated when the update changed the state."""
    events = [conversation_event("onConversationUpdated", conversation)]
    if conversation.state != previous_state:
        events.append(state_updated_event(conversation, previous_state))
    return events


def conversation_removed_events(conversation: Conversation, removed_at: str) -> list[Event]:
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


def participant_add_event(participant: Participant) -> Event:
    """The pre-event of a participant to be created: no SID, no dates yet."""
    values = _participant_values(participant)
    for name in ("ParticipantSid", "DateCreated", "DateUpdated"):
        del values[name]
    return _event("onParticipantAdd", values)


def participant_event(name: str, participant: Participant) -> Event:
    """onParticipantUpdate, onParticipantRemove: the participant's values."""
    return _event(name, _participant_values(participant))


def participant_added_events(participant: Participant) -> list[Event]:
    values = _participant_values(participant)
    del values["DateUpdated"]  # not among onParticipantAdded's parameters
    return [_event("onParticipantAdded", values)]


def participant_updated_events(participant: Participant) -> list[Event]:
    index = participant.last_read_message_index
    values = {
        **_participant_values(participant),
        "LastReadMessageIndex": None if index is None else str(index),
    }
    return [_event("onParticipantUpdated", values)]


def participant_removed_events(participant: Participant, removed_at: str) -> list[Event]:
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


def message_add_event(message: ConversationMessage) -> Event:
    """The pre-event of a message to be created: no SID, index or dates yet."""
    values = _only(
        _message_values(message), "ConversationSid", "Body", "Author", "ParticipantSid", "Attributes", "Media"
    )
    return _event("onMessageAdd", values)


def message_event(name: str, message: ConversationMessage) -> Event:
    """onMessageUpdate, onMessageRemove: the message's values."""
    return _event(name, _message_values(message))


def message_added_events(conversation: Conversation, message: ConversationMessage) -> list[Event]:
    values = _message_values(message)
    del values["DateUpdated"]  # not among onMessageAdded's parameters
    return [_event("onMessageAdded", {**values, "MessagingServiceSid": conversation.messaging_service_sid})]


def message_updated_events(message: ConversationMessage) -> list[Event]:
    return [message_event("onMessageUpdated", message)]


def message_removed_events(message: ConversationMessage, removed_at: str) -> list[Event]:
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
    # A conversation-scoped webhook's SID. Its deliveries carry it as `WebhookSid`, which is how a handler
    # removes the webhook that called it (bots and Studio hand-offs do).
    webhook_sid: str | None = None

    def takes(self, event: Event) -> bool:
        if event.name not in self.events:
            return False
        return not self.keywords or holds_keyword(event.parameters.get("Body", ""), self.keywords)

    def parameters(self, common: dict[str, str]) -> dict[str, str]:
        """A delivery's parameters: the sender's and the event's, then this target's own."""
        return common if self.webhook_sid is None else {**common, "WebhookSid": self.webhook_sid}


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
        events = frozenset(webhook.filters or ())
        return Target(CONVERSATION_SCOPE, webhook.url, method, events, webhook_sid=webhook.sid)
    if webhook.target == "trigger" and webhook.triggers:
        events, keywords = frozenset({TRIGGERED_EVENT}), tuple(webhook.triggers)
        return Target(CONVERSATION_SCOPE, webhook.url, method, events, keywords, webhook.sid)
    return None


def post_event_targets(
    session: Session, conversation: Conversation, hooks: Sequence[ConversationWebhook] | None = None
) -> list[Target]:
    """The configuration's post-event URL, then the conversation's scoped webhooks (`hooks`, when read
    before a delete)."""
    targets: list[Target] = []
    configuration = choose_configuration(session, conversation.account_sid, conversation.chat_service_sid)
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
    return targets


# --- delivery ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sender:
    """Who an action's deliveries come from and how they go."""

    account_sid: str
    source: str  # "API" or "SDK"
    # None when the emulator knows no token to sign with: each delivery is logged as not sent.
    auth_token: str | None
    timeout: float
    policy: TargetPolicy | None
    log: DeliveryLog
    # An SDK action's client, when the caller named one.
    client_identity: str | None = None

    def parameters(self, chat_service_sid: str, event: Event) -> dict[str, str]:
        """The common parameters of every delivery, then the event's own."""
        common = {
            "AccountSid": self.account_sid,
            "ChatServiceSid": chat_service_sid,
            "EventType": event.name,
            "Source": self.source,
            "RetryCount": "0",
        }
        if self.client_identity is not None:
            common["ClientIdentity"] = self.client_identity
        return {**common, **event.parameters}


async def deliver(
    sender: Sender, chat_service_sid: str, events: Sequence[Event], targets: Sequence[Target]
) -> list[Delivery]:
    """Each target gets its events in order; targets are served concurrently; the log lists the
    deliveries event by event, each event's in the order of the targets."""
    planned = [
        (event, number) for event in events for number, target in enumerate(targets) if target.takes(event)
    ]
    if not planned:
        return []
    hook_calls = [
        HookCall(
            account_sid=sender.account_sid,
            chat_service_sid=chat_service_sid,
            event=event.name,
            hook=POST,
            configuration=targets[number].configuration,
            method=targets[number].method,
            url=targets[number].url,
            parameters=targets[number].parameters(sender.parameters(chat_service_sid, event)),
        )
        for event, number in planned
    ]
    sent: list[Sent | None] = [None] * len(planned)
    async with new_client(sender.timeout) as client:

        async def serve(target_number: int) -> None:
            for position, (_, number) in enumerate(planned):
                if number == target_number:
                    sent[position] = await send(
                        client, hook_calls[position], sender.auth_token, sender.timeout, sender.policy
                    )

        await asyncio.gather(*(serve(number) for number in sorted({number for _, number in planned})))
    delivered = [result.delivery for result in sent if result is not None]
    for delivery in delivered:
        await sender.log.record(delivery)
    return delivered
