"""The account-level webhook configuration table and the queries on it."""

from __future__ import annotations

from sqlalchemy import JSON, Column
from sqlmodel import Field, Session, SQLModel

from ..webhooks.rules import DEFAULT_TARGET


class AccountWebhookConfiguration(SQLModel, table=True):
    __tablename__ = "account_webhook_configuration"

    # One row per account, written on its first update; an account without a row has the defaults.
    account_sid: str = Field(primary_key=True, max_length=34)
    pre_webhook_url: str | None = None
    post_webhook_url: str | None = None
    filters: list[str] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    method: str | None = None
    target: str = DEFAULT_TARGET


def get_account_configuration(session: Session, account_sid: str) -> AccountWebhookConfiguration | None:
    return session.get(AccountWebhookConfiguration, account_sid)
