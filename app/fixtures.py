"""Fixture documents: reading them, checking them, and applying them (README: "Fixtures").

Applying is idempotent: it creates what is missing and sets what the document names, never deletes, and
refuses the whole document, naming the entry, if any entry breaks a rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator
from sqlmodel import Session, select

from .accounts.models import Account, ApiKey, ensure_account, get_account, get_api_key
from .conversations.conversations import service as conversation_rules
from .conversations.conversations.models import Conversation
from .conversations.conversations.service import ServiceForm
from .conversations.messages import service as message_rules
from .conversations.messages.models import ConversationMessage
from .conversations.participants import service as participant_rules
from .conversations.participants.models import Participant
from .conversations.scoped_webhooks import service as webhook_rules
from .conversations.scoped_webhooks.models import ConversationWebhook
from .conversations.services.models import ConversationService, get_service, get_service_any_account
from .conversations.services.service import checked_friendly_name, ensure_default_service
from .conversations.webhooks.service import WebhookChanges, apply_changes
from .documents import read_json
from .twilio import sids
from .twilio.clock import now
from .twilio.errors import TwilioError
from .twilio.forms import FormParameters


class FixtureError(Exception):
    """A refused fixture document; the message names the source and the entry."""


def _sid_validator(prefix: str) -> Any:
    def check(value: str) -> str:
        if not sids.is_sid(value, prefix):
            raise ValueError(f"must be {prefix} followed by 32 hex digits")
        return value

    return check


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    @field_validator("*")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        # PostgreSQL text cannot hold U+0000, so no backend stores it.
        texts = value if isinstance(value, list) else [value]
        if any(isinstance(text, str) and "\x00" in text for text in texts):
            raise ValueError("must not contain U+0000 (NUL)")
        return value


class AccountEntry(_Entry):
    sid: str
    auth_token: str | None = None
    friendly_name: str | None = None

    _sid = field_validator("sid")(_sid_validator(sids.ACCOUNT))


class ApiKeyEntry(_Entry):
    sid: str
    secret: str
    account_sid: str
    friendly_name: str | None = None

    _sid = field_validator("sid")(_sid_validator(sids.API_KEY))
    _account = field_validator("account_sid")(_sid_validator(sids.ACCOUNT))

    @field_validator("secret")
    @classmethod
    def _non_empty(cls, value: str) -> str:
        if not value:
            raise ValueError("must not be empty")
        return value


class WebhooksEntry(_Entry):
    pre_webhook_url: str | None = None
    post_webhook_url: str | None = None
    filters: list[str] | None = None
    method: str | None = None


class ServiceEntry(_Entry):
    sid: str
    account_sid: str
    friendly_name: str | None = None
    webhooks: WebhooksEntry | None = None

    _sid = field_validator("sid")(_sid_validator(sids.SERVICE))
    _account = field_validator("account_sid")(_sid_validator(sids.ACCOUNT))


class BindingEntry(_Entry):
    address: str | None = None
    proxy_address: str | None = None
    projected_address: str | None = None


class ParticipantEntry(_Entry):
    sid: str
    identity: str | None = None
    messaging_binding: BindingEntry | None = None
    attributes: str | None = None
    role_sid: str | None = None

    _sid = field_validator("sid")(_sid_validator("MB"))


class MessageEntry(_Entry):
    sid: str
    author: str | None = None
    body: str | None = None
    attributes: str | None = None
    media_sid: str | None = None

    _sid = field_validator("sid")(_sid_validator("IM"))


class ScopedWebhookConfigurationEntry(_Entry):
    url: str | None = None
    method: str | None = None
    filters: list[str] | None = None
    triggers: list[str] | None = None
    flow_sid: str | None = None


class ScopedWebhookEntry(_Entry):
    sid: str
    target: str
    configuration: ScopedWebhookConfigurationEntry = ScopedWebhookConfigurationEntry()

    _sid = field_validator("sid")(_sid_validator("WH"))


class ConversationEntry(_Entry):
    sid: str
    account_sid: str
    # Unset: the account's default service, as for `/v1/Conversations`.
    chat_service_sid: str | None = None
    friendly_name: str | None = None
    unique_name: str | None = None
    attributes: str | None = None
    state: str | None = None
    messaging_service_sid: str | None = None
    participants: list[ParticipantEntry] = []
    messages: list[MessageEntry] = []
    webhooks: list[ScopedWebhookEntry] = []

    _sid = field_validator("sid")(_sid_validator("CH"))
    _account = field_validator("account_sid")(_sid_validator(sids.ACCOUNT))


class FixtureDocument(_Entry):
    accounts: list[AccountEntry] = []
    api_keys: list[ApiKeyEntry] = []
    services: list[ServiceEntry] = []
    conversations: list[ConversationEntry] = []

    def for_account(self, account_sid: str) -> FixtureDocument:
        """Only the entries that belong to one account."""
        return FixtureDocument(
            accounts=[entry for entry in self.accounts if entry.sid == account_sid],
            api_keys=[entry for entry in self.api_keys if entry.account_sid == account_sid],
            services=[entry for entry in self.services if entry.account_sid == account_sid],
            conversations=[entry for entry in self.conversations if entry.account_sid == account_sid],
        )


@dataclass(frozen=True)
class NamedDocument:
    source: str
    document: FixtureDocument


def _location(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "document"


def parse_document(data: Any, source: str) -> NamedDocument:
    try:
        document = FixtureDocument.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        raise FixtureError(f"{source}: {_location(error['loc'])}: {error['msg']}") from None
    return NamedDocument(source, document)


def load_fixture_path(path: Path) -> list[NamedDocument]:
    """Documents from a JSON file, or from every `*.json` in a folder, in name order."""
    if path.is_dir():
        files = sorted(path.glob("*.json"))
    elif path.is_file():
        files = [path]
    else:
        raise FixtureError(f"{path}: no such file or folder")
    documents = []
    for file in files:
        try:
            data = read_json(file.read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError) as exc:
            raise FixtureError(f"{file}: not a JSON document ({exc})") from None
        documents.append(parse_document(data, str(file)))
    return documents


def apply_document(session: Session, named: NamedDocument) -> None:
    """Apply one document inside the caller's transaction; raise FixtureError to refuse it whole."""
    document = named.document
    for account in document.accounts:
        _apply_account(session, account)
    for index, key in enumerate(document.api_keys):
        _apply_api_key(session, key, f"{named.source}: api_keys[{index}]")
    for index, service in enumerate(document.services):
        _apply_service(session, service, f"{named.source}: services[{index}]")
    for index, conversation in enumerate(document.conversations):
        _apply_conversation(session, conversation, f"{named.source}: conversations[{index}]")


