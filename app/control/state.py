"""Wiping and re-seeding state: everything, or one account's."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.exc import IntegrityError

from app.control.faults import FaultQueue
from app.control.journal import RequestJournal
from app.db import Database
from app.deliveries.log import DeliveryLog
from app.fixtures import NamedDocument, apply_document
from app.twilio.errors import TwilioError


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
    # The rows the start-up fixtures make in an empty database, worked out on the first reset.
    fixture_rows: dict[str, list[dict[str, Any]]] | None = None

    def rows_after_fixtures(self) -> dict[str, list[dict[str, Any]]]:
        if self.fixture_rows is None:
            scratch = Database("sqlite://")
            scratch.create_schema()
            with scratch.writing() as session:
                for named in self.fixtures:
                    apply_document(session, named)
            self.fixture_rows = scratch.dump()
            scratch.dispose()
        return self.fixture_rows


def reset(state: EmulatorState, account_sid: str | None) -> None:
    """Wipe, then put back what the start-up fixtures make, in one transaction; clear the in-memory logs.

    The fixtures' rows are worked out once, in a scratch database, so a reset is a few bulk statements
    and one commit instead of re-applying every document through the ORM.
    """
    rows = state.rows_after_fixtures()
    try:
        # On the event loop, not through the group commit: test suites reset before every test, and the
        # hop to the writer thread would add a fifth to its time. A reset stops the world anyway.
        with state.database.writing() as session:
            state.database.wipe(session, account_sid)
            state.database.load(session, rows, account_sid)
    except IntegrityError:
        # Only a one-account reset can get here: a start-up fixture's SID was since given to another
        # account (by a run-time fixture). Nothing was changed; say which reset cannot be done.
        raise TwilioError(
            409,
            20409,
            f"Cannot reset {account_sid}: a SID its start-up fixtures create now belongs to another account",
        ) from None
    state.journal.clear(account_sid)
    state.faults.clear(account_sid)
    state.deliveries.clear(account_sid)
    if account_sid is None:
        state.last_auth_tokens.clear()
    else:
        state.last_auth_tokens.pop(account_sid, None)
