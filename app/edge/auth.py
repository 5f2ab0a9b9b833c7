"""HTTP Basic authentication as Twilio does it: an account SID and auth token, or an API key and secret.

`permissive` mode (offline development) accepts any well-formed account SID with a non-empty password and
remembers the account; `strict` mode accepts only known credentials, compared in constant time.
"""

from __future__ import annotations

import binascii
import hmac
from base64 import b64decode
from dataclasses import dataclass

from sqlmodel import Session

from ..accounts.models import ensure_account, get_account, get_api_key
from ..db import CREDENTIALS, Database
from ..twilio import sids
from ..twilio.errors import unauthenticated


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


def looks_like_username(value: str) -> bool:
    """An account or API key SID, the only usernames Twilio accepts."""
    return sids.is_sid(value, sids.ACCOUNT) or sids.is_sid(value, sids.API_KEY)


def _same_secret(given: str, known: str | None) -> bool:
    if known is None:
        return False
    return hmac.compare_digest(given.encode(), known.encode())


@dataclass(frozen=True)
class KnownAccount:
    auth_token: str | None


@dataclass(frozen=True)
class KnownKey:
    account_sid: str
    secret: str


def _known_account(session: Session, sid: str) -> KnownAccount | None:
    account = get_account(session, sid)
    return None if account is None else KnownAccount(account.auth_token)


def _known_key(session: Session, sid: str) -> KnownKey | None:
    key = get_api_key(session, sid)
    return None if key is None else KnownKey(key.account_sid, key.secret)


async def authenticate(
    database: Database,
    strict: bool,
    credentials: tuple[str, str] | None,
) -> str:
    """The SID of the calling account, or a 401 `TwilioError`."""
    if credentials is None:
        raise unauthenticated()
    username, password = credentials
    # No token holds U+0000; refusing it keeps permissive mode from remembering one no backend can store.
    if not password or "\x00" in password:
        raise unauthenticated()
    if sids.is_sid(username, sids.API_KEY):
        key = database.cached(
            ("api_key", username), lambda session: _known_key(session, username), CREDENTIALS
        )
        if key is None or (strict and not _same_secret(password, key.secret)):
            raise unauthenticated()
        return key.account_sid
    if not sids.is_sid(username, sids.ACCOUNT):
        raise unauthenticated()
    account = database.cached(
        ("account", username), lambda session: _known_account(session, username), CREDENTIALS
    )
    if account is not None and strict and not _same_secret(password, account.auth_token):
        raise unauthenticated()
    if account is None:
        if strict:
            raise unauthenticated()
        # Through the group commit like every other write: never a lock wait on the event loop.
        await database.write(lambda session: ensure_account(session, username))
    return username
