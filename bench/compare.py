"""A/B throughput: the emulator at this checkout against the emulator at another commit, in one sitting.

    python bench/compare.py 040eadd                   # 5 rounds of 5 s loads: GET, POST, MIX, MESSAGE
    python bench/compare.py HEAD~1 --loads GET,POST   # some of the loads
    python bench/compare.py 040eadd --rounds 9 --duration 10 --json /tmp/compare.json

Separate runs of bench/run.py move ±10-20% on a busy machine, as much as most changes do. This script starts
three servers once and keeps them up: the baseline (bench/baseline_app.py), the emulator of this checkout,
and the emulator at REF, checked out into a temporary git worktree and run with this environment's packages
(as `bench/startup.py --compare` does); each emulator on a fresh SQLite file with the shipped fixtures, as
bench/run.py starts it. Then, round after round, each load (bench/run.py's wrk scripts) runs on the three
servers one after the other, a warm-up before each measured load, the order rotated each round so that no
server always goes first.

Printed, per load:

- each server's median req/s and median p99 over the rounds;
- each emulator's ratio to the baseline: the median of the per-round ratios (req/s over the baseline's in
  the same round), with their min and max; these are bench/run.py's figures, comparable with the README's;
- `this / REF`: this checkout's ratio over REF's, per round, then the median, min and max. Above 1 this
  checkout is faster. Within a round the baseline cancels out of it (it is this checkout's req/s over REF's,
  measured seconds apart), so its spread over the rounds is the machine's noise. When min and max lie on the
  same side of 1 every round agreed ("faster/slower in every round": with 5 rounds, chance alone does that
  once in 16 sittings); otherwise the difference is within the spread: run more rounds, or take it as no
  difference;
- errors (non-2xx responses, socket errors), summed over the rounds, where there were any.

A REF whose emulator has no /v1/Conversations (040eadd, before the conversation resources) cannot take the
MESSAGE load: it is skipped for that server, with a line saying so. Every server listens on 127.0.0.1 and a
free port; the end of the run, an error, Ctrl-C or SIGTERM stops them all and removes the worktree.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.options import LoadOptions, add_load_arguments, load_options, new_parser
from bench.run import (
    LOADS,
    LoadResult,
    Wrk,
    create_message_conversation,
    describe_errors,
    fetch,
    figures_of,
    machine_facts,
    ratio,
    run_and_report,
    say,
    table,
)
from bench.servers import (
    AUTHORIZATION,
    REPO,
    THIS_CHECKOUT,
    BenchError,
    Checkout,
    ServerProcess,
    baseline_process,
    commit_of,
    connect,
    emulator_process,
    running,
    worktree,
)
from bench.tools import ensure_wrk

DEFAULT_ROUNDS = 5
DEFAULT_DURATION_S = 5

# The three servers, by role: the keys of every figure in the report.
BASELINE, THIS, REF = "baseline", "this", "ref"
ROLES = (BASELINE, THIS, REF)
EMULATORS = (THIS, REF)


# --------------------------------------------------------------------------------------------- options


@dataclass(frozen=True)
class Options(LoadOptions):
    ref: str
    rounds: int
    loads: tuple[str, ...]


def load_names(text: str) -> tuple[str, ...]:
    """`GET,POST` as (GET, POST): names of bench/run.py's loads, in the order given, each once."""
    names = tuple(dict.fromkeys(name.strip().upper() for name in text.split(",") if name.strip()))
    unknown = [name for name in names if name not in LOADS]
    if unknown or not names:
        raise ValueError(f"{text!r}: choose from {','.join(LOADS)}")
    return names


def parse_options(argv: Sequence[str] | None) -> Options:
    parser = new_parser("bench/compare.py", __doc__)
    parser.add_argument(
        "ref", metavar="REF", help="the git commit to compare with (hash, tag, branch, HEAD~N)"
    )
    parser.add_argument(
        "--rounds", type=int, default=DEFAULT_ROUNDS, help=f"rounds of every load (default {DEFAULT_ROUNDS})"
    )
    parser.add_argument(
        "--loads",
        default=",".join(LOADS),
        metavar="NAMES",
        help=f"the loads, comma-separated (default {','.join(LOADS)})",
    )
    add_load_arguments(parser, quick_help="a smoke run: 3 s loads", default_duration=DEFAULT_DURATION_S)
    arguments = parser.parse_args(argv)
    if arguments.rounds < 1:
        parser.error("--rounds must be >= 1")
    try:
        loads = load_names(arguments.loads)
    except ValueError as exc:
        parser.error(f"--loads {exc}")
    return Options(
        **load_options(parser, arguments),
        ref=arguments.ref,
        rounds=arguments.rounds,
        loads=loads,
    )


