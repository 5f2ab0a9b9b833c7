"""Reading control API requests: JSON bodies, SID and limit filters, the emulator's state.

Refusals are Twilio's error envelope with a 400: 20001 for a body that cannot be read, 20002 for a bad filter.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request

from ..documents import MAX_NUMBER_DIGITS, read_json
from ..twilio import sids
from ..twilio.errors import INVALID_PARAMETER, MISSING_PARAMETER, TwilioError
from .state import EmulatorState


def parse_json_body(body: bytes) -> Any:
    """The document in `body` (an empty body is `null`)."""
    try:
        return read_json(body or b"null")
    except RecursionError:
        raise TwilioError(400, MISSING_PARAMETER, "The body is nested too deeply to read") from None
    except ValueError as exc:
        raise TwilioError(400, MISSING_PARAMETER, f"The body is not a JSON document: {exc}") from None


# Every Twilio API request is matched against every queued fault's path, and a journal read against its
# filter: a bounded glob keeps each match a matter of microseconds (a glob of thousands of `*` compiles
# to a regex of thousands of groups).
MAX_GLOB_LENGTH = 512
MAX_GLOB_WILDCARDS = 16


def glob_problem(value: str) -> str | None:
    if len(value) > MAX_GLOB_LENGTH:
        return f"must be at most {MAX_GLOB_LENGTH} characters long"
    if sum(value.count(char) for char in "*?[") > MAX_GLOB_WILDCARDS:
        return f"must have at most {MAX_GLOB_WILDCARDS} wildcards (*, ?, [)"
    return None


def glob_query(request: Request, name: str) -> str | None:
    value = request.query_params.get(name)
    problem = None if value is None else glob_problem(value)
    if problem is not None:
        raise TwilioError(400, INVALID_PARAMETER, f"Invalid {name}: {problem}")
    return value


def sid_query(request: Request, name: str, prefix: str) -> str | None:
    """An optional SID filter from the query string."""
    value = request.query_params.get(name)
    if value is not None and not sids.is_sid(value, prefix):
        raise TwilioError(
            400, INVALID_PARAMETER, f"Invalid {name}: must be {prefix} followed by 32 hex digits"
        )
    return value


def limit_query(request: Request) -> int | None:
    """The optional `limit` of a log listing: keep the newest N."""
    limit = request.query_params.get("limit")
    if limit is None:
        return None
    if not limit.isascii() or not limit.isdigit() or len(limit) > MAX_NUMBER_DIGITS:
        raise TwilioError(400, INVALID_PARAMETER, "Invalid limit: must be a non-negative integer")
    return int(limit)


def flag_query(request: Request, name: str) -> bool:
    """An optional `true` or `false` from the query string; absent is false."""
    value = request.query_params.get(name)
    if value is None or value == "false":
        return False
    if value == "true":
        return True
    raise TwilioError(400, INVALID_PARAMETER, f"Invalid {name}: must be true or false")


def emulator_state(request: Request) -> EmulatorState:
    state: EmulatorState = request.app.state.emulator
    return state
