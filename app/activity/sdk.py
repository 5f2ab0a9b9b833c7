"""SDK actions on stored state (README: "The SDK path"): `POST /_emulator/events` whose params name a
stored conversation (for `onConversationAdd`: none) acts on it as a client SDK would.

1. The action is checked with the REST rules by running the REST storage function in a transaction that
   is rolled back: whatever a REST call would refuse (a bad parameter, a taken unique name, a closed
   conversation) answers 400 with the REST code, and nothing is sent.
2. With `source: "SDK"`, the pre-event goes to the configuration that applies, carrying the values as
   they will be. 4xx/5xx rejects the action; a 2xx JSON answer may modify the fields Twilio lets it, and
   the modified parameters go through the REST rules again when stored.
3. The REST storage function stores the action in one transaction; the post-events carry the stored
   values and go where a REST call's go (`stored.py`): the configuration, then the scoped webhooks.

Params naming no stored conversation keep the pure simulation of `events.py`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlmodel import Session

from ..conversations.conversations import service as conversation_rules
from ..conversations.conversations.models import Conversation, conversation_in_account
from ..conversations.conversations.paths import ConversationPath
from ..conversations.conversations.router import conversation_json
from ..conversations.messages import service as message_rules
from ..conversations.messages.models import ConversationMessage
from ..conversations.messages.router import message_json
from ..conversations.participants import service as participant_rules
from ..conversations.participants.models import Participant
from ..conversations.participants.router import participant_json
from ..db import Database
from ..twilio.clock import now, pinned, timestamp_ms
from ..twilio.errors import MISSING_PARAMETER, NotFound, TwilioError, not_found
from ..twilio.forms import FormParameters
from . import stored
from .events import PRE, PUBLISHED, REJECTED, EventRequest, Result, Setup, hook_call, verdict
from .sender import new_client, send
from .stored import DEFAULT_REASON, Event, Sender, Target, deliver, post_event_targets

SDK = "SDK"

# The parameters each action takes from the caller's params, by the REST form's names.
CONVERSATION_FIELDS = ("FriendlyName", "UniqueName", "Attributes", "MessagingServiceSid", "State")
PARTICIPANT_ADD_FIELDS = (
    "Identity",
    "MessagingBinding.Address",
    "MessagingBinding.ProxyAddress",
    "MessagingBinding.ProjectedAddress",
    "Attributes",
    "RoleSid",
)
PARTICIPANT_UPDATE_FIELDS = ("Attributes", "RoleSid", "LastReadMessageIndex", "LastReadTimestamp")
MESSAGE_ADD_FIELDS = ("Body", "Author", "Attributes", "MediaSid")
MESSAGE_UPDATE_FIELDS = ("Body", "Author", "Attributes")


@dataclass(frozen=True)
class Stored:
    """What the store of an action did (or, in the trial, would do)."""

    # The pre-event with the values as they will be; None for an event Twilio sends only after the fact.
    pre: Event | None
    events: list[Event]
    # The service-form REST body of what was stored; None after a remove.
    resource: dict[str, Any] | None
    targets: list[Target]


Work = Callable[[Session], Stored]
Row = TypeVar("Row")


@dataclass(frozen=True)
class Context:
    """What every action on one conversation (or, for an add, one service) knows before it runs."""

    account_sid: str
    form: conversation_rules.ServiceForm
    # None for onConversationAdd.
    conversation: Conversation | None
    base_url: str

    @property
    def current(self) -> Conversation:
        assert self.conversation is not None
        return self.conversation

    def path(self) -> ConversationPath:
        return ConversationPath(self.form, self.current)

    def result(
        self,
        session: Session,
        conversation: Conversation,
        pre: Event | None,
        events: list[Event],
        resource: dict[str, Any] | None,
        targets: list[Target] | None = None,
    ) -> Stored:
        if targets is None:
            targets = post_event_targets(session, conversation)
        return Stored(pre, events, resource, targets)


Builder = Callable[[Session, Context, dict[str, str]], Work]


def _form(params: dict[str, str], names: tuple[str, ...]) -> FormParameters:
    return FormParameters([(name, params[name]) for name in names if name in params])


# --- the actions: each checks its params and returns the write that stores it ----------------------------


def _add_conversation(_: Session, context: Context, params: dict[str, str]) -> Work:
    changes = conversation_rules.changes_from_form(_form(params, CONVERSATION_FIELDS), creating=True)

    def work(session: Session) -> Stored:
        created = conversation_rules.create_conversation(session, context.account_sid, context.form, changes)
        return context.result(
            session,
            created,
            stored.conversation_add_event(created),
            [stored.conversation_event("onConversationAdded", created)],
            conversation_json(created, context.form, context.base_url),
        )

    return work


def _update_conversation(_: Session, context: Context, params: dict[str, str]) -> Work:
    changes = conversation_rules.changes_from_form(_form(params, CONVERSATION_FIELDS), creating=False)
    return _conversation_update(context, changes, "onConversationUpdate", DEFAULT_REASON)


def _update_state(_: Session, context: Context, params: dict[str, str]) -> Work:
    if "StateTo" not in params:
        raise TwilioError(400, MISSING_PARAMETER, "Missing required parameter StateTo in params")
    changes = conversation_rules.changes_from_form(
        FormParameters([("State", params["StateTo"])]), creating=False
    )
    return _conversation_update(context, changes, None, params.get("Reason", DEFAULT_REASON))


def _conversation_update(context: Context, changes: dict[str, Any], pre: str | None, reason: str) -> Work:
    """onConversationUpdate (its post-events as a REST update's), or, without a pre-event, the
    onConversationStateUpdated of a state change alone."""

    def work(session: Session) -> Stored:
        updated, previous = conversation_rules.update_conversation(
            session, context.account_sid, context.form, context.current.sid, changes
        )
        if pre is None:
            events = [stored.state_updated_event(updated, previous, reason)]
        else:
            events = stored.conversation_updated_events(updated, previous)
        return context.result(
            session,
            updated,
            None if pre is None else stored.conversation_event(pre, updated),
            events,
            conversation_json(updated, context.form, context.base_url),
        )

    return work


def _remove_conversation(_: Session, context: Context, params: dict[str, str]) -> Work:
    def work(session: Session) -> Stored:
        sid = context.current.sid
        # Read before the delete's cascade removes them.
        hooks = stored.scoped_webhooks(session, context.current)
        removed = conversation_rules.delete_conversation(session, context.account_sid, context.form, sid)
        return context.result(
            session,
            removed,
            stored.conversation_event("onConversationRemove", removed),
            stored.conversation_removed_events(removed, timestamp_ms()),
            None,
            post_event_targets(session, removed, hooks),
        )

    return work


def _add_participant(_: Session, context: Context, params: dict[str, str]) -> Work:
    new = participant_rules.new_participant_from_form(_form(params, PARTICIPANT_ADD_FIELDS))

    def work(session: Session) -> Stored:
        created = participant_rules.create_participant(session, context.account_sid, context.current, new)
        return context.result(
            session,
            context.current,
            stored.participant_add_event(created),
            stored.participant_added_events(created),
            participant_json(created, context.path(), context.base_url),
        )

    return work


def _add_message(_: Session, context: Context, params: dict[str, str]) -> Work:
    changes = message_rules.changes_from_form(_form(params, MESSAGE_ADD_FIELDS), creating=True)

    def work(session: Session) -> Stored:
        created = message_rules.create_message(session, context.account_sid, context.current, changes)
        return context.result(
            session,
            context.current,
            stored.message_add_event(created),
            stored.message_added_events(context.current, created),
            message_json(created, context.path(), context.base_url),
        )

    return work


@dataclass(frozen=True)
class Child(Generic[Row]):
    """A resource under the conversation that an action updates or removes, named by a key in its params:
    how the REST rules find, check, update and delete it, and what its events and body say."""

    event: str  # the events' stem: onParticipant, onMessage
    keys: tuple[str, ...]  # the params that may name it, in order
    find: Callable[[Session, Context, str], object]
    changes: Callable[[dict[str, str]], Any]
    update: Callable[[Session, Context, str, Any], Row]
    delete: Callable[[Session, Context, str], Row]
    event_of: Callable[[str, Row], Event]
    updated_events: Callable[[Row], list[Event]]
    removed_events: Callable[[Row, str], list[Event]]
    shaped: Callable[[Row, ConversationPath, str], dict[str, Any]]

    def key(self, session: Session, context: Context, params: dict[str, str]) -> str:
        """What names it: checked first, as a REST update's path is (404 before the params)."""
        key = next((params[name] for name in self.keys if name in params), None)
        if key is None:
            raise NotFound
        self.find(session, context, key)
        return key


def _updating(child: Child[Row]) -> Builder:
    def build(session: Session, context: Context, params: dict[str, str]) -> Work:
        key = child.key(session, context, params)
        changes = child.changes(params)

        def work(session: Session) -> Stored:
            updated = child.update(session, context, key, changes)
            return context.result(
                session,
                context.current,
                child.event_of(f"{child.event}Update", updated),
                child.updated_events(updated),
                child.shaped(updated, context.path(), context.base_url),
            )

        return work

    return build


def _removing(child: Child[Row]) -> Builder:
    def build(session: Session, context: Context, params: dict[str, str]) -> Work:
        key = child.key(session, context, params)

        def work(session: Session) -> Stored:
            removed = child.delete(session, context, key)
            return context.result(
                session,
                context.current,
                child.event_of(f"{child.event}Remove", removed),
                child.removed_events(removed, timestamp_ms()),
                None,
            )

        return work

    return build


PARTICIPANT = Child[Participant](
    "onParticipant",
    ("ParticipantSid", "Identity"),
    lambda session, context, key: participant_rules.find_participant(
        session, context.account_sid, context.current.sid, key
    ),
    lambda params: participant_rules.changes_from_form(_form(params, PARTICIPANT_UPDATE_FIELDS)),
    lambda session, context, key, changes: participant_rules.update_participant(
        session, context.account_sid, context.current, key, changes
    ),
    lambda session, context, key: participant_rules.delete_participant(
        session, context.account_sid, context.current, key
    ),
    stored.participant_event,
    stored.participant_updated_events,
    stored.participant_removed_events,
    participant_json,
)
MESSAGE = Child[ConversationMessage](
    "onMessage",
    ("MessageSid",),
    lambda session, context, key: message_rules.find_message(
        session, context.account_sid, context.current, key
    ),
    lambda params: message_rules.changes_from_form(_form(params, MESSAGE_UPDATE_FIELDS), creating=False),
    lambda session, context, key, changes: message_rules.update_message(
        session, context.account_sid, context.current, key, changes
    ),
    lambda session, context, key: message_rules.delete_message(
        session, context.account_sid, context.current, key
    ),
    stored.message_event,
    stored.message_updated_events,
    stored.message_removed_events,
    message_json,
)


@dataclass(frozen=True)
class Kind:
    build: Builder
    # Under the conversation: the collection of the resource and the params naming it, for a 404's path.
    collection: str | None = None
    key: tuple[str, ...] = ()


# The actions that may act on stored state, by the event that names them; any other event is simulated.
ACTIONS = {
    "onConversationAdd": Kind(_add_conversation),
    "onConversationUpdate": Kind(_update_conversation),
    "onConversationRemove": Kind(_remove_conversation),
    "onConversationStateUpdated": Kind(_update_state),
    "onParticipantAdd": Kind(_add_participant, "Participants"),
    "onParticipantUpdate": Kind(_updating(PARTICIPANT), "Participants", PARTICIPANT.keys),
    "onParticipantRemove": Kind(_removing(PARTICIPANT), "Participants", PARTICIPANT.keys),
    "onMessageAdd": Kind(_add_message, "Messages"),
    "onMessageUpdate": Kind(_updating(MESSAGE), "Messages", MESSAGE.keys),
    "onMessageRemove": Kind(_removing(MESSAGE), "Messages", MESSAGE.keys),
}
ADD = "onConversationAdd"


def _conflict(message: str) -> TwilioError:
    return TwilioError(400, MISSING_PARAMETER, message)


@dataclass(frozen=True)
class Plan:
    """An action that acts on stored state: its kind, what it knows, and the caller's params."""

    kind: Kind
    context: Context
    params: dict[str, str]
    # When the client acted: the dates the action stores.
    moment: datetime

    def resource_path(self) -> str:
        """What a 404 names: the REST path of the resource the action addresses."""
        path = self.context.form.conversations_path
        if self.context.conversation is not None:
            path = f"{path}/{self.context.conversation.sid}"
        if self.kind.collection is not None:
            path = f"{path}/{self.kind.collection}"
            key = next((self.params[name] for name in self.kind.key if name in self.params), None)
            if key is not None:
                path = f"{path}/{key}"
        return path

    @contextmanager
    def named(self) -> Iterator[None]:
        try:
            yield
        except NotFound:
            raise not_found(self.resource_path()) from None

    def prepare(self, database: Database, params: dict[str, str]) -> Work:
        """The write storing the action with these params, at the action's moment: the trial's dates,
        which the pre-event carries, are the ones stored."""
        with self.named(), database.reading() as session:
            work = self.kind.build(session, self.context, params)

        def at_the_moment(session: Session) -> Stored:
            with pinned(self.moment):
                return work(session)

        return at_the_moment


def plan(session: Session, request: EventRequest, base_url: str) -> Plan | None:
    """The stored-state action the request names, or None for a simulation: an event that never acts on
    state, or params that name no stored conversation (for onConversationAdd: that name one)."""
    kind = ACTIONS.get(request.action.name)
    if kind is None:
        return None
    params = {name: value for name, value in request.params.items() if value is not None}
    sid = params.get("ConversationSid")
    conversation = None if sid is None else conversation_in_account(session, request.account_sid, sid)
    if request.action.name == ADD:
        if conversation is not None:
            raise _conflict(
                f"Invalid params: ConversationSid {sid} names a stored conversation; {ADD} creates one, "
                "so leave ConversationSid out (or name one that is not stored, to simulate)"
            )
        if sid is not None:
            return None
    elif conversation is None:
        return None
    elif conversation.chat_service_sid != request.chat_service_sid:
        raise _conflict(
            f"Invalid params: ConversationSid {sid} belongs to service {conversation.chat_service_sid}, "
            f"not to chat_service_sid {request.chat_service_sid}"
        )
    form = conversation_rules.ServiceForm(request.chat_service_sid, short=False)
    return Plan(kind, Context(request.account_sid, form, conversation, base_url), params, now())


async def _trial(database: Database, work: Work) -> Stored:
    """What the work would store, by the REST rules, with nothing kept: a transaction rolled back."""

    def rolled_back(session: Session) -> Stored:
        savepoint = session.begin_nested()
        try:
            return work(session)
        finally:
            savepoint.rollback()

    return await database.write(rolled_back)


async def act(
    database: Database, planned: Plan, request: EventRequest, setup: Setup, sender: Sender
) -> Result:
    """Check, ask the pre-event hook, store, announce."""
    action = request.action
    configuration = setup.configuration
    scope = configuration.scope if configuration else None
    service = request.chat_service_sid
    work = planned.prepare(database, planned.params)
    with planned.named():
        pre = (await _trial(database, work)).pre
    deliveries = []
    outcome = PUBLISHED
    # REST API actions fire no pre-event hooks (Twilio); they publish straight away.
    if pre is not None and request.source == SDK:
        parameters = sender.parameters(service, pre)
        call = hook_call(configuration, request.account_sid, service, pre.name, PRE, parameters)
        if call is not None:
            async with new_client(sender.timeout) as client:
                sent = await send(client, call, sender.auth_token, sender.timeout, sender.policy)
            await sender.log.record(sent.delivery)
            deliveries.append(sent.delivery)
            outcome, changes = verdict(action, sent.delivery.status, sent.body, pre.parameters)
            if outcome == REJECTED:
                return Result(
                    outcome, action.name, action.post_event, scope, pre.parameters, deliveries, True
                )
            if changes:
                work = planned.prepare(database, {**planned.params, **changes})
    with planned.named():
        done = await database.write(work)
    deliveries.extend(await deliver(sender, service, done.events, done.targets))
    published = done.events[0].parameters
    return Result(outcome, action.name, action.post_event, scope, published, deliveries, True, done.resource)