# ------------------------------------------------------------------------------------------ measuring


@dataclass
class Report:
    machine: dict[str, Any]
    options: dict[str, Any]
    # `ref` as given, its `commit` and the commit's `subject`.
    ref: dict[str, str]
    # Each role's label in the tables.
    labels: dict[str, str]
    skipped: list[str] = field(default_factory=list)
    # Per load: `servers` (each role's figures per round and their medians), `ratio_to_baseline` (each
    # emulator's), `this_over_ref` (None where one emulator skipped the load), `orders` (per round).
    load: dict[str, Any] = field(default_factory=dict)


def subject_of(commit: str) -> str:
    found = subprocess.run(
        ["git", "-C", str(REPO), "log", "-1", "--format=%s", commit], capture_output=True, text=True
    )
    return found.stdout.strip()


def rotated(roles: Sequence[str], turn: int) -> list[str]:
    """Round `turn`'s order: each round starts one server later."""
    shift = turn % len(roles)
    return [*roles[shift:], *roles[:shift]]


def skipped_message(server: ServerProcess) -> str | None:
    """None once `server` has bench/run.py's conversation for the message load; else why it has not."""
    connection = connect(server)
    try:
        status, _ = fetch(connection, "GET", "/v1/Conversations", headers={"Authorization": AUTHORIZATION})
    finally:
        connection.close()
    if status == 404:
        return (
            f"MESSAGE skipped for {server.name}: GET /v1/Conversations answers 404 (no conversations there)"
        )
    try:
        create_message_conversation(server)
    except BenchError as exc:
        return f"MESSAGE skipped for {server.name}: {str(exc).splitlines()[0][:300]}"
    return None


def spread(values: list[float]) -> dict[str, Any]:
    return {"rounds": values, "median": statistics.median(values), "min": min(values), "max": max(values)}


def error_totals(results: Sequence[LoadResult]) -> dict[str, Any]:
    """The errors of all rounds, in bench/run.py's figures' shape (for `describe_errors`)."""
    kinds = {
        kind: sum(result.socket_errors_by_kind[kind] for result in results)
        for kind in results[0].socket_errors_by_kind
    }
    non_2xx = sum(result.non_2xx for result in results)
    return {"non_2xx": non_2xx, "socket_errors_by_kind": kinds, "errors": non_2xx + sum(kinds.values())}


def summarize(label: str, measured: dict[str, list[LoadResult]], orders: list[list[str]]) -> dict[str, Any]:
    baseline = measured[BASELINE]
    ratios = {
        role: [
            ratio(mine.requests_per_second, base.requests_per_second)
            for mine, base in zip(measured[role], baseline, strict=True)
        ]
        for role in EMULATORS
        if role in measured
    }
    this_over_ref = (
        spread([ratio(mine, theirs) for mine, theirs in zip(ratios[THIS], ratios[REF], strict=True)])
        if len(ratios) == len(EMULATORS)
        else None
    )
    return {
        "label": label,
        "orders": orders,
        "servers": {
            role: {
                "median_rps": statistics.median(result.requests_per_second for result in results),
                "median_p99_ms": statistics.median(result.p99_ms for result in results),
                "errors": error_totals(results),
                "rounds": [figures_of(result) for result in results],
            }
            for role, results in measured.items()
        },
        "ratio_to_baseline": {role: spread(values) for role, values in ratios.items()},
        "this_over_ref": this_over_ref,
    }