def _apply_account(session: Session, entry: AccountEntry) -> None:
    account = get_account(session, entry.sid) or Account(sid=entry.sid)
    for name in entry.model_fields_set - {"sid"}:
        setattr(account, name, getattr(entry, name))
    session.add(account)
    session.flush()


def _apply_api_key(session: Session, entry: ApiKeyEntry, where: str) -> None:
    key = get_api_key(session, entry.sid)
    if key is not None and key.account_sid != entry.account_sid:
        raise FixtureError(f"{where}: key {entry.sid} belongs to another account")
    ensure_account(session, entry.account_sid)
    if key is None:
        key = ApiKey(sid=entry.sid, account_sid=entry.account_sid, secret=entry.secret)
    key.secret = entry.secret
    if "friendly_name" in entry.model_fields_set:
        key.friendly_name = entry.friendly_name
    session.add(key)
    session.flush()


def _apply_service(session: Session, entry: ServiceEntry, where: str) -> None:
    service = get_service_any_account(session, entry.sid)
    if service is not None and service.account_sid != entry.account_sid:
        raise FixtureError(f"{where}: service {entry.sid} belongs to another account")
    try:
        if service is None:
            moment = now()
            service = ConversationService(
                sid=entry.sid,
                account_sid=entry.account_sid,
                friendly_name=checked_friendly_name(entry.friendly_name),
                date_created=moment,
                date_updated=moment,
            )
        elif "friendly_name" in entry.model_fields_set:
            name = checked_friendly_name(entry.friendly_name)
            if name != service.friendly_name:  # idempotent: applying the same document changes nothing
                service.friendly_name = name
                service.date_updated = now()
        ensure_account(session, entry.account_sid)
        session.add(service)
        session.flush()
        if entry.webhooks is not None:
            changes = WebhookChanges.from_document(entry.webhooks.model_dump(exclude_unset=True))
            apply_changes(session, entry.account_sid, entry.sid, changes)
    except TwilioError as error:
        raise FixtureError(f"{where} ({entry.sid}): {error.message}") from None


# Conversations and what hangs under them are checked by the REST rules themselves: each entry is turned
# into the form parameters a client would send, so a fixture accepts and refuses exactly what the API does.


def _form(pairs: list[tuple[str, str | list[str] | None]]) -> FormParameters:
    sent: list[tuple[str, str]] = []
    for name, value in pairs:
        if isinstance(value, list):
            sent.extend((name, item) for item in value)
        elif value is not None:
            sent.append((name, value))
    return FormParameters(sent)


def _owned(session: Session, model: Any, sid: str, account_sid: str, where: str) -> Any:
    """The stored row with this SID, or None; a row of another account refuses the document."""
    found = session.exec(select(model).where(model.sid == sid)).first()
    if found is not None and found.account_sid != account_sid:
        raise FixtureError(f"{where}: {sid} belongs to another account")
    return found


