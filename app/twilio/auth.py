"""HTTP Basic authentication as Twilio does it: an account SID and auth token, or an API key and secret.

`permissive` mode (offline development) accepts any well-formed account SID with a non-empty password and
remembers the account; `strict` mode accepts only known credentials, compared in constant time.
"""

from __future__ import annotations

import binascii
import hmac
from base64 import b64decode

from sqlmodel import Session

from app.accounts.models import ensure_account, get_account, get_api_key
from app.db import Database
from app.twilio import sids
from app.twilio.errors import unauthenticated


def parse_basic(header: str | None) -> tuple[str, str] | None:
    """(username, password) from an `Authorization: Basic ...` header, or None if it is not one."""
    if not header:
        return None
    scheme, _, encoded = header.strip().partition(" ")
    if scheme.lower() != "basic" or not encoded.strip():
        return None
    try:
        decoded = b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    username, separator, password = decoded.partition(":")
    if not separator:
        return None
    return username, password


def _same_secret(given: str, known: str | None) -> bool:
    if known is None:
        return False
    return hmac.compare_digest(given.encode(), known.encode())


def _account_for_key(session: Session, key_sid: str, secret: str, strict: bool) -> str | None:
    key = get_api_key(session, key_sid)
    if key is None or (strict and not _same_secret(secret, key.secret)):
        return None
    return key.account_sid


def authenticate(
    database: Database,
    strict: bool,
    credentials: tuple[str, str] | None,
    last_tokens: dict[str, str] | None = None,
) -> str:
    """The SID of the calling account, or a 401 `TwilioError`; an account's token goes in `last_tokens`."""
    if credentials is None:
        raise unauthenticated()
    username, password = credentials
    if not password:
        raise unauthenticated()
    if sids.is_sid(username, sids.API_KEY):
        with database.reading() as session:
            account_sid = _account_for_key(session, username, password, strict)
        if account_sid is None:
            raise unauthenticated()
        return account_sid
    if not sids.is_sid(username, sids.ACCOUNT):
        raise unauthenticated()
    with database.reading() as session:
        account = get_account(session, username)
    if account is not None and strict and not _same_secret(password, account.auth_token):
        raise unauthenticated()
    if account is None:
        if strict:
            raise unauthenticated()
        with database.writing() as session:
            ensure_account(session, username)
    if last_tokens is not None:
        last_tokens[username] = password
    return username
