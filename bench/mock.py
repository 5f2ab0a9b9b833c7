"""What entering `mock_twilio` costs: the first entry of a process, and every later one.

    python bench/mock.py              # 200 later entries
    python bench/mock.py --rounds 50

Run in a fresh process, so the first entry is what a test suite's first test pays: the engine's imports
(FastAPI, SQLAlchemy, responses), building the app on an in-memory database with the shipped fixtures, and
its lifespan. Each later round enters, makes one SDK request (so the next entry's reset has a row to wipe),
and leaves; entry and exit are timed apart. The goal is a later entry of at most 20 ms.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.options import new_parser

GOAL_MS = 20.0


def milliseconds(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def main() -> None:
    parser = new_parser("bench/mock.py", __doc__)
    parser.add_argument("--rounds", type=int, default=200, help="later entries to time (default 200)")
    options = parser.parse_args()

    started = time.perf_counter()
    from twilio.rest import Client
    from twilio_conversations_emulator import mock_twilio

    imported = time.perf_counter()
    mock = mock_twilio()
    entering = time.perf_counter()
    with mock as emulator:
        entered = time.perf_counter()
        client = Client("AC00000000000000000000000000000000", "demo-auth-token")
        client.conversations.v1.services.create(friendly_name="first")
        assert len(emulator.requests()) == 1
        leaving = time.perf_counter()
    left = time.perf_counter()

    entries: list[float] = []
    exits: list[float] = []
    for round_ in range(options.rounds):
        before = time.perf_counter()
        with mock as emulator:
            after = time.perf_counter()
            client.conversations.v1.services.create(friendly_name=f"round {round_}")
            # The entry's reset left only this request in the journal.
            assert len(emulator.requests()) == 1
            leaving_round = time.perf_counter()
        exits.append(time.perf_counter() - leaving_round)
        entries.append(after - before)

    entries.sort()
    p95 = entries[max(0, round(len(entries) * 0.95) - 1)]
    median = statistics.median(entries)
    print(f"python {sys.version.split()[0]}, {options.rounds} later entries")
    print(f"imports (twilio, the package): {milliseconds(imported - started)}")
    print(f"first entry (engine imports, app built, lifespan, reset): {milliseconds(entered - entering)}")
    print(f"first exit: {milliseconds(left - leaving)}")
    print(
        f"later entry: median {milliseconds(median)}, p95 {milliseconds(p95)}, "
        f"min {milliseconds(entries[0])}, max {milliseconds(entries[-1])}"
    )
    print(f"later exit: median {milliseconds(statistics.median(exits))}, max {milliseconds(max(exits))}")
    print(f"goal: later entry median <= {GOAL_MS:.0f} ms: {'PASS' if median * 1000 <= GOAL_MS else 'MISS'}")


if __name__ == "__main__":
    main()
