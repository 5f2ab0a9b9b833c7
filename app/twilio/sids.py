"""Twilio SIDs: two upper-case letters naming the kind, then 32 hex digits."""

from __future__ import annotations

import re
import secrets

ACCOUNT = "AC"
API_KEY = "SK"
SERVICE = "IS"
REQUEST = "RQ"

_PATTERNS = {prefix: re.compile(rf"{prefix}[0-9a-fA-F]{{32}}") for prefix in (ACCOUNT, API_KEY, SERVICE)}


def new_sid(prefix: str) -> str:
    """A fresh SID as Twilio mints them: the prefix and 32 lower-case hex digits."""
    return prefix + secrets.token_hex(16)


def is_sid(value: str, prefix: str) -> bool:
    pattern = _PATTERNS.get(prefix) or re.compile(rf"{prefix}[0-9a-fA-F]{{32}}")
    return pattern.fullmatch(value) is not None
