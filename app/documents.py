"""Reading JSON documents (control API bodies, fixture files): only text that is all Unicode and numbers
of a sane length, so nothing read can later fail to be stored, encoded or answered."""

from __future__ import annotations

import json
from typing import Any

# Far beyond any count or id a control call needs; Python refuses to read integers of more than 4300
# digits anyway, and a shorter bound keeps the refusal cheap.
MAX_NUMBER_DIGITS = 64


def _number(text: str) -> int | float:
    if len(text.lstrip("-")) > MAX_NUMBER_DIGITS:
        raise ValueError(f"a number of more than {MAX_NUMBER_DIGITS} digits")
    return float(text) if any(char in text for char in ".eE") else int(text)


def _refuse_lone_surrogates(value: Any) -> None:
    """JSON's `\\ud800` escapes decode to text that is not Unicode: no storage or answer can hold it."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise ValueError("a string holds an unpaired surrogate (\\ud800-\\udfff)") from None
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)


def read_json(text: bytes | str) -> Any:
    """The document in `text`; ValueError (a JSONDecodeError, or why it was refused) or RecursionError."""
    try:
        document = json.loads(text, parse_int=_number, parse_float=_number)
    except UnicodeError as exc:
        raise ValueError(str(exc)) from None
    _refuse_lone_surrogates(document)
    return document
