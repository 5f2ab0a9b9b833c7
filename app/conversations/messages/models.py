"""The message tables and the queries on them. Every query takes the account explicitly."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, ForeignKey, String, UniqueConstraint, insert, update
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
    time, so no two callers read the same count. One `UPDATE … RETURNING` and no ORM object (the ORM
    load, change and flush of the counter cost more than the rest of a message create); the
    conversation's first message inserts the counter row."""
    table = MessageCounter.__table__  # type: ignore[attr-defined]
    taken = session.execute(
        update(table)
        .where(table.c.conversation_sid == conversation_sid)
        .values(next_index=table.c.next_index + 1)
        .returning(table.c.next_index)
    ).scalar()
    if taken is None:
        session.execute(
            insert(table).values(account_sid=account_sid, conversation_sid=conversation_sid, next_index=1)
        )
        return 0
    return int(taken) - 1


def insert_message(session: Session, message: ConversationMessage) -> int:
    """Store a new message with one Core INSERT (no ORM flush); its `id`."""
    table = ConversationMessage.__table__  # type: ignore[attr-defined]
    inserted = session.execute(
        insert(table).values(**message.model_dump(exclude={"id"})).returning(table.c.id)
    ).scalar_one()
    return int(inserted)


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
