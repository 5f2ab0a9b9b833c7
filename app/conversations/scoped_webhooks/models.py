"""The conversation-scoped webhook table and the queries on it. Every query takes the account explicitly."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Column, ForeignKey, String, func
from sqlmodel import Field, Session, SQLModel, col, select

from ...db import page_rows
from ...twilio.paging import PageRequest
from ..conversations.models import Conversation


class ConversationWebhook(SQLModel, table=True):
    """One webhook of one conversation. Only the columns of its target are set: `url`, `method` and
    `filters` for `webhook`; `url`, `method` and `triggers` for `trigger`; `flow_sid` for `studio`."""

    __tablename__ = "conversation_scoped_webhook"

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
    target: str = Field(max_length=16)
    url: str | None = Field(default=None, max_length=512)
    method: str | None = Field(default=None, max_length=8)
    filters: list[str] | None = Field(default=None, sa_column=Column(JSON(none_as_null=True), nullable=True))
    triggers: list[str] | None = Field(default=None, sa_column=Column(JSON(none_as_null=True), nullable=True))
    flow_sid: str | None = Field(default=None, max_length=34)
    # Kept as given; nothing is replayed.
    replay_after: int | None = None
    date_created: datetime
    date_updated: datetime


def webhooks_of(session: Session, account_sid: str, conversation_sid: str) -> list[ConversationWebhook]:
    """Every webhook of the conversation, in creation order: the order their deliveries go out in."""
    statement = (
        select(ConversationWebhook)
        .where(
            ConversationWebhook.account_sid == account_sid,
            ConversationWebhook.conversation_sid == conversation_sid,
        )
        .order_by(col(ConversationWebhook.id))
    )
    return list(session.exec(statement))


def get_webhook(
    session: Session, account_sid: str, conversation_sid: str, sid: str
) -> ConversationWebhook | None:
    statement = select(ConversationWebhook).where(
        ConversationWebhook.sid == sid,
        ConversationWebhook.account_sid == account_sid,
        ConversationWebhook.conversation_sid == conversation_sid,
    )
    return session.exec(statement).first()


def count_webhooks(session: Session, conversation_sid: str) -> int:
    statement = select(func.count()).where(ConversationWebhook.conversation_sid == conversation_sid)
    return int(session.exec(statement).one())


def conversation_exists(session: Session, account_sid: str, conversation_sid: str) -> bool:
    statement = select(Conversation.id).where(
        Conversation.sid == conversation_sid, Conversation.account_sid == account_sid
    )
    return session.exec(statement).first() is not None


def list_webhooks_page(
    session: Session, account_sid: str, conversation_sid: str, request: PageRequest
) -> list[ConversationWebhook]:
    statement = select(ConversationWebhook).where(
        ConversationWebhook.account_sid == account_sid,
        ConversationWebhook.conversation_sid == conversation_sid,
    )
    return page_rows(session, statement, col(ConversationWebhook.id), request)
