"""The message tables and the queries on them. Every query takes the account explicitly."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, ForeignKey, String, UniqueConstraint
from sqlmodel import Field, Session, SQLModel, col, select

from ...db import page_rows
from ...twilio.paging import PageRequest


def _conversation_key(*, unique: bool = False) -> Column[str]:
    """The owning conversation: deleting it (or its service) deletes these rows too."""
    return Column(
        String(34),
        ForeignKey("conversation.sid", ondelete="CASCADE"),
        nullable=False,
        index=not unique,
        unique=unique,
    )


class ConversationMessage(SQLModel, table=True):
    __tablename__ = "conversation_message"
    # Two writers can never give one conversation the same index: the database refuses the second row.
    __table_args__ = (UniqueConstraint("conversation_sid", "index"),)

    # Assigned in the same serialized write as `index`, so within a conversation it grows with the index:
    # lists and their keyset pages follow it.
    id: int | None = Field(default=None, primary_key=True)
    sid: str = Field(unique=True, max_length=34)
    account_sid: str = Field(index=True, max_length=34)
    conversation_sid: str = Field(sa_column=_conversation_key())
    index: int
    author: str
    body: str | None = None
    media_sid: str | None = None
    content_sid: str | None = None
    attributes: str = "{}"
    participant_sid: str | None = None
    date_created: datetime
    date_updated: datetime


class MessageCounter(SQLModel, table=True):
    """The index the next message of a conversation gets. Kept apart from the messages so that an index
    is never handed out twice, even after the message holding the highest one is deleted."""

    __tablename__ = "conversation_message_counter"

    id: int | None = Field(default=None, primary_key=True)
    account_sid: str = Field(index=True, max_length=34)
    conversation_sid: str = Field(sa_column=_conversation_key(unique=True))
    next_index: int = 0


def take_index(session: Session, account_sid: str, conversation_sid: str) -> int:
    """The conversation's next message index, counted off. Only inside a write: writes run one at a
    time, so no two callers read the same count."""
    counter = session.exec(
        select(MessageCounter).where(MessageCounter.conversation_sid == conversation_sid)
    ).first()
    if counter is None:
        counter = MessageCounter(account_sid=account_sid, conversation_sid=conversation_sid)
    index = counter.next_index
    counter.next_index = index + 1
    session.add(counter)
    return index


def get_message(
    session: Session, account_sid: str, conversation_sid: str, sid: str
) -> ConversationMessage | None:
    statement = select(ConversationMessage).where(
        ConversationMessage.sid == sid,
        ConversationMessage.account_sid == account_sid,
        ConversationMessage.conversation_sid == conversation_sid,
    )
    return session.exec(statement).first()


def list_messages_page(
    session: Session,
    account_sid: str,
    conversation_sid: str,
    request: PageRequest,
    *,
    descending: bool = False,
) -> list[ConversationMessage]:
    statement = select(ConversationMessage).where(
        ConversationMessage.account_sid == account_sid,
        ConversationMessage.conversation_sid == conversation_sid,
    )
    return page_rows(session, statement, col(ConversationMessage.id), request, descending=descending)
