"""The Conversation Service table and the queries on it. Every query takes the account explicitly."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, Session, SQLModel, col, func, select

from ...db import page_rows
from ...twilio.paging import PageRequest


class ConversationService(SQLModel, table=True):
    __tablename__ = "conversation_service"

    # A surrogate key gives listings a stable creation order and cheap keyset paging.
    id: int | None = Field(default=None, primary_key=True)
    sid: str = Field(unique=True, max_length=34)
    account_sid: str = Field(index=True, max_length=34)
    friendly_name: str
    date_created: datetime
    date_updated: datetime


def get_service(session: Session, account_sid: str, sid: str) -> ConversationService | None:
    statement = select(ConversationService).where(
        ConversationService.sid == sid, ConversationService.account_sid == account_sid
    )
    return session.exec(statement).first()


def service_exists(session: Session, account_sid: str, sid: str) -> bool:
    """Cheaper than `get_service` where only existence matters: no ORM object is built."""
    statement = select(ConversationService.id).where(
        ConversationService.sid == sid, ConversationService.account_sid == account_sid
    )
    return session.exec(statement).first() is not None


def get_service_any_account(session: Session, sid: str) -> ConversationService | None:
    return session.exec(select(ConversationService).where(ConversationService.sid == sid)).first()


def list_services_page(session: Session, account_sid: str, request: PageRequest) -> list[ConversationService]:
    """One page of the account's services in creation order (and one more when there are more)."""
    statement = select(ConversationService).where(ConversationService.account_sid == account_sid)
    return page_rows(session, statement, col(ConversationService.id), request)


def count_services(session: Session, account_sid: str | None = None) -> int:
    statement = select(func.count()).select_from(ConversationService)
    if account_sid is not None:
        statement = statement.where(ConversationService.account_sid == account_sid)
    return session.exec(statement).one()