def _apply_conversation(session: Session, entry: ConversationEntry, where: str) -> None:
    account_sid = entry.account_sid
    ensure_account(session, account_sid)
    try:
        if entry.chat_service_sid is None:
            form = ServiceForm(ensure_default_service(session, account_sid), short=True)
        elif get_service(session, account_sid, entry.chat_service_sid) is None:
            raise FixtureError(f"{where}: service {entry.chat_service_sid} is not one of {account_sid}'s")
        else:
            form = ServiceForm(entry.chat_service_sid, short=False)
        changes = conversation_rules.changes_from_form(
            _form(
                [
                    ("FriendlyName", entry.friendly_name),
                    ("UniqueName", entry.unique_name),
                    ("Attributes", entry.attributes),
                    ("MessagingServiceSid", entry.messaging_service_sid),
                    ("State", entry.state),
                ]
            ),
            creating=False,  # a fixture may seed a closed conversation: its children go in first
        )
        state = changes.pop("state", None)
        stored = _owned(session, Conversation, entry.sid, account_sid, where)
        if stored is not None and stored.chat_service_sid != form.chat_service_sid:
            raise FixtureError(f"{where}: conversation {entry.sid} belongs to another service")
        if stored is None:
            conversation = conversation_rules.create_conversation(
                session, account_sid, form, changes, sid=entry.sid
            )
        else:
            differing = {name: value for name, value in changes.items() if getattr(stored, name) != value}
            conversation = stored
            if differing and stored.state != "closed":  # idempotent: the same document changes nothing
                conversation, _ = conversation_rules.update_conversation(
                    session, account_sid, form, entry.sid, differing
                )
        for number, participant in enumerate(entry.participants):
            _apply_participant(session, conversation, participant, f"{where}.participants[{number}]")
        for number, message in enumerate(entry.messages):
            _apply_message(session, conversation, message, f"{where}.messages[{number}]")
        for number, webhook in enumerate(entry.webhooks):
            _apply_scoped_webhook(session, conversation, webhook, f"{where}.webhooks[{number}]")
        if state is not None and state != conversation.state and conversation.state != "closed":
            conversation_rules.update_conversation(session, account_sid, form, entry.sid, {"state": state})
    except TwilioError as error:
        raise FixtureError(f"{where} ({entry.sid}): {error.message}") from None


def _child_owned(session: Session, model: Any, sid: str, conversation: Conversation, where: str) -> bool:
    """Whether the child exists already (then it is left as clients have made it)."""
    found = _owned(session, model, sid, conversation.account_sid, where)
    if found is not None and found.conversation_sid != conversation.sid:
        raise FixtureError(f"{where}: {sid} belongs to another conversation")
    return found is not None


def _apply_participant(
    session: Session, conversation: Conversation, entry: ParticipantEntry, where: str
) -> None:
    if _child_owned(session, Participant, entry.sid, conversation, where):
        return
    binding = entry.messaging_binding or BindingEntry()
    new = participant_rules.new_participant_from_form(
        _form(
            [
                ("Identity", entry.identity),
                ("MessagingBinding.Address", binding.address),
                ("MessagingBinding.ProxyAddress", binding.proxy_address),
                ("MessagingBinding.ProjectedAddress", binding.projected_address),
                ("Attributes", entry.attributes),
                ("RoleSid", entry.role_sid),
            ]
        )
    )
    participant_rules.create_participant(session, conversation.account_sid, conversation, new, sid=entry.sid)


def _apply_message(session: Session, conversation: Conversation, entry: MessageEntry, where: str) -> None:
    if _child_owned(session, ConversationMessage, entry.sid, conversation, where):
        return
    changes = message_rules.changes_from_form(
        _form(
            [
                ("Author", entry.author),
                ("Body", entry.body),
                ("Attributes", entry.attributes),
                ("MediaSid", entry.media_sid),
            ]
        ),
        creating=True,
    )
    message_rules.create_message(session, conversation.account_sid, conversation, changes, sid=entry.sid)


def _apply_scoped_webhook(
    session: Session, conversation: Conversation, entry: ScopedWebhookEntry, where: str
) -> None:
    if _child_owned(session, ConversationWebhook, entry.sid, conversation, where):
        return
    settings = entry.configuration
    columns = webhook_rules.columns_for_create(
        _form(
            [
                ("Target", entry.target),
                ("Configuration.Url", settings.url),
                ("Configuration.Method", settings.method),
                ("Configuration.Filters", settings.filters),
                ("Configuration.Triggers", settings.triggers),
                ("Configuration.FlowSid", settings.flow_sid),
            ]
        )
    )
    webhook_rules.create_webhook(session, conversation.account_sid, conversation.sid, columns, sid=entry.sid)
