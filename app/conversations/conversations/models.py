"""The conversation table and the queries on it. Every query takes the account explicitly."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, ForeignKey, String, UniqueConstraint
from sqlmodel import Field, Session, SQLModel, col, select

from ...db import page_rows
from ...twilio.paging import PageRequest


class Conversation(SQLModel, table=True):
    __tablename__ = "conversation"
    # A unique name is unique in its service; the database refuses a second row even if two writers race.
    __table_args__ = (UniqueConstraint("chat_service_sid", "unique_name"),)

    id: int | None = Field(default=None, primary_key=True)
    sid: str = Field(unique=True, max_length=34)
    account_sid: str = Field(index=True, max_length=34)
    chat_service_sid: str = Field(
        sa_column=Column(
            String(34),
            ForeignKey("conversation_service.sid", ondelete="CASCADE"),
            nullable=False,
            index=True,
        )
    )
    friendly_name: str | None = None
    unique_name: str | None = None
    attributes: str = "{}"
    state: str = "active"
    messaging_service_sid: str | None = None
    timers: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    bindings: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    date_created: datetime
    date_updated: datetime


def get_conversation(
    session: Session, account_sid: str, chat_service_sid: str, sid_or_name: str, *, by_sid: bool
) -> Conversation | None:
    key = col(Conversation.sid) if by_sid else col(Conversation.unique_name)
    statement = select(Conversation).where(
        key == sid_or_name,
        Conversation.account_sid == account_sid,
        Conversation.chat_service_sid == chat_service_sid,
    )
    return session.exec(statement).first()


def conversation_in_account(session: Session, account_sid: str, sid: str) -> Conversation | None:
    """The account's conversation with this SID, in whichever of its services."""
    statement = select(Conversation).where(Conversation.sid == sid, Conversation.account_sid == account_sid)
    return session.exec(statement).first()


def conversation_state(session: Session, account_sid: str, chat_service_sid: str, sid: str) -> str | None:
    """The conversation's state as stored, None when it is gone: one Core statement and no ORM load, for
    the check inside each message write. It does not autoflush: the caller flushes first."""
    table = Conversation.__table__  # type: ignore[attr-defined]
    state: str | None = session.execute(
        select(table.c.state).where(
            table.c.sid == sid,
            table.c.account_sid == account_sid,
            table.c.chat_service_sid == chat_service_sid,
        )
    ).scalar()
    return state


def unique_name_taken(
    session: Session, chat_service_sid: str, unique_name: str, except_sid: str | None = None
) -> bool:
    statement = select(Conversation.id).where(
        Conversation.chat_service_sid == chat_service_sid, Conversation.unique_name == unique_name
    )
    if except_sid is not None:
        statement = statement.where(Conversation.sid != except_sid)
    return session.exec(statement).first() is not None


def list_conversations_page(
    session: Session,
    account_sid: str,
    chat_service_sid: str,
    request: PageRequest,
    *,
    state: str | None = None,
    created_from: datetime | None = None,
    created_to: datetime | None = None,
    newest_first: bool = False,
) -> list[Conversation]:
    statement = select(Conversation).where(
        Conversation.account_sid == account_sid, Conversation.chat_service_sid == chat_service_sid
    )
    if state is not None:
        statement = statement.where(Conversation.state == state)
    if created_from is not None:
        statement = statement.where(col(Conversation.date_created) >= created_from)
    if created_to is not None:
        statement = statement.where(col(Conversation.date_created) <= created_to)
    # Newest first is by creation date (a given `DateCreated` may be older than rows made before it).
    return page_rows(
        session,
        statement,
        col(Conversation.id),
        request,
        descending=newest_first,
        moment=col(Conversation.date_created) if newest_first else None,
    )
