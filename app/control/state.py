"""Wiping and re-seeding state: everything, or one account's."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlmodel import Session

from app.accounts.models import delete_accounts
from app.control.faults import FaultQueue
from app.control.journal import RequestJournal
from app.conversations.configuration.models import delete_account_configurations
from app.conversations.services.models import delete_services
from app.conversations.webhooks.models import delete_configurations
from app.db import Database
from app.deliveries.log import DeliveryLog
from app.fixtures import NamedDocument, apply_document


@dataclass
class EmulatorState:
    """Everything a reset returns to the start: storage, the start-up fixtures, and in-memory logs."""

    database: Database
    fixtures: list[NamedDocument]
    journal: RequestJournal
    faults: FaultQueue
    deliveries: DeliveryLog
    # Account SID -> the token it last authenticated with: deliveries sign with it in permissive mode.
    last_auth_tokens: dict[str, str] = field(default_factory=dict)


def wipe(session: Session, account_sid: str | None) -> None:
    delete_configurations(session, account_sid)
    delete_account_configurations(session, account_sid)
    delete_services(session, account_sid)
    delete_accounts(session, account_sid)


def reset(state: EmulatorState, account_sid: str | None) -> None:
    """Wipe, then re-apply the start-up fixtures, in one transaction; then clear the in-memory logs."""
    with state.database.writing() as session:
        wipe(session, account_sid)
        for named in state.fixtures:
            if account_sid is not None:
                named = NamedDocument(named.source, named.document.for_account(account_sid))
            apply_document(session, named)
    state.journal.clear(account_sid)
    state.faults.clear(account_sid)
    state.deliveries.clear(account_sid)