def run(options: Options) -> Report:
    commit = commit_of(options.ref)  # a bad REF ends the run here, before anything starts
    wrk_executable = ensure_wrk()
    with ExitStack() as stack:
        other = Checkout.of(worktree(commit, stack, prefix="compare-"))
        for checkout in (THIS_CHECKOUT, other):
            checkout.compile()
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="compare-")))
        wrk = Wrk(wrk_executable, folder, options.threads, options.connections)
        report = Report(
            machine=machine_facts(wrk, folder),
            options=options.as_json(),
            ref={"ref": options.ref, "commit": commit, "subject": subject_of(commit)},
            labels={
                BASELINE: "baseline",
                THIS: "emulator (this checkout)",
                REF: f"emulator at {options.ref}",
            },
        )
        say(
            f"Machine: {report.machine['nproc']} CPUs, {report.machine['cpu_model']},"
            f" Python {report.machine['python']}, {report.machine['wrk']}"
        )
        say(f"This checkout: {report.machine['source']}; REF {options.ref}: {commit} {report.ref['subject']}")

        say("Starting the baseline and the two emulators (fresh SQLite files, shipped fixtures) ...")
        servers: dict[str, ServerProcess] = {
            BASELINE: stack.enter_context(running(baseline_process(folder))),
            THIS: stack.enter_context(running(emulator_process(folder / "this.db", folder))),
            REF: stack.enter_context(
                running(
                    emulator_process(folder / "ref.db", folder, name=f"emulator at {commit}", checkout=other)
                )
            ),
        }
        takes = {scenario: list(ROLES) for scenario in options.loads}
        if "MESSAGE" in takes:
            for role in EMULATORS:
                why = skipped_message(servers[role])
                if why is not None:
                    say(why)
                    report.skipped.append(why)
                    takes["MESSAGE"].remove(role)
            if not any(role in takes["MESSAGE"] for role in EMULATORS):
                say("MESSAGE skipped: neither emulator has the conversation")
                del takes["MESSAGE"]

        runs = options.rounds * sum(map(len, takes.values()))
        say(
            f"{options.rounds} rounds, {runs} loads of {options.warmup} + {options.duration} s:"
            f" about {runs * (options.warmup + options.duration) / 60:.1f} minutes ..."
        )
        measured: dict[str, dict[str, list[LoadResult]]] = {scenario: {} for scenario in takes}
        orders: dict[str, list[list[str]]] = {scenario: [] for scenario in takes}
        for turn in range(options.rounds):
            for scenario, roles in takes.items():
                order = rotated(roles, turn)
                orders[scenario].append(order)
                names = ", ".join(servers[role].name for role in order)
                say(f"  round {turn + 1}/{options.rounds}, {scenario}: {names}")
                for role in order:
                    if options.warmup:
                        wrk.run(scenario, servers[role], options.warmup)
                    result = wrk.run(scenario, servers[role], options.duration)
                    measured[scenario].setdefault(role, []).append(result)
        for scenario in takes:
            by_role = {role: measured[scenario][role] for role in ROLES if role in measured[scenario]}
            report.load[scenario] = summarize(LOADS[scenario][0], by_role, orders[scenario])
        report.machine["load_average_at_end"] = list(os.getloadavg())
        return report


# ------------------------------------------------------------------------------------------- reporting


def verdict(low: float, high: float) -> str:
    if low > 1:
        return "faster in every round"
    if high < 1:
        return "slower in every round"
    return "within the spread"


def spread_cells(figures: dict[str, Any]) -> list[str]:
    return [f"{figures[key]:.2f}x" for key in ("median", "min", "max")]


def render(report: Report, markdown: bool = False) -> str:
    options, labels = report.options, report.labels
    ref = report.ref["ref"]
    rows: list[list[str]] = []
    errors: list[str] = []
    for entry in report.load.values():
        label = entry["label"]
        for role, figures in entry["servers"].items():
            ratios = entry["ratio_to_baseline"].get(role)
            rows.append(
                [
                    label,
                    labels[role],
                    f"{figures['median_rps']:.0f}",
                    f"{figures['median_p99_ms']:.2f}",
                    *(spread_cells(ratios) if ratios else ["", "", ""]),
                    "",
                ]
            )
            if figures["errors"]["errors"]:
                errors.append(f"{label}, {labels[role]}: {describe_errors(figures['errors'])}")
        both = entry["this_over_ref"]
        if both is not None:
            rows.append(
                [label, f"this / {ref}", "", "", *spread_cells(both), verdict(both["min"], both["max"])]
            )
    parts = [
        f"this checkout: {report.machine['source']}; {ref}: {report.ref['commit']} {report.ref['subject']}",
        f"Load: wrk -t{options['threads']} -c{options['connections']} -d{options['duration']}s --latency"
        f" after a {options['warmup']} s warm-up, {options['rounds']} rounds, the servers in turns (the order"
        " rotated each round).\nreq/s and p99: medians over the rounds. ratio: an emulator's req/s over the"
        f" baseline's in the same round;\nthis / {ref}: this checkout's ratio over {ref}'s (> 1: faster)."
        " median, min and max: of the rounds' ratios.",
        table(["load", "server", "req/s", "p99 ms", "ratio", "min", "max", ""], rows, markdown),
    ]
    if report.skipped:
        parts.append("\n".join(report.skipped))
    parts.append("errors (all rounds): " + ("\n  ".join(["", *errors]) if errors else "none"))
    return "\n\n".join(parts)


# ------------------------------------------------------------------------------------------------ main


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_options(argv)
    report = run_and_report(
        lambda: run(options),
        render,
        markdown_on_screen=False,
        json_path=options.json_path,
        markdown_path=None,
        stopped="servers",
    )
    return report if isinstance(report, int) else 0


if __name__ == "__main__":
    sys.exit(main())
