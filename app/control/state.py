"""Wiping and re-seeding state: everything, or one account's."""

from __future__ import annotations

from sqlmodel import Session

from app.accounts.models import delete_accounts
from app.conversations.services.models import delete_services
from app.conversations.webhooks.models import delete_configurations
from app.db import Database
from app.fixtures import NamedDocument, apply_document


def wipe(session: Session, account_sid: str | None) -> None:
    delete_configurations(session, account_sid)
    delete_services(session, account_sid)
    delete_accounts(session, account_sid)


def reset(database: Database, documents: list[NamedDocument], account_sid: str | None) -> None:
    """Wipe, then re-apply the start-up fixtures, in one transaction."""
    with database.writing() as session:
        wipe(session, account_sid)
        for named in documents:
            if account_sid is not None:
                named = NamedDocument(named.source, named.document.for_account(account_sid))
            apply_document(session, named)
