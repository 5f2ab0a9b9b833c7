"""The participant table and the queries on it. Every query takes the account explicitly."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, ForeignKey, Index, String, UniqueConstraint, case, or_
from sqlmodel import Field, Session, SQLModel, col, select

from ...db import page_rows
from ...twilio.paging import PageRequest
from ..conversations.models import Conversation


class Participant(SQLModel, table=True):
    __tablename__ = "conversation_participant"
    __table_args__ = (
        # One identity once per conversation; the database refuses a second row even if two writers race.
        # Address participants have no identity, and NULLs never collide.
        UniqueConstraint("conversation_sid", "identity"),
        # The account-wide search for an address and proxy pair already bound elsewhere.
        Index("ix_conversation_participant_binding", "account_sid", "address", "proxy_address"),
    )

    # A surrogate key gives listings a stable creation order and cheap keyset paging.
    id: int | None = Field(default=None, primary_key=True)
    sid: str = Field(unique=True, max_length=34)
    account_sid: str = Field(index=True, max_length=34)
    conversation_sid: str = Field(
        sa_column=Column(
            String(34),
            ForeignKey("conversation.sid", ondelete="CASCADE"),
            nullable=False,
            index=True,
        )
    )
    identity: str | None = None
    # The messaging binding: the participant's own address, the Twilio number it talks to, and the
    # Twilio number a chat participant is shown as in group MMS.
    address: str | None = None
    proxy_address: str | None = None
    projected_address: str | None = None
    attributes: str = "{}"
    role_sid: str | None = Field(default=None, max_length=34)
    last_read_message_index: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    last_read_timestamp: str | None = None
    date_created: datetime
    date_updated: datetime


def get_participant(
    session: Session,
    account_sid: str,
    conversation_sid: str,
    *,
    sid: str | None = None,
    identity: str | None = None,
) -> Participant | None:
    statement = select(Participant).where(
        Participant.account_sid == account_sid, Participant.conversation_sid == conversation_sid
    )
    if sid is not None:
        statement = statement.where(Participant.sid == sid)
    if identity is not None:
        statement = statement.where(Participant.identity == identity)
    return session.exec(statement).first()


def identity_taken(
    session: Session, conversation_sid: str, identity: str, except_sid: str | None = None
) -> bool:
    statement = select(Participant.id).where(
        Participant.conversation_sid == conversation_sid, Participant.identity == identity
    )
    if except_sid is not None:
        statement = statement.where(Participant.sid != except_sid)
    return session.exec(statement).first() is not None


def conversation_binding(
    session: Session, account_sid: str, address: str, proxy_address: str, except_sid: str | None = None
) -> str | None:
    """The conversation (not closed) in which the account already binds this address to this proxy."""
    statement = (
        select(Participant.conversation_sid)
        .join(Conversation, col(Conversation.sid) == col(Participant.conversation_sid))
        .where(
            Participant.account_sid == account_sid,
            Participant.address == address,
            Participant.proxy_address == proxy_address,
            Conversation.state != "closed",
        )
    )
    if except_sid is not None:
        statement = statement.where(Participant.sid != except_sid)
    return session.exec(statement.limit(1)).first()


def group_address_taken(
    session: Session, conversation_sid: str, address: str, except_sid: str | None = None
) -> bool:
    """Whether the conversation already has a group-MMS participant (an address, no proxy) of this address."""
    statement = select(Participant.id).where(
        Participant.conversation_sid == conversation_sid,
        Participant.address == address,
        col(Participant.proxy_address).is_(None),
    )
    if except_sid is not None:
        statement = statement.where(Participant.sid != except_sid)
    return session.exec(statement).first() is not None


def list_participants_page(
    session: Session, account_sid: str, conversation_sid: str, request: PageRequest
) -> list[Participant]:
    statement = select(Participant).where(
        Participant.account_sid == account_sid, Participant.conversation_sid == conversation_sid
    )
    return page_rows(session, statement, col(Participant.id), request)


def participant_writing_as(session: Session, conversation_sid: str, author: str) -> str | None:
    """The SID of the conversation's participant whose identity is `author`, else of the one whose
    messaging binding address is `author`; None for any other author (`system`, say).

    One Core statement, as each message create asks (an identity is unique in its conversation, so the
    identity match sorts first; then the oldest address match). Core statements do not autoflush: the
    caller flushes what the session holds first."""
    table = Participant.__table__  # type: ignore[attr-defined]
    statement = (
        select(table.c.sid)
        .where(
            table.c.conversation_sid == conversation_sid,
            or_(table.c.identity == author, table.c.address == author),
        )
        .order_by(case((table.c.identity == author, 0), else_=1), table.c.id)
        .limit(1)
    )
    found: str | None = session.execute(statement).scalar()
    return found
