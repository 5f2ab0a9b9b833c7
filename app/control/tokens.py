"""The token each account last authenticated with: what deliveries are signed with in permissive mode.

In this process's memory (`MemoryTokens`), or in a table when several processes serve one database
(`TableTokens`). Every authenticated request remembers its token; a table is written only when the token
differs from the one this process last wrote for the account, or when the table may have been reset by
another process since (its reset count, read with the fault queue on every request, moved).
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlmodel import Session

from app.control.tables import signing_token, token_epoch
from app.db import Database


class SigningTokens(Protocol):
    async def remember(self, account_sid: str, token: str) -> None: ...
    def get(self, account_sid: str) -> str | None: ...
    def forget(self, account_sid: str | None = None) -> None: ...


class MemoryTokens:
    def __init__(self) -> None:
        self._tokens: dict[str, str] = {}

    async def remember(self, account_sid: str, token: str) -> None:
        self._tokens[account_sid] = token

    def get(self, account_sid: str) -> str | None:
        return self._tokens.get(account_sid)

    def forget(self, account_sid: str | None = None) -> None:
        if account_sid is None:
            self._tokens.clear()
        else:
            self._tokens.pop(account_sid, None)


class TableTokens:
    def __init__(self, database: Database) -> None:
        self.database = database
        # What this process last wrote, valid while the reset count stays `_epoch`.
        self._written: dict[str, str] = {}
        self._epoch: int | None = None
        dialect = postgresql if database.backend == "postgresql" else sqlite
        with database.writing() as session:
            session.execute(dialect.insert(token_epoch).values(id=1, epoch=0).on_conflict_do_nothing())
        upsert = dialect.insert(signing_token)
        self._upsert = upsert.on_conflict_do_update(
            index_elements=[signing_token.c.account_sid],
            set_={"token": upsert.excluded.token},
            # The same token again changes no row.
            where=signing_token.c.token != upsert.excluded.token,
        )

    def observe_epoch(self, epoch: int) -> None:
        """Told the table's reset count: when it moved, what this process wrote may be gone."""
        if epoch != self._epoch:
            self._written = {}
            self._epoch = epoch

    def known(self, account_sid: str, token: str) -> bool:
        """Whether the table already holds this token for the account, as far as this process can tell."""
        return self._written.get(account_sid) == token

    async def remember(self, account_sid: str, token: str) -> None:
        if not self.known(account_sid, token):
            await asyncio.to_thread(self._write, account_sid, token)

    def _write(self, account_sid: str, token: str) -> None:
        with self.database.writing() as session:
            self.write_in(session, account_sid, token)

    def write_in(self, session: Session | Connection, account_sid: str, token: str) -> None:
        """Remember the token in the caller's transaction (which may write other control state too)."""
        written = self._written
        if written.get(account_sid) == token:  # the same `known` check, against the same dict
            return
        session.execute(self._upsert, {"account_sid": account_sid, "token": token})
        written[account_sid] = token

    def get(self, account_sid: str) -> str | None:
        statement = select(signing_token.c.token).where(signing_token.c.account_sid == account_sid)
        with self.database.reading() as session:
            return session.execute(statement).scalar_one_or_none()

    def forget(self, account_sid: str | None = None) -> None:
        statement = delete(signing_token)
        if account_sid is not None:
            statement = statement.where(signing_token.c.account_sid == account_sid)
        with self.database.writing() as session:
            session.execute(statement)
            session.execute(update(token_epoch).values(epoch=token_epoch.c.epoch + 1))
        self._written = {}
