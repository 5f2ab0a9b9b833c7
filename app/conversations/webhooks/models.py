"""The per-service webhook configuration table and the queries on it."""

from __future__ import annotations

from sqlalchemy import JSON, Column, ForeignKey, String
from sqlmodel import Field, Session, SQLModel, col, delete, select


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


def delete_configurations(
    session: Session, account_sid: str | None, chat_service_sid: str | None = None
) -> None:
    statement = delete(ServiceWebhookConfiguration)
    if account_sid is not None:
        statement = statement.where(col(ServiceWebhookConfiguration.account_sid) == account_sid)
    if chat_service_sid is not None:
        statement = statement.where(col(ServiceWebhookConfiguration.chat_service_sid) == chat_service_sid)
    session.exec(statement)
