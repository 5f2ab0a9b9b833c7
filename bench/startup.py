"""Cold start, closer than bench/run.py's median of 5: the emulator and the baseline in turns, many rounds.

    python bench/startup.py                  # 15 rounds: process launch to the first 200 on the webhooks GET
    python bench/startup.py --compare HEAD~3 # also the emulator at another commit, in the same rounds
    python bench/startup.py --imports        # and where the time goes: import time by top-level package
    python bench/startup.py --steps 7        # and the median time of each start-up step over 7 starts

Each round starts each server once, as bench/run.py does (the emulator as a user starts it, on a fresh SQLite
file with the shipped fixtures; bench/sqlmodel_app.py, the floor of the emulator's stack: the baseline with
SQLModel on a fresh SQLite file under it; the baseline FastAPI app), one after the other, so a busy machine
weighs on all of them alike. Printed: median, minimum and maximum of each, and each one's excess over the
baseline (the median of the rounds' differences), which moves less with the machine than either figure does.

`--compare REF` checks REF out into a temporary git worktree and runs the emulator from there with this
environment's packages, under the import name REF's package has (`app` before its rename, else
twilio_conversations_emulator). `--imports` runs each server once more under `python -X importtime` and
sums each module's own import time by top-level package (import time inflates under the flag; the shares
are what matter). `--steps N` starts bench/startup_steps.py N times: app/cli.py's start-up with a clock
mark after each step, one stack of imports at a time.
"""

from __future__ import annotations

import signal
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.options import new_parser
from bench.run import raise_interrupt, say
from bench.servers import (
    THIS_CHECKOUT,
    BenchError,
    Checkout,
    CommandServer,
    ServerProcess,
    baseline_process,
    commit_of,
    emulator_process,
    running,
    sqlmodel_process,
    worktree,
)

# `python -X importtime`, for whatever command line a server has.
IMPORT_TIMES = {"PYTHONPROFILEIMPORTTIME": "1"}


def import_times_by_package(log: str) -> defaultdict[str, float]:
    """`-X importtime` lines (`import time: self | cumulative | name`) summed by top-level package, in ms."""
    totals: defaultdict[str, float] = defaultdict(float)
    for line in log.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        own, _, name = line.removeprefix("import time:").split("|")
        totals[name.strip().split(".")[0]] += int(own) / 1000
    return totals


STEPS_SERVER = Path(__file__).resolve().parent / "startup_steps.py"


def steps_server(folder: Path, database: Path, marks: Path) -> CommandServer:
    return CommandServer(
        "steps",
        lambda port: [sys.executable, str(STEPS_SERVER), str(port), str(database), str(marks)],
        folder,
        env=THIS_CHECKOUT.env(),
    )


def print_steps(folder: Path, starts: int) -> None:
    durations: dict[str, list[float]] = defaultdict(list)
    for attempt in range(starts):
        database, marks = folder / f"steps-{attempt}.db", folder / f"steps-{attempt}.marks"
        server = steps_server(folder, database, marks)
        launched = time.time()
        with running(server):
            answered = launched + server.startup_seconds
        previous = launched
        for line in marks.read_text().splitlines():
            moment, step = line.split("\t")
            durations[step].append(float(moment) - previous)
            previous = float(moment)
        durations["the first answer"].append(answered - previous)
        durations["all"].append(answered - launched)
    print(f"\nstart-up steps, median of {starts} starts (ms)")
    for step, values in durations.items():
        print(f"{statistics.median(values) * 1000:8.1f}  {step}")


def print_samples(samples: dict[str, list[float]]) -> None:
    width = max(map(len, samples))
    print(f"\n{'server':<{width}}  median s  min s  max s  over the baseline s (median of rounds)")
    for name, values in samples.items():
        excess = statistics.median(a - b for a, b in zip(values, samples["baseline"], strict=True))
        print(
            f"{name:<{width}}  {statistics.median(values):8.3f}  {min(values):5.3f}  {max(values):5.3f}"
            + ("" if name == "baseline" else f"  {excess:+.3f}")
        )


def print_import_times(folder: Path) -> None:
    totals: dict[str, defaultdict[str, float]] = {}
    for server in (
        emulator_process(folder / "imports.db", folder, env=IMPORT_TIMES),
        baseline_process(folder, env=IMPORT_TIMES),
    ):
        with running(server):
            pass
        totals[server.name] = import_times_by_package(server.log())
    emulator, baseline = totals["emulator"], totals["baseline"]
    print("\nimport time by top-level package (ms, own time of its modules, under -X importtime)")
    print(f"{'package':<20}  emulator  baseline")
    for package in sorted(emulator.keys() | baseline.keys(), key=lambda name: -emulator[name]):
        if max(emulator[package], baseline[package]) >= 5:
            print(f"{package:<20}  {emulator[package]:8.1f}  {baseline[package]:8.1f}")
    print(f"{'all':<20}  {sum(emulator.values()):8.1f}  {sum(baseline.values()):8.1f}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = new_parser("bench/startup.py", __doc__)
    parser.add_argument("--rounds", type=int, default=15, help="starts of each server (default 15)")
    parser.add_argument("--compare", metavar="REF", help="also start the emulator at this git commit")
    parser.add_argument("--imports", action="store_true", help="print import time by top-level package")
    parser.add_argument("--steps", type=int, default=0, metavar="N", help="time each start-up step, N starts")
    arguments = parser.parse_args(argv)

    # Ctrl-C and SIGTERM alike unwind the stack: the servers stop, the worktree and folders go.
    signal.signal(signal.SIGINT, raise_interrupt)
    signal.signal(signal.SIGTERM, raise_interrupt)
    try:
        measure(arguments.rounds, arguments.compare, arguments.imports, arguments.steps)
    except BenchError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("bench: interrupted; servers stopped", file=sys.stderr)
        return 130
    return 0


def measure(rounds: int, compare: str | None, imports: bool, steps: int) -> None:
    with ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="startup-")))
        sources = {"emulator": THIS_CHECKOUT}
        if compare:
            # Named after the commit, not REF: the name is part of the server's log file name, and a REF
            # such as origin/main is not a file name.
            commit = commit_of(compare)
            sources[f"emulator at {commit}"] = Checkout.of(worktree(commit, stack, prefix="startup-"))
        for checkout in sources.values():
            checkout.compile()
        samples: dict[str, list[float]] = {}  # by server, in the order they start
        say(f"a warm-up round (files into the page cache), then {rounds} rounds ...")
        for attempt in range(-1, rounds):
            servers: list[ServerProcess] = [
                emulator_process(folder / f"{attempt}-{index}.db", folder, name=name, checkout=checkout)
                for index, (name, checkout) in enumerate(sources.items())
            ]
            floor = sqlmodel_process(folder / f"{attempt}-floor.db", folder)
            for server in [*servers, floor, baseline_process(folder)]:
                with running(server):
                    if attempt >= 0:
                        samples.setdefault(server.name, []).append(server.startup_seconds)
        print_samples(samples)
        if imports:
            print_import_times(folder)
        if steps:
            print_steps(folder, steps)


if __name__ == "__main__":
    sys.exit(main())
