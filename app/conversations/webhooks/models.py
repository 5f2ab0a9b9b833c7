"""The per-service webhook configuration table and the queries on it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Column, ForeignKey, String, exists, insert, literal, update
from sqlmodel import Field, Session, SQLModel, col, select

from ..services.models import ConversationService


class ServiceWebhookConfiguration(SQLModel, table=True):
    __tablename__ = "service_webhook_configuration"

    chat_service_sid: str = Field(
        sa_column=Column(
            String(34),
            ForeignKey("conversation_service.sid", ondelete="CASCADE"),
            primary_key=True,
        )
    )
    account_sid: str = Field(index=True, max_length=34)
    pre_webhook_url: str | None = None
    post_webhook_url: str | None = None
    filters: list[str] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    method: str | None = None


def get_configuration(
    session: Session, account_sid: str, chat_service_sid: str
) -> ServiceWebhookConfiguration | None:
    statement = select(ServiceWebhookConfiguration).where(
        ServiceWebhookConfiguration.chat_service_sid == chat_service_sid,
        ServiceWebhookConfiguration.account_sid == account_sid,
    )
    return session.exec(statement).first()


def write_configuration(
    session: Session, account_sid: str, chat_service_sid: str, values: dict[str, Any]
) -> ServiceWebhookConfiguration | None:
    """Set `values` on the stored row, creating it when missing; no ORM load.

    A configured service costs one UPDATE; an unconfigured one an UPDATE and an INSERT that only happens
    if the account owns the service. None when the account has no such service.
    """
    table = ServiceWebhookConfiguration.__table__  # type: ignore[attr-defined]
    updated = session.execute(
        update(table)
        .where(table.c.chat_service_sid == chat_service_sid, table.c.account_sid == account_sid)
        .values(**values)
        .returning(*table.c)
    ).first()
    if updated is None:
        row = {"chat_service_sid": chat_service_sid, "account_sid": account_sid, **values}
        owned = exists().where(
            col(ConversationService.sid) == chat_service_sid,
            col(ConversationService.account_sid) == account_sid,
        )
        columns = list(row)
        values_row = select(*(literal(row[name], table.c[name].type) for name in columns)).where(owned)
        updated = session.execute(insert(table).from_select(columns, values_row).returning(*table.c)).first()
    return None if updated is None else ServiceWebhookConfiguration(**updated._mapping)
