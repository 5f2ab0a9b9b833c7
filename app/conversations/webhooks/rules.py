"""What a valid webhook configuration is: event names, URLs, methods and targets.

Shared by the per-service and account-level resources and the fixture loader, so all three accept and
refuse exactly the same values.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from urllib.parse import urlsplit

from ...twilio.errors import INVALID_PARAMETER, TwilioError

INVALID_FILTER = 50054
INVALID_METHOD = 50055
INVALID_PRE_WEBHOOK_URL = 50077
INVALID_POST_WEBHOOK_URL = 50078

MAX_URL_LENGTH = 2048
METHODS = ("GET", "POST")
# What a delivery uses when its configuration names no method.
DEFAULT_METHOD = "POST"

PRE_EVENTS = (
    "onMessageAdd",
    "onMessageUpdate",
    "onMessageRemove",
    "onConversationAdd",
    "onConversationUpdate",
    "onConversationRemove",
    "onParticipantAdd",
    "onParticipantUpdate",
    "onParticipantRemove",
)
POST_EVENTS = (
    "onMessageAdded",
    "onMessageUpdated",
    "onMessageRemoved",
    "onConversationAdded",
    "onConversationUpdated",
    "onConversationRemoved",
    "onConversationStateUpdated",
    "onParticipantAdded",
    "onParticipantUpdated",
    "onParticipantRemoved",
    "onDeliveryUpdated",
)
SERVICE_EVENTS = frozenset(PRE_EVENTS + POST_EVENTS)
# The account-level configuration also filters user events, which a service's own cannot.
USER_PRE_EVENTS = ("onUserUpdate",)
USER_POST_EVENTS = ("onUserAdded", "onUserUpdated")
ACCOUNT_EVENTS = SERVICE_EVENTS | frozenset(USER_PRE_EVENTS + USER_POST_EVENTS)

TARGETS = ("webhook", "flex")
DEFAULT_TARGET = "webhook"

_DNS_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")


def url_problem(value: str) -> str | None:
    """Why `value` is not an acceptable webhook URL, or None when it is."""
    if len(value) > MAX_URL_LENGTH:
        return f"it is longer than {MAX_URL_LENGTH} characters"
    if any(_is_space_or_control(char) for char in value):
        return "it contains whitespace, a control character or an invisible format character"
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number in range
    except ValueError as exc:
        return f"it cannot be parsed ({exc})"
    if parts.scheme.lower() not in ("http", "https"):
        return "it is not an absolute http or https URL"
    host = parts.hostname
    if not host:
        return "it has no host"
    if not _valid_host(host):
        return f"its host {host!r} is not a valid host name or IP address"
    return None


def _is_space_or_control(char: str) -> bool:
    """ASCII controls and space, DEL, the C1 controls, every other Unicode space or line break, and the
    invisible format characters (U+200B zero-width space, U+200C/D joiners, U+2060, U+FEFF, bidi marks…),
    which would make two URLs that look alike differ."""
    code = ord(char)
    return (
        code <= 0x20
        or 0x7F <= code <= 0x9F
        or char.isspace()
        or unicodedata.category(char) in ("Zl", "Zp", "Zs", "Cf", "Cc", "Cs", "Co", "Cn")
    )


def _valid_host(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        pass
    try:
        ascii_host = host.encode("idna").decode("ascii")
    except UnicodeError:
        return False
    labels = ascii_host.rstrip(".").split(".")
    if len(ascii_host) > 253 or not all(_DNS_LABEL.fullmatch(label) for label in labels):
        return False
    # A dotted name whose last label is all digits is a malformed IPv4 address, not a host name.
    return not (len(labels) > 1 and labels[-1].isdigit())


def checked_url(value: str, *, parameter: str, code: int) -> str | None:
    """A URL parameter's value to store: None for an empty value (clears it), else the URL as given."""
    if value == "":
        return None
    problem = url_problem(value)
    if problem is not None:
        raise TwilioError(400, code, f"Invalid {parameter}: {problem}")
    return value


def checked_filters(values: list[str], events: frozenset[str] = SERVICE_EVENTS) -> list[str]:
    """Filters to store: empty values dropped, duplicates dropped (first kept), order kept."""
    kept: list[str] = []
    for value in values:
        if value == "":
            continue
        if value not in events:
            raise TwilioError(
                400, INVALID_FILTER, f"Invalid Filters value {value!r}: not a Conversations event"
            )
        if value not in kept:
            kept.append(value)
    return kept


def checked_method(value: str) -> str | None:
    """A Method to store: upper case, or None for an empty value (clears it)."""
    if value == "":
        return None
    normalized = value.upper() if value.isascii() else value
    if normalized not in METHODS:
        raise TwilioError(400, INVALID_METHOD, f"Invalid Method {value!r}: must be GET or POST")
    return normalized


def checked_target(value: str) -> str:
    """A Target to store: lower case; an empty value puts back the default, `webhook`."""
    if value == "":
        return DEFAULT_TARGET
    normalized = value.lower() if value.isascii() else value
    if normalized not in TARGETS:
        raise TwilioError(400, INVALID_PARAMETER, f"Invalid Target {value!r}: must be webhook or flex")
    return normalized
