"""Account and API key tables, and the queries on them."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, Session, SQLModel, select

from ..resource import Resource
from ..twilio.clock import now


class Account(SQLModel, table=True):
    sid: str = Field(primary_key=True, max_length=34)
    # None for an account first seen in permissive mode: nobody told us its token.
    auth_token: str | None = None
    friendly_name: str | None = None
    date_created: datetime = Field(default_factory=now)


class ApiKey(SQLModel, table=True):
    __tablename__ = "api_key"

    sid: str = Field(primary_key=True, max_length=34)
    account_sid: str = Field(index=True, max_length=34)
    secret: str
    friendly_name: str | None = None
    date_created: datetime = Field(default_factory=now)


def get_account(session: Session, sid: str) -> Account | None:
    return session.get(Account, sid)


def get_api_key(session: Session, sid: str) -> ApiKey | None:
    return session.get(ApiKey, sid)


def ensure_account(session: Session, sid: str) -> Account:
    account = session.get(Account, sid)
    if account is None:
        account = Account(sid=sid)
        session.add(account)
        session.flush()
    return account


def list_api_keys(session: Session, account_sid: str) -> list[ApiKey]:
    return list(session.exec(select(ApiKey).where(ApiKey.account_sid == account_sid)))


RESOURCE = Resource(tables=(Account, ApiKey), credential_tables=True)
