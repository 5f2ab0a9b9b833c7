"""The post-event hooks of REST calls (README: "REST calls fire post-events").

A create, update or delete of a conversation, participant or message made with
`X-Twilio-Webhook-Enabled: true` sends its post-events, never a pre-event: first to the configuration
`choose_configuration` picks (its post-event URL, for the events in its filters), then to each of the
conversation's scoped webhooks that takes the event (`stored.py`). Their parameters are the stored rows'
values. They go out after the write commits and before the answer (or after it, with `--webhook-delivery
after-answer`), and nothing a handler does changes that answer.

Routers call one function per action after their write; each does nothing without the header.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from ..accounts.models import get_account
from ..control.inputs import emulator_state
from ..conversations.conversations.models import Conversation
from ..conversations.messages.models import ConversationMessage
from ..conversations.participants.models import Participant
from ..conversations.scoped_webhooks.models import ConversationWebhook
from ..edge.deps import TwilioCall
from ..twilio.clock import timestamp_ms
from . import stored
from .events import signing_token
from .stored import Event, Sender, deliver, post_event_targets
from .targets import target_policy

logger = logging.getLogger(__name__)

HEADER = "x-twilio-webhook-enabled"
SOURCE = "API"
AFTER_ANSWER = "after-answer"


def webhooks_enabled(call: TwilioCall) -> bool:
    """`X-Twilio-Webhook-Enabled: true`, in any ASCII case. Any other value is the header's absence."""
    value = call.request.headers.get(HEADER)
    return value is not None and value.isascii() and value.lower() == "true"


def _sender(call: TwilioCall, auth_token: str | None) -> Sender:
    settings = call.settings
    return Sender(
        call.account_sid,
        SOURCE,
        auth_token,
        settings.webhook_timeout,
        target_policy(settings.webhook_allowed_targets),
        emulator_state(call.request).deliveries,
    )


async def _announce(
    call: TwilioCall,
    conversation: Conversation,
    events: list[Event],
    hooks: Sequence[ConversationWebhook] | None = None,
) -> None:
    """Deliver the events of a committed write, before the answer or, in `after-answer` mode, once it has
    been sent. Where they go and who signs them is settled now, with the write. Never raises: the answer
    is the write's, whatever happens here."""
    names = ", ".join(event.name for event in events)
    try:
        with call.database.reading() as session:
            targets = post_event_targets(session, conversation, hooks)
            account = get_account(session, call.account_sid)
        token = None
        if account is not None:
            # This request's own token is the one the account last authenticated with, though it is
            # remembered only as the answer goes.
            signer = call.context.signer
            current = signer[1] if signer is not None and signer[0] == call.account_sid else None
            token = signing_token(account, emulator_state(call.request).last_auth_tokens, current)
        sender, service = _sender(call, token), conversation.chat_service_sid
    except Exception:
        logger.exception("cannot deliver %s", names)
        return

    async def delivery() -> None:
        try:
            await deliver(sender, service, events, targets)
        except asyncio.CancelledError:
            # mock_twilio's block ended, or the server stopped, before the handler answered.
            logger.warning("delivery of %s cancelled before it ended", names)
            raise
        except Exception:
            logger.exception("cannot deliver %s", names)

    if call.settings.webhook_delivery == AFTER_ANSWER:
        call.context.after_answer.append(delivery)
    else:
        await delivery()


# --- what the routers call after their write -------------------------------------------------------------


async def conversation_added(call: TwilioCall, conversation: Conversation) -> None:
    if webhooks_enabled(call):
        await _announce(call, conversation, [stored.conversation_event("onConversationAdded", conversation)])


async def conversation_updated(call: TwilioCall, conversation: Conversation, previous_state: str) -> None:
    if webhooks_enabled(call):
        await _announce(call, conversation, stored.conversation_updated_events(conversation, previous_state))


async def conversation_removed(
    call: TwilioCall, conversation: Conversation, hooks: Sequence[ConversationWebhook]
) -> None:
    """`hooks`: the conversation's scoped webhooks as they were before the delete."""
    if webhooks_enabled(call):
        events = stored.conversation_removed_events(conversation, timestamp_ms())
        await _announce(call, conversation, events, hooks)


async def participant_added(call: TwilioCall, conversation: Conversation, participant: Participant) -> None:
    if webhooks_enabled(call):
        await _announce(call, conversation, stored.participant_added_events(participant))


async def participant_updated(call: TwilioCall, conversation: Conversation, participant: Participant) -> None:
    if webhooks_enabled(call):
        await _announce(call, conversation, stored.participant_updated_events(participant))


async def participant_removed(call: TwilioCall, conversation: Conversation, participant: Participant) -> None:
    if webhooks_enabled(call):
        await _announce(call, conversation, stored.participant_removed_events(participant, timestamp_ms()))


async def message_added(call: TwilioCall, conversation: Conversation, message: ConversationMessage) -> None:
    if webhooks_enabled(call):
        await _announce(call, conversation, stored.message_added_events(conversation, message))


async def message_updated(call: TwilioCall, conversation: Conversation, message: ConversationMessage) -> None:
    if webhooks_enabled(call):
        await _announce(call, conversation, stored.message_updated_events(message))


async def message_removed(call: TwilioCall, conversation: Conversation, message: ConversationMessage) -> None:
    if webhooks_enabled(call):
        await _announce(call, conversation, stored.message_removed_events(message, timestamp_ms()))
