"""Fixture documents: reading them, checking them, and applying them (README: "Fixtures").

Applying is idempotent: it creates what is missing and sets what the document names, never deletes, and
refuses the whole document, naming the entry, if any entry breaks a rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator
from sqlmodel import Session

from .accounts.models import Account, ApiKey, ensure_account, get_account, get_api_key
from .conversations.services.models import ConversationService, get_service_any_account
from .conversations.services.service import checked_friendly_name
from .conversations.webhooks.service import WebhookChanges, apply_changes
from .documents import read_json
from .twilio import sids
from .twilio.clock import now
from .twilio.errors import TwilioError


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


class FixtureDocument(_Entry):
    accounts: list[AccountEntry] = []
    api_keys: list[ApiKeyEntry] = []
    services: list[ServiceEntry] = []

    def for_account(self, account_sid: str) -> FixtureDocument:
        """Only the entries that belong to one account."""
        return FixtureDocument(
            accounts=[entry for entry in self.accounts if entry.sid == account_sid],
            api_keys=[entry for entry in self.api_keys if entry.account_sid == account_sid],
            services=[entry for entry in self.services if entry.account_sid == account_sid],
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
