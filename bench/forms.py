"""Form parsing: the emulator's `parse_form`, on urllib's `parse_qsl`, against python-multipart's parser.

    python bench/forms.py              # each body, both parsers, best of 25 timeit runs
    python bench/forms.py --repeat 60  # more runs when the machine is busy

`parse_form_multipart` below is `parse_form` with python-multipart's `QuerystringParser` doing the
splitting. That parser only splits, so the UTF-8 check, the parameter limit and the percent-decoding are
the same code on both sides and the difference is the splitting alone. The two must give the same pairs:
checked on each body before it is timed, and on random bodies by tests/test_forms.py.

Bodies: a webhook update with 2 Filters, a message create with a 1 KB Body, the largest accepted number of
parameters (1000), and a body at the default size limit (1 MiB). Printed: each body's size, the µs per
parse of each parser (the best of many short runs of about 20 ms, the two parsers in turns, so that a busy
machine weighs on both alike and its quiet moments are found) and python-multipart's time over
parse_qsl's. Needs python-multipart, which is in the `test` extra only: the emulator does not use it.
"""

from __future__ import annotations

import argparse
import platform
import sys
import timeit
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote_plus, unquote_plus, urlencode

from python_multipart import QuerystringParser

if TYPE_CHECKING:  # defined for type checkers only
    from python_multipart.multipart import QuerystringCallbacks

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from twilio_conversations_emulator.twilio.errors import unreadable_body
from twilio_conversations_emulator.twilio.forms import (
    FORM_CONTENT_TYPE,
    MAX_PARAMETERS,
    FormParameters,
    parse_form,
)

from bench.run import ratio, table

Parser = Callable[[str | None, bytes], FormParameters]
LARGE = 1024 * 1024  # the default request body limit (TWILIO_EMULATOR_MAX_BODY_BYTES)


def parse_form_multipart(content_type: str | None, body: bytes) -> FormParameters:
    """`parse_form`'s rules, split by python-multipart (0.0.30 or later: older ones also split at `;`)."""
    media_type = (content_type or FORM_CONTENT_TYPE).split(";", 1)[0].strip().lower()
    if media_type != FORM_CONTENT_TYPE or not body:
        return FormParameters([])
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise unreadable_body(f"it is not UTF-8 (byte {exc.start})") from None
    # parse_qsl's limit: it counts `&`-separated pieces, empty ones too, before it splits.
    if body.count(b"&") + 1 > MAX_PARAMETERS:
        raise unreadable_body(f"it has more than {MAX_PARAMETERS} parameters")

    raw: list[tuple[bytes, bytes]] = []
    name = value = b""

    def on_field_name(data: bytes, start: int, end: int) -> None:
        nonlocal name
        name += data[start:end]

    def on_field_data(data: bytes, start: int, end: int) -> None:
        nonlocal value
        value += data[start:end]

    def on_field_end() -> None:
        nonlocal name, value
        raw.append((name, value))
        name = value = b""

    callbacks: QuerystringCallbacks = {
        "on_field_name": on_field_name,
        "on_field_data": on_field_data,
        "on_field_end": on_field_end,
    }
    parser = QuerystringParser(callbacks)
    parser.write(body)
    parser.finalize()
    # Pieces of valid UTF-8 cut at ASCII `&` and `=` are valid UTF-8. Percent-decoding the text (not the
    # bytes) is what parse_qsl does, so the same escapes are refused.
    try:
        pairs = [
            (unquote_plus(key.decode(), errors="strict"), unquote_plus(text.decode(), errors="strict"))
            for key, text in raw
        ]
    except UnicodeDecodeError:
        raise unreadable_body("a percent-encoded value is not UTF-8") from None
    return FormParameters(pairs)


def bodies() -> dict[str, bytes]:
    webhook = urlencode(
        [
            ("Filters", "onMessageAdded"),
            ("Filters", "onConversationUpdated"),
            ("Method", "POST"),
            ("PreWebhookUrl", "https://hooks.example.com/twilio/pre?token=abc123"),
            ("PostWebhookUrl", "https://hooks.example.com/twilio/post?token=abc123"),
        ]
    )
    # Prose with punctuation, accents and an emoji, as a chat message has: a mix of `+` and `%XX`.
    text = "Hello Zoë, the meeting moved to 3 pm (room 4B) — see you there! 👋 Thanks & regards. "
    message = urlencode(
        [
            ("Author", "zoe@example.com"),
            ("Body", (text * 20)[:1024]),
            ("Attributes", '{"priority": "high", "thread": 42}'),
        ]
    )
    many = "&".join(f"Filters=onMessageAdded{index}" for index in range(MAX_PARAMETERS))
    prefix = "Author=zoe%40example.com&Body="
    chunk = quote_plus(text)
    large = prefix + chunk * ((LARGE - len(prefix)) // len(chunk))
    large += "x" * (LARGE - len(large))
    return {
        "webhook update, 2 Filters": webhook.encode(),
        "message create, 1 KB Body": message.encode(),
        f"{MAX_PARAMETERS} parameters": many.encode(),
        "1 MiB body": large.encode(),
    }


def parse_timer(parse: Parser, body: bytes) -> timeit.Timer:
    return timeit.Timer(lambda: parse(FORM_CONTENT_TYPE, body))


def microseconds_per_parse(parsers: dict[str, Parser], body: bytes, repeat: int) -> dict[str, float]:
    """Each parser's best of `repeat` runs, in turns; a run is about 20 ms of parses."""
    timers = {name: parse_timer(parse, body) for name, parse in parsers.items()}
    # autorange: the number of parses that takes 0.2 s or more.
    numbers = {name: max(1, timer.autorange()[0] // 10) for name, timer in timers.items()}
    best = dict.fromkeys(parsers, float("inf"))
    for _ in range(repeat):
        for name, timer in timers.items():
            best[name] = min(best[name], timer.timeit(numbers[name]) / numbers[name] * 1e6)
    return best


def size(length: int) -> str:
    return f"{length / 1024 / 1024:.1f} MiB" if length >= 1024 * 1024 else f"{length:,} B"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=25, help="timeit runs of each parser (default 25)")
    arguments = parser.parse_args(argv)

    parsers: dict[str, Parser] = {"parse_qsl": parse_form, "python-multipart": parse_form_multipart}
    print(
        f"Python {platform.python_version()}, python-multipart {metadata.version('python-multipart')}; "
        f"best of {arguments.repeat} runs"
    )
    rows = []
    for label, body in bodies().items():
        results = {name: parse(FORM_CONTENT_TYPE, body).pairs for name, parse in parsers.items()}
        if results["python-multipart"] != results["parse_qsl"]:
            print(f"bench: the parsers disagree on the {label}", file=sys.stderr)
            return 2
        figures = microseconds_per_parse(parsers, body, arguments.repeat)
        rows.append(
            [
                label,
                size(len(body)),
                str(len(results["parse_qsl"])),
                f"{figures['parse_qsl']:,.1f}",
                f"{figures['python-multipart']:,.1f}",
                f"{ratio(figures['python-multipart'], figures['parse_qsl']):.2f}x",
            ]
        )
    headers = ["body", "size", "parameters", "parse_qsl µs", "python-multipart µs", "ratio"]
    print(table(headers, rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
