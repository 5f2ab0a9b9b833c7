"""What each control store costs a Twilio API request: the in-memory copy against the table copy.

    .venv/bin/python bench/control_stores.py            # 2000 operations of each
    .venv/bin/python bench/control_stores.py --ops 500

Every Twilio API request appends a journal entry, remembers its signing token and asks whether a fault
is queued. One process keeps those in memory; several processes sharing a database keep them in tables
(a SQLite file beside the data, written without a sync to disk, through a worker thread). This measures
each operation alone, in one event loop, on a temporary file, and prints microseconds per operation for
both copies, their ratio, and the table copy's cost as a share of one GET of a webhook configuration at
the throughput bench/run.py measures for one process (pass `--get-per-second`). Nothing listens; no
traffic leaves the process.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from twilio_conversations_emulator.control.faults import FaultQueue, TableFaultQueue
from twilio_conversations_emulator.control.journal import JournalEntry
from twilio_conversations_emulator.control.ring import MemoryEntries, TableEntries
from twilio_conversations_emulator.control.tables import CONTROL_METADATA
from twilio_conversations_emulator.control.tokens import MemoryTokens, TableTokens
from twilio_conversations_emulator.db import Database

ACCOUNT = "AC" + "0" * 32
PATH = "/v1/Services/IS00000000000000000000000000000000/Configuration/Webhooks"


def entry(number: int) -> JournalEntry:
    return JournalEntry(
        time=time.time(),
        request_id=f"RQ{number:032x}",
        method="GET",
        path=PATH,
        query="",
        params=[],
        account_sid=ACCOUNT,
        username=ACCOUNT,
        status=200,
        duration_ms=0.4,
    )


async def timed(operation: Callable[[int], Awaitable[object]], ops: int) -> float:
    """Microseconds per call of `operation`, after a warm-up."""
    for number in range(min(50, ops)):
        await operation(number)
    started = time.perf_counter()
    for number in range(ops):
        await operation(number)
    return (time.perf_counter() - started) / ops * 1e6


async def measure(folder: Path, ops: int) -> list[tuple[str, float, float]]:
    control = Database(
        f"sqlite:///{folder / 'emulator.db-control'}",
        CONTROL_METADATA,
        durable=False,
        serialized=False,
        read_cache=False,
    )
    control.create_schema()
    try:
        memory_log: MemoryEntries[JournalEntry] = MemoryEntries(1000)
        table_log: TableEntries[JournalEntry] = TableEntries(
            control, "journal", 1000, lambda data: JournalEntry(**data)
        )
        memory_tokens, table_tokens = MemoryTokens(), TableTokens(control)
        memory_faults, table_faults = FaultQueue(), TableFaultQueue(control)
        return [
            (
                "journal append",
                await timed(lambda n: memory_log.append(entry(n)), ops),
                await timed(lambda n: table_log.append(entry(n)), ops),
            ),
            (
                "signing token",
                await timed(lambda n: memory_tokens.remember(ACCOUNT, "token"), ops),
                await timed(lambda n: table_tokens.remember(ACCOUNT, "token"), ops),
            ),
            (
                "fault check (none queued)",
                await timed(lambda n: memory_faults.take("GET", PATH, ACCOUNT), ops),
                await timed(lambda n: table_faults.take("GET", PATH, ACCOUNT), ops),
            ),
        ]
    finally:
        control.dispose()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--ops", type=int, default=2000, help="operations of each kind (default 2000)")
    parser.add_argument(
        "--get-per-second",
        type=float,
        default=2400.0,
        help="one process's GET throughput from bench/run.py, for the share column (default 2400)",
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="control-stores-") as folder:
        rows = asyncio.run(measure(Path(folder), args.ops))
    request_us = 1e6 / args.get_per_second
    print(f"{'operation':<28}{'memory µs':>11}{'table µs':>11}{'ratio':>9}{'table / GET':>13}")
    for name, memory, table in rows:
        print(f"{name:<28}{memory:>11.2f}{table:>11.1f}{table / memory:>8.0f}x{table / request_us:>12.0%}")
    total = sum(table for _, _, table in rows)
    print(f"\nall three from tables: {total:.0f} µs a request, {total / request_us:.0%} of one GET")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
