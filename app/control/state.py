"""Wiping and re-seeding state: everything, or one account's."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ..db import Database
from ..fixtures import NamedDocument, apply_document
from ..settings import Settings
from ..twilio.clock import now, pinned
from ..twilio.errors import TwilioError
from .after_answer import AfterAnswer
from .deliveries import Delivery, DeliveryLog
from .faults import FaultQueue, Faults, TableFaultQueue
from .journal import JournalEntry, RequestJournal
from .ring import TableEntries
from .tables import CONTROL_METADATA, control_database_url, upsert_into
from .tables import moment as moment_table
from .tokens import MemoryTokens, SigningTokens, TableTokens


@dataclass
class EmulatorState:
    """Everything a reset returns to the start: storage, the start-up fixtures, and the control logs."""

    database: Database
    fixtures: list[NamedDocument]
    journal: RequestJournal
    faults: Faults
    deliveries: DeliveryLog
    # Account SID -> the token it last authenticated with: deliveries sign with it in permissive mode.
    last_auth_tokens: SigningTokens
    # The tables holding the control state when processes share it; None when it is in this one's memory.
    shared: SharedTables | None = None
    # The rows the start-up fixtures make in an empty database, worked out on the first reset.
    fixture_rows: dict[str, list[dict[str, Any]]] | None = None
    # This process's webhooks still in flight after their answers (`--webhook-delivery after-answer`).
    after_answer: AfterAnswer = field(default_factory=AfterAnswer)

    @classmethod
    def build(cls, settings: Settings, database: Database, fixtures: list[NamedDocument]) -> EmulatorState:
        """In memory for one process; in tables when workers or replicas share the database."""
        if not settings.database_is_shared:
            return cls(
                database,
                fixtures,
                RequestJournal(settings.journal_size),
                FaultQueue(),
                DeliveryLog(settings.delivery_log_size),
                MemoryTokens(),
            )
        control = Database(
            control_database_url(settings.database_url),
            CONTROL_METADATA,
            durable=False,
            serialized=False,
            read_cache=False,
        )
        control.create_schema()
        shared = SharedTables(
            control,
            TableEntries(control, "journal", settings.journal_size, _journal_entry),
            TableTokens(control),
        )
        delivery_rows = TableEntries(control, "deliveries", settings.delivery_log_size, _delivery)
        return cls(
            database,
            fixtures,
            RequestJournal(settings.journal_size, shared.journal_rows),
            TableFaultQueue(control),
            DeliveryLog(settings.delivery_log_size, delivery_rows),
            shared.tokens,
            shared,
        )

    def rows_after_fixtures(self) -> dict[str, list[dict[str, Any]]]:
        if self.fixture_rows is None:
            # Dated at one moment: this process's first reset, or with several processes the first reset
            # any of them made, so the dates do not depend on which process takes a reset.
            moment = now() if self.shared is None else self.shared.fixtures_moment()
            scratch = Database("sqlite://", self.database.metadata, read_cache=False)
            scratch.create_schema()
            with pinned(moment), scratch.writing() as session:
                for named in self.fixtures:
                    apply_document(session, named)
            self.fixture_rows = scratch.dump()
            scratch.dispose()
        return self.fixture_rows

    async def record_request(self, entry: JournalEntry | None, signer: tuple[str, str] | None) -> None:
        """What a Twilio API request leaves behind: its journal entry, and the token its account used.

        In shared tables both go in one transaction, in one hop to a worker thread.
        """
        entry = entry if self.journal.enabled else None
        shared = self.shared
        if shared is None:
            if entry is not None:
                await self.journal.record(entry)
            if signer is not None:
                await self.last_auth_tokens.remember(*signer)
        elif entry is not None or signer is not None:
            await asyncio.to_thread(shared.record_request, entry, signer)

    def dispose(self) -> None:
        if self.shared is not None:
            self.shared.database.dispose()
        self.database.dispose()


@dataclass
class SharedTables:
    """The control database, and the tables every Twilio API request writes to."""

    database: Database
    journal_rows: TableEntries[JournalEntry]
    tokens: TableTokens

    def fixtures_moment(self) -> datetime:
        """The moment the start-up fixtures' rows are dated at: set by the first process that asks."""
        name = {"name": "fixtures"}
        with self.database.writing() as session:
            session.execute(
                upsert_into(moment_table, self.database.backend)
                .values(**name, moment=now().isoformat())
                .on_conflict_do_nothing(index_elements=[moment_table.c.name])
            )
            stored = session.execute(select(moment_table.c.moment).filter_by(**name)).scalar_one()
        return datetime.fromisoformat(stored)

    def record_request(self, entry: JournalEntry | None, signer: tuple[str, str] | None) -> None:
        # Statement by statement: each is atomic alone, and nothing needs the two to land together.
        with self.database.autocommit() as connection:
            if entry is not None:
                self.journal_rows.append_in(connection, entry)
            if signer is not None:
                self.tokens.write_in(connection, *signer)


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
    if account_sid is None:
        state.database.restart_ids()
    state.journal.clear(account_sid)
    state.faults.clear(account_sid)
    state.deliveries.clear(account_sid)
    state.last_auth_tokens.forget(account_sid)


def _known_fields(entry_type: type[Any], data: dict[str, Any]) -> dict[str, Any]:
    """The keys of a stored entry that `entry_type` has: replicas of another version may share the table,
    and a key one of them added must not break the others' reads."""
    names = entry_type.__dataclass_fields__
    return {name: value for name, value in data.items() if name in names}


def _journal_entry(data: dict[str, Any]) -> JournalEntry:
    return JournalEntry(**_known_fields(JournalEntry, data))


def _delivery(data: dict[str, Any]) -> Delivery:
    return Delivery(**_known_fields(Delivery, data))
