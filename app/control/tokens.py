"""The token each account last authenticated with: what deliveries are signed with in permissive mode.

In this process's memory (`MemoryTokens`), or in a table when several processes serve one database
(`TableTokens`). Every authenticated request remembers its token. With a table that is one statement per
request (a repeated token changes no row): no process can tell from memory whether another has since
written a different token, or reset the table.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from sqlalchemy import delete, select
from sqlalchemy.engine import Connection
from sqlmodel import Session

from ..db import Database
from .tables import signing_token, upsert_into


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
        upsert = upsert_into(signing_token, database.backend)
        self._upsert = upsert.on_conflict_do_update(
            index_elements=[signing_token.c.account_sid],
            set_={"token": upsert.excluded.token},
            # The same token again changes no row.
            where=signing_token.c.token != upsert.excluded.token,
        )

    async def remember(self, account_sid: str, token: str) -> None:
        await asyncio.to_thread(self._write, account_sid, token)

    def _write(self, account_sid: str, token: str) -> None:
        with self.database.writing() as session:
            self.write_in(session, account_sid, token)

    def write_in(self, session: Session | Connection, account_sid: str, token: str) -> None:
        """Remember the token in the caller's transaction (which may write other control state too)."""
        session.execute(self._upsert, {"account_sid": account_sid, "token": token})

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
