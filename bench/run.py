"""Benchmark the emulator against a minimal FastAPI baseline and its peers, in one run, and check the goals.

    python bench/run.py                  # full run: wrk -t2 -c32 -d10s --latency per load
    python bench/run.py --quick          # smoke run: 3 s loads, fewer samples
    python bench/run.py --json out.json  # also write every figure as JSON
    python bench/run.py --no-peers       # without WireMock and Prism

The emulator is started as a user starts it (`python -m twilio_conversations_emulator serve`, a fresh
SQLite file in a temporary folder, the shipped fixtures); the baseline is bench/baseline_app.py on the
same uvicorn settings. On the GET load, the peers too (bench/peers.py): WireMock with one static stub and
Prism on Twilio's OpenAPI file, each skipped with a line saying why when Java, npm or the spec is missing.
All listen on 127.0.0.1 and a free port and are stopped at the end, on Ctrl-C and on error.

Measured: throughput and latency under wrk (GET, POST, a 90/10 mix, the message create; the peers on GET),
cold start and RSS after the load (of every server), `POST /_emulator/reset` time, and sequential GET latency
with 10 versus 100,000 services stored.
Standard library only, plus `wrk` (installed from Debian's packages when missing and running as root); the
peers need Java (likewise) and npm.
"""

from __future__ import annotations

import http.client
import json
import math
import os
import platform
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.options import LoadOptions, add_check_argument, add_load_arguments, load_options, new_parser
from bench.peers import Peer, available_peers
from bench.servers import (
    ACCOUNT_SID,
    AUTHORIZATION,
    REPO,
    SERVICE_SID,
    THIS_CHECKOUT,
    BenchError,
    EmulatorProcess,
    ServerProcess,
    baseline_process,
    connect,
    descendants,
    emulator_process,
    running,
    webhooks_path,
)
from bench.tools import ensure_wrk, program_version

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
POST_BODY = "Filters=onMessageAdd&Filters=onMessageAdded&Method=POST"
# Under load each wrk thread alternates between two of these, so (nearly) every POST changes the stored
# configuration and is a real write: an update that changes nothing writes no page and commits for free
# (50 identical POSTs leave the WAL file as it was), which would not measure the write path at all.
POST_BODIES = (
    POST_BODY,
    "Filters=onMessageAdded&Filters=onMessageAdd&Method=POST",
    "Filters=onMessageAdd&Filters=onMessageAdded&Method=GET",
    "Filters=onMessageAdded&Filters=onMessageAdd&Method=GET",
)


# The goals the emulator is held to; each row of the final table is one of these.
GOAL_GET_RPS_RATIO = 0.75
GOAL_GET_RPS_PEER = "wiremock"  # GET req/s at least this peer's
GOAL_WRITE_RPS_RATIO = 0.35  # the webhook update and the message create
GOAL_GET_P99_RATIO = 2.0
GOAL_MIX_P99_RATIO = 3.0
GOAL_COLD_START_OVER_S = 0.15  # over the baseline's, median of the rounds' differences
GOAL_RSS_MB = 90.0
GOAL_SCALE_RATIO = 1.2
GOAL_RESET_MS = 5.0

# WireMock on a JVM went from 152 to 1194 GET/s over five 5 s loads in a row here: a peer is measured warm.
PEER_WARMUP_S = 20
QUICK_PEER_WARMUP_S = 5

SCALE_SMALL = 10
SCALE_LARGE = 100_000


# ------------------------------------------------------------------------------------------- requests


def fetch(
    connection: http.client.HTTPConnection,
    method: str,
    path: str,
    body: str | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, bytes]:
    connection.request(method, path, body=body, headers=headers or {})
    response = connection.getresponse()
    return response.status, response.read()


def get_webhooks(connection: http.client.HTTPConnection, service_sid: str = SERVICE_SID) -> tuple[int, bytes]:
    return fetch(connection, "GET", webhooks_path(service_sid), headers={"Authorization": AUTHORIZATION})


def post_webhooks(connection: http.client.HTTPConnection) -> tuple[int, bytes]:
    headers = {"Authorization": AUTHORIZATION, "Content-Type": FORM_CONTENT_TYPE}
    return fetch(connection, "POST", webhooks_path(), body=POST_BODY, headers=headers)


# ------------------------------------------------------------------------------------------ statistics


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else math.nan


def rss_kib(pid: int) -> int:
    """VmRSS of a process and all its descendants, in KiB."""
    total = 0
    for current in [pid, *descendants(pid)]:
        try:
            status = Path(f"/proc/{current}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total


# ------------------------------------------------------------------------------------------------ wrk


def lua_string(value: str) -> str:
    # A JSON string literal of printable ASCII is a valid Lua string literal.
    return json.dumps(value, ensure_ascii=True)


# Prints wrk's own figures as one JSON line, so nothing depends on the layout of its text report.
LUA_REPORT = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH_RESULT {\\"requests\\": %d, \\"duration_us\\": %d, \\"bytes\\": %d, \\"connect\\": %d, " ..
    "\\"read\\": %d, \\"write\\": %d, \\"status\\": %d, \\"timeout\\": %d, \\"p50_us\\": %d, " ..
    "\\"p90_us\\": %d, \\"p99_us\\": %d, \\"mean_us\\": %.3f, \\"max_us\\": %d}\\n",
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.mean, latency.max))
end
"""

LUA_GET = f"""
wrk.method = "GET"
wrk.headers["Authorization"] = {lua_string(AUTHORIZATION)}
"""


def lua_list(values: Sequence[str]) -> str:
    return "{" + ", ".join(lua_string(value) for value in values) + "}"


# Builds `get_request` and `post_requests` (two bodies per thread, the threads' pairs different).
LUA_REQUESTS = f"""
local thread_count = 0
setup = function(thread)
  thread:set("thread_index", thread_count)
  thread_count = thread_count + 1
end

local get_request
local post_requests = {{}}

init = function(args)
  local bodies = {lua_list(POST_BODIES)}
  local authorization = {lua_string(AUTHORIZATION)}
  get_request = wrk.format("GET", wrk.path, {{["Authorization"] = authorization}})
  for i = 0, 1 do
    local body = bodies[(2 * thread_index + i) % #bodies + 1]
    post_requests[i] = wrk.format("POST", wrk.path, {{
      ["Authorization"] = authorization,
      ["Content-Type"] = {lua_string(FORM_CONTENT_TYPE)},
    }}, body)
  end
end
"""

LUA_POST = (
    LUA_REQUESTS
    + """
local counter = 0
request = function()
  counter = counter + 1
  return post_requests[counter % 2]
end
"""
)

# Nine GETs then one POST, in turn, in each wrk thread.
LUA_MIX = (
    LUA_REQUESTS
    + """
local counter = 0
local posts = 0
request = function()
  counter = counter + 1
  if counter % 10 == 0 then
    posts = posts + 1
    return post_requests[posts % 2]
  end
  return get_request
end
"""
)

SCENARIOS: dict[str, tuple[str, str]] = {
    "GET": ("GET", LUA_GET),
    "POST": ("POST", LUA_POST),
    "MIX": ("90% GET / 10% POST", LUA_MIX),
}

# A write users drive in loops: a message into a conversation this benchmark creates first (by its unique
# name, so the baseline answers the same path). Every request appends a message: a real write each time.
MESSAGE_CONVERSATION = "bench"
MESSAGE_PATH = f"/v1/Conversations/{MESSAGE_CONVERSATION}/Messages"
MESSAGE_BODY = "Author=bench&Body=Hello+from+the+benchmark"
LUA_MESSAGE = f"""
wrk.method = "POST"
wrk.body = {lua_string(MESSAGE_BODY)}
wrk.headers["Authorization"] = {lua_string(AUTHORIZATION)}
wrk.headers["Content-Type"] = {lua_string(FORM_CONTENT_TYPE)}
"""
# The loads this script measures: the shared three, which bench/workers.py and bench/hotspots.py also run
# on servers with no conversation, and the message create.
LOADS: dict[str, tuple[str, str]] = {**SCENARIOS, "MESSAGE": ("message create", LUA_MESSAGE)}
LOAD_PATHS = {"MESSAGE": MESSAGE_PATH}


def create_message_conversation(server: ServerProcess) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        headers = {"Authorization": AUTHORIZATION, "Content-Type": FORM_CONTENT_TYPE}
        status, body = fetch(
            connection, "POST", "/v1/Conversations", f"UniqueName={MESSAGE_CONVERSATION}", headers
        )
    finally:
        connection.close()
    if status != 201:
        raise BenchError(f"{server.name} did not create the benchmark's conversation: {status} {body!r}")


@dataclass
class LoadResult:
    requests: int
    seconds: float
    requests_per_second: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    max_ms: float
    non_2xx: int
    socket_errors: int
    socket_errors_by_kind: dict[str, int]

    @property
    def errors(self) -> int:
        return self.non_2xx + self.socket_errors


class Wrk:
    def __init__(self, executable: str, folder: Path, threads: int, connections: int) -> None:
        self.executable = executable
        self.threads = threads
        self.connections = connections
        self.scripts: dict[str, Path] = {}
        for name, (_, script) in LOADS.items():
            path = folder / f"{name.lower()}.lua"
            path.write_text(script + LUA_REPORT)
            self.scripts[name] = path

    def command(self, scenario: str, url: str, seconds: int) -> list[str]:
        return [
            self.executable,
            *(f"-t{self.threads}", f"-c{self.connections}", f"-d{seconds}s", "--latency"),
            *("-s", str(self.scripts[scenario]), url),
        ]

    def run(self, scenario: str, server: ServerProcess, seconds: int) -> LoadResult:
        command = self.command(scenario, server.base_url + LOAD_PATHS.get(scenario, webhooks_path()), seconds)
        finished = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
        lines = [line for line in finished.stdout.splitlines() if line.startswith("BENCH_RESULT ")]
        if finished.returncode != 0 or not lines:
            raise BenchError(
                f"wrk failed on {server.name} ({scenario}), exit {finished.returncode}:\n"
                f"{finished.stdout}{finished.stderr}"
            )
        raw: dict[str, float] = json.loads(lines[-1].removeprefix("BENCH_RESULT "))
        seconds_measured = raw["duration_us"] / 1e6
        return LoadResult(
            requests=int(raw["requests"]),
            seconds=seconds_measured,
            requests_per_second=raw["requests"] / seconds_measured,
            p50_ms=raw["p50_us"] / 1000,
            p90_ms=raw["p90_us"] / 1000,
            p99_ms=raw["p99_us"] / 1000,
            mean_ms=raw["mean_us"] / 1000,
            max_ms=raw["max_us"] / 1000,
            non_2xx=int(raw["status"]),
            socket_errors=int(raw["connect"] + raw["read"] + raw["write"] + raw["timeout"]),
            # wrk's "timeout" is a request still unanswered after 2 s (its default --timeout).
            socket_errors_by_kind={kind: int(raw[kind]) for kind in ("connect", "read", "write", "timeout")},
        )

    def version(self) -> str:
        return program_version([self.executable, "-v"])


# --------------------------------------------------------------------------------------------- options


@dataclass(frozen=True)
class Options(LoadOptions):
    cold_starts: int
    reset_calls: int
    latency_requests: int
    markdown_path: Path | None
    peers: bool
    peer_warmup: int


def parse_options(argv: Sequence[str] | None) -> Options:
    parser = new_parser("bench/run.py", __doc__)
    add_load_arguments(parser, quick_help="a smoke run: 3 s loads and fewer samples")
    parser.add_argument(
        "--markdown", dest="markdown_path", type=Path, metavar="PATH", help="write the tables as Markdown"
    )
    parser.add_argument(
        "--no-peers", dest="peers", action="store_false", help="leave out WireMock and Prism (bench/peers.py)"
    )
    parser.add_argument(
        "--peer-warmup",
        type=int,
        metavar="SECONDS",
        help=f"GET load on each peer before its measured one (default {PEER_WARMUP_S}, --quick"
        f" {QUICK_PEER_WARMUP_S}): WireMock's JVM compiles its hot paths over the first tens of seconds",
    )
    add_check_argument(parser, "exit 1 when a goal is missed")
    arguments = parser.parse_args(argv)
    quick: bool = arguments.quick
    return Options(
        **load_options(parser, arguments),
        cold_starts=3 if quick else 5,
        reset_calls=50 if quick else 200,
        latency_requests=500 if quick else 2000,
        markdown_path=arguments.markdown_path,
        peers=arguments.peers,
        peer_warmup=arguments.peer_warmup
        if arguments.peer_warmup is not None
        else (QUICK_PEER_WARMUP_S if quick else PEER_WARMUP_S),
    )


# ------------------------------------------------------------------------------------------ measuring


def say(text: str) -> None:
    print(text, flush=True)


def answers(server: ServerProcess) -> list[bytes]:
    """The bodies of a GET, a POST and a GET after it, each checked to be a 200."""
    connection = connect(server)
    try:
        exchanges = [
            ("GET", get_webhooks(connection)),
            ("POST", post_webhooks(connection)),
            ("GET after POST", get_webhooks(connection)),
        ]
    finally:
        connection.close()
    for label, (status, body) in exchanges:
        if status != 200:
            raise BenchError(f"{server.name} answered {status} to {label}: {body[:300]!r}")
    return [body for _, (_, body) in exchanges]


def check_answers(baseline: ServerProcess, emulator: ServerProcess) -> None:
    """Both answer 200 and the same bodies, to GET and POST, before any load."""
    theirs, mine = answers(emulator), answers(baseline)
    for label, expected, got in zip(("GET", "POST", "GET after POST"), theirs, mine, strict=True):
        if expected != got:
            say(f"warning: the baseline's {label} body differs from the emulator's:")
            say(f"  emulator {expected!r}\n  baseline {got!r}")


def versus(emulator: LoadResult, other: LoadResult) -> dict[str, float]:
    """The emulator's figures over another server's, from the same load."""
    return {
        "rps_ratio": ratio(emulator.requests_per_second, other.requests_per_second),
        "p50_ratio": ratio(emulator.p50_ms, other.p50_ms),
        "p99_ratio": ratio(emulator.p99_ms, other.p99_ms),
    }


def figures_of(result: LoadResult) -> dict[str, Any]:
    return asdict(result) | {"errors": result.errors}


def measure_load(
    options: Options,
    wrk: Wrk,
    baseline: ServerProcess,
    emulator: ServerProcess,
    peers: Sequence[ServerProcess] = (),
) -> dict[str, Any]:
    """Each load on the baseline, then (GET only: all they answer) the peers, then the emulator. The
    emulator's ratios to the baseline are the entry's own; to each peer, under `versus`."""
    results: dict[str, Any] = {}
    for scenario, (label, _) in LOADS.items():
        measured: dict[str, LoadResult] = {}
        # Server after server, load by load: all see the same conditions on a busy machine.
        for server in (baseline, *(peers if scenario == "GET" else ()), emulator):
            say(f"  {label}: {server.name} ...")
            warmup = options.peer_warmup if server in peers else options.warmup
            if warmup:
                wrk.run(scenario, server, warmup)
            measured[server.name] = wrk.run(scenario, server, options.duration)
        base, emu = measured.pop("baseline"), measured.pop("emulator")
        results[scenario] = {
            "label": label,
            "baseline": figures_of(base),
            "emulator": figures_of(emu),
            **versus(emu, base),
            "peers": {name: figures_of(result) for name, result in measured.items()},
            "versus": {name: versus(emu, result) for name, result in measured.items()},
        }
    return results


def measure_cold_start(options: Options, folder: Path, peers: Sequence[Peer]) -> dict[str, Any]:
    """Process launch to the first 200 on the webhooks GET, the servers in turns; the emulator on a fresh
    database every time. `over_baseline_s`: the median of each round's emulator - baseline."""
    samples: dict[str, list[float]] = {name: [] for name in ("emulator", "baseline", *(p.key for p in peers))}
    for attempt in range(options.cold_starts):
        emulator = emulator_process(folder / f"cold-{attempt}.db", folder)
        for server in (emulator, baseline_process(folder), *(peer.server(folder) for peer in peers)):
            with running(server):
                samples[server.name].append(server.startup_seconds)
    result: dict[str, Any] = {
        name: {"median_s": statistics.median(values), "samples_s": values} for name, values in samples.items()
    }
    differences = [mine - base for mine, base in zip(samples["emulator"], samples["baseline"], strict=True)]
    result["over_baseline_s"] = statistics.median(differences)
    return result


def measure_reset(options: Options, emulator: ServerProcess) -> dict[str, Any]:
    connection = connect(emulator)
    durations: list[float] = []
    try:
        for _ in range(options.reset_calls):
            started = time.perf_counter()
            status, body = fetch(connection, "POST", "/_emulator/reset")
            durations.append((time.perf_counter() - started) * 1000)
            if status != 204:
                raise BenchError(f"POST /_emulator/reset answered {status}: {body[:300]!r}")
    finally:
        connection.close()
    return {
        "calls": len(durations),
        "median_ms": statistics.median(durations),
        "p99_ms": percentile(durations, 0.99),
    }


def seed_services(database: Path, total: int) -> str:
    """Fill the stopped emulator's database up to `total` services, each configured; return one to fetch.

    Rows are written as the emulator's tables hold them (app/conversations/services/models.py and
    app/conversations/webhooks/models.py): the demo account's services, SIDs `IS` + 32 hex digits,
    datetimes as SQLAlchemy stores them in SQLite, filters as JSON text.
    """
    stamp = datetime.now(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
    connection = sqlite3.connect(database)
    try:
        (existing,) = connection.execute("SELECT count(*) FROM conversation_service").fetchone()
        numbers = range(1, total - existing + 1)
        if not numbers:
            raise BenchError(f"{database} already holds {existing} services")
        sids = [f"IS{number:032x}" for number in numbers]
        with connection:
            connection.executemany(
                "INSERT INTO conversation_service"
                " (sid, account_sid, friendly_name, date_created, date_updated) VALUES (?, ?, ?, ?, ?)",
                (
                    (sid, ACCOUNT_SID, f"Benchmark service {n}", stamp, stamp)
                    for n, sid in zip(numbers, sids, strict=True)
                ),
            )
            connection.executemany(
                "INSERT INTO service_webhook_configuration"
                " (chat_service_sid, account_sid, pre_webhook_url, post_webhook_url, filters, method)"
                " VALUES (?, ?, NULL, ?, ?, 'POST')",
                ((sid, ACCOUNT_SID, "https://example.com/hooks/post", '["onMessageAdded"]') for sid in sids),
            )
        (count,) = connection.execute("SELECT count(*) FROM conversation_service").fetchone()
    finally:
        connection.close()
    if count != total:
        raise BenchError(f"seeding left {count} services instead of {total}")
    return sids[len(sids) // 2]


def sequential_latencies(server: ServerProcess, service_sid: str, count: int) -> list[float]:
    connection = connect(server)
    durations: list[float] = []
    try:
        for _ in range(count):
            started = time.perf_counter()
            status, body = get_webhooks(connection, service_sid)
            durations.append((time.perf_counter() - started) * 1000)
            if status != 200:
                raise BenchError(f"GET of {service_sid} answered {status}: {body[:300]!r}")
    finally:
        connection.close()
    return durations


def measure_scale(options: Options, folder: Path) -> dict[str, Any]:
    """Sequential keep-alive GET latency with 10 and with 100,000 services in the database."""
    targets: dict[int, tuple[EmulatorProcess, str]] = {}
    with ExitStack() as stack:
        for total in (SCALE_SMALL, SCALE_LARGE):
            database = folder / f"scale-{total}.db"
            # A first start creates the schema and applies the fixtures; rows go in while it is stopped.
            with running(emulator_process(database, folder, name=f"emulator-{total}")):
                pass
            started = time.perf_counter()
            target = seed_services(database, total)
            say(f"  seeded {total:,} services in {time.perf_counter() - started:.2f} s")
            server = stack.enter_context(
                running(emulator_process(database, folder, name=f"emulator-{total}"))
            )
            targets[total] = (server, target)
        samples: dict[int, list[float]] = {total: [] for total in targets}
        for server, target in targets.values():
            sequential_latencies(server, target, min(200, options.latency_requests))  # warm-up
        # Alternate short batches between the two servers so a busy machine weighs on both alike.
        batches = 10
        for batch in range(batches):
            for total, (server, target) in targets.items():
                share = options.latency_requests // batches + (
                    options.latency_requests % batches if batch == batches - 1 else 0
                )
                samples[total].extend(sequential_latencies(server, target, share))
    result: dict[str, Any] = {
        str(total): {
            "services": total,
            "requests": len(values),
            "median_ms": statistics.median(values),
            "p99_ms": percentile(values, 0.99),
        }
        for total, values in samples.items()
    }
    result["median_ratio"] = ratio(
        result[str(SCALE_LARGE)]["median_ms"], result[str(SCALE_SMALL)]["median_ms"]
    )
    result["p99_ratio"] = ratio(result[str(SCALE_LARGE)]["p99_ms"], result[str(SCALE_SMALL)]["p99_ms"])
    return result


# ------------------------------------------------------------------------------------------- reporting


@dataclass
class Goal:
    name: str
    target: str
    measured: str
    passed: bool | None  # None: not measured in this run (a peer skipped)

    @property
    def result(self) -> str:
        return "SKIP" if self.passed is None else "PASS" if self.passed else "MISS"


@dataclass
class Report:
    machine: dict[str, Any]
    options: dict[str, Any]
    load: dict[str, Any] = field(default_factory=dict)
    cold_start: dict[str, Any] = field(default_factory=dict)
    rss: dict[str, Any] = field(default_factory=dict)
    reset: dict[str, Any] = field(default_factory=dict)
    scale: dict[str, Any] = field(default_factory=dict)
    # `servers`: each peer measured, by key, with its label and what it is; `skipped`: why others were not.
    peers: dict[str, Any] = field(default_factory=dict)
    goals: list[Goal] = field(default_factory=list)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def filesystem_of(path: Path) -> str:
    """The file system type holding `path`, from /proc/mounts (the longest matching mount point)."""
    best, kind = "", "unknown"
    try:
        for line in Path("/proc/mounts").read_text().splitlines():
            parts = line.split()
            mount = parts[1]
            inside = str(path).startswith(mount.rstrip("/") + "/") or str(path) == mount
            if inside and len(mount) >= len(best):
                best, kind = mount, parts[2]
    except OSError:
        pass
    return kind


def version_of(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


def source_state() -> str:
    """The commit measured, and whether the work tree had changes to the emulator's code."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True
        ).stdout.strip()
        changed = subprocess.run(
            ["git", "status", "--porcelain", "--", "app", "fixtures", "pyproject.toml"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.splitlines()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return (
        f"{commit} + {len(changed)} uncommitted changed files (app/, fixtures/, pyproject.toml)"
        if changed
        else commit
    )


def machine_facts(wrk: Wrk, folder: Path) -> dict[str, Any]:
    return {
        "source": source_state(),
        "nproc": len(os.sched_getaffinity(0)),
        "cpu_model": cpu_model(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "wrk": wrk.version(),
        "temp_filesystem": filesystem_of(folder.resolve()),
        "load_average_at_start": list(os.getloadavg()),
        "packages": {
            name: version_of(name)
            for name in ("fastapi", "starlette", "uvicorn", "uvloop", "httptools", "sqlalchemy", "sqlmodel")
        },
    }


def ratio_goal(name: str, measured: float, target: float, at_least: bool) -> Goal:
    sign = ">=" if at_least else "<="
    passed = measured >= target if at_least else measured <= target
    return Goal(name, f"{sign} {target:.2f}x", f"{measured:.2f}x", passed)


def judge(report: Report) -> list[Goal]:
    load = report.load
    connections = report.options["connections"]
    goals = [ratio_goal("GET req/s vs baseline", load["GET"]["rps_ratio"], GOAL_GET_RPS_RATIO, True)]
    peer_label = report.peers.get("labels", {}).get(GOAL_GET_RPS_PEER, GOAL_GET_RPS_PEER)
    peer_versus = load["GET"]["versus"].get(GOAL_GET_RPS_PEER)
    if peer_versus is None:
        goals.append(Goal(f"GET req/s vs {peer_label}", ">= 1.00x", "not measured", None))
    else:
        goals.append(ratio_goal(f"GET req/s vs {peer_label}", peer_versus["rps_ratio"], 1.0, True))
    goals += [
        ratio_goal(
            f"{load[scenario]['label']} req/s vs baseline",
            load[scenario]["rps_ratio"],
            GOAL_WRITE_RPS_RATIO,
            True,
        )
        for scenario in ("POST", "MESSAGE")
    ]
    goals += [
        ratio_goal(
            f"GET p99 vs baseline p99 (c={connections})", load["GET"]["p99_ratio"], GOAL_GET_P99_RATIO, False
        ),
        ratio_goal(
            f"MIX p99 vs baseline p99 (c={connections})", load["MIX"]["p99_ratio"], GOAL_MIX_P99_RATIO, False
        ),
    ]
    over = report.cold_start["over_baseline_s"]
    rss_mb = report.rss["emulator_mb"]
    scale = report.scale["median_ratio"]
    errors = sum(load[scenario]["emulator"]["errors"] for scenario in LOADS)
    reset = report.reset["median_ms"]
    goals += [
        Goal(
            "cold start over the baseline's (median of the rounds)",
            f"<= +{GOAL_COLD_START_OVER_S:.2f} s",
            f"{over:+.3f} s",
            over <= GOAL_COLD_START_OVER_S,
        ),
        Goal("RSS after load", f"<= {GOAL_RSS_MB:.0f} MB", f"{rss_mb:.1f} MB", rss_mb <= GOAL_RSS_MB),
        ratio_goal("GET median, 100,000 vs 10 services", scale, GOAL_SCALE_RATIO, False),
        Goal("errors under load (all loads)", "0", str(errors), errors == 0),
        Goal("reset (median)", f"<= {GOAL_RESET_MS:.0f} ms", f"{reset:.2f} ms", reset <= GOAL_RESET_MS),
    ]
    return goals


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], markdown: bool = False) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=True)]
    if markdown:
        lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        return "\n".join(lines)

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            cell.ljust(width) if index == 0 or not cell[:1].isdigit() else cell.rjust(width)
            for index, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    return "\n".join([line(headers), line(["-" * width for width in widths]), *map(line, rows)])


def describe_errors(figures: dict[str, Any]) -> str:
    """`0`, or the total and its kinds: `5 (timeout 4, non-2xx 1)`."""
    kinds = {kind: count for kind, count in figures["socket_errors_by_kind"].items() if count}
    if figures["non_2xx"]:
        kinds["non-2xx"] = figures["non_2xx"]
    if not kinds:
        return "0"
    return f"{figures['errors']} ({', '.join(f'{kind} {count}' for kind, count in kinds.items())})"


def load_row(label: str, name: str, figures: dict[str, Any]) -> list[str]:
    return [
        label,
        name,
        f"{figures['requests_per_second']:.0f}",
        f"{figures['p50_ms']:.2f}",
        f"{figures['p99_ms']:.2f}",
        describe_errors(figures),
    ]


def ratio_cells(ratios: dict[str, float]) -> list[str]:
    return [f"{ratios[key]:.2f}x" for key in ("rps_ratio", "p50_ratio", "p99_ratio")]


def render(report: Report, markdown: bool = False) -> str:
    options = report.options
    labels: dict[str, str] = {"baseline": "baseline", "emulator": "emulator"} | report.peers.get("labels", {})
    peer_keys = list(report.peers.get("labels", {}))
    parts: list[str] = ["\n".join(report.peers["skipped"])] if report.peers.get("skipped") else []
    load_rows: list[list[str]] = []
    for scenario in LOADS:
        entry = report.load[scenario]
        label = entry["label"]
        load_rows.append(load_row(label, "baseline", entry["baseline"]))
        load_rows += [load_row(label, labels[key], figures) for key, figures in entry["peers"].items()]
        load_rows.append(load_row(label, "emulator", entry["emulator"]))
        load_rows.append([label, "emulator / baseline", *ratio_cells(entry), ""])
        load_rows += [
            [label, f"emulator / {labels[key]}", *ratio_cells(ratios), ""]
            for key, ratios in entry["versus"].items()
        ]
    parts.append(
        f"Load: wrk -t{options['threads']} -c{options['connections']} -d{options['duration']}s --latency"
        f" (after a {options['warmup']} s warm-up; {options['peer_warmup']} s for a peer),"
        f" GET/POST {webhooks_path()}; POST {MESSAGE_PATH}"
    )
    parts.append(table(["load", "server", "req/s", "p50 ms", "p99 ms", "errors"], load_rows, markdown))

    cold, scale = report.cold_start, report.scale
    columns = ["emulator", "baseline", *peer_keys]
    other_rows = [
        [f"cold start, median of {len(cold['emulator']['samples_s'])}"]
        + [f"{cold[key]['median_s']:.3f} s" for key in columns],
        ["RSS after load (VmRSS, with children)"] + [f"{report.rss[f'{key}_mb']:.1f} MB" for key in columns],
        [
            f"reset, median of {report.reset['calls']} (p99)",
            f"{report.reset['median_ms']:.2f} ms ({report.reset['p99_ms']:.2f} ms)",
            *([""] * (len(columns) - 1)),
        ],
    ]
    for total in (SCALE_SMALL, SCALE_LARGE):
        entry = scale[str(total)]
        other_rows.append(
            [
                f"GET median (p99), {total:,} services, {entry['requests']} sequential",
                f"{entry['median_ms']:.3f} ms ({entry['p99_ms']:.3f} ms)",
                *([""] * (len(columns) - 1)),
            ]
        )
    parts.append(table(["measure", *(labels[key] for key in columns)], other_rows, markdown))
    parts.append(render_peers(report, labels, markdown))

    goal_rows = [[goal.name, goal.target, goal.measured, goal.result] for goal in report.goals]
    parts.append(table(["goal", "target", "measured", "result"], goal_rows, markdown))
    return "\n\n".join(parts)


def render_peers(report: Report, labels: dict[str, str], markdown: bool) -> str:
    """The GET load, cold start and RSS of every server side by side, then the emulator's ratio to each."""
    get, cold, rss = report.load["GET"], report.cold_start, report.rss
    others = ["baseline", *get["peers"]]
    figures = {"baseline": get["baseline"], "emulator": get["emulator"]} | get["peers"]
    rows = [
        [
            labels[key],
            f"{figures[key]['requests_per_second']:.0f}",
            f"{figures[key]['p50_ms']:.2f}",
            f"{figures[key]['p99_ms']:.2f}",
            f"{cold[key]['median_s']:.2f}",
            f"{rss[f'{key}_mb']:.0f}",
        ]
        for key in [*others, "emulator"]
    ]
    ratios = {"baseline": get} | get["versus"]
    rows += [
        [
            f"emulator / {labels[key]}",
            *ratio_cells(ratios[key]),
            f"{ratio(cold['emulator']['median_s'], cold[key]['median_s']):.2f}x",
            f"{ratio(rss['emulator_mb'], rss[f'{key}_mb']):.2f}x",
        ]
        for key in others
    ]
    heading = f"GET {webhooks_path()} beside the peers:"
    return (
        heading
        + "\n\n"
        + table(["server", "req/s", "p50 ms", "p99 ms", "cold start s", "RSS MB"], rows, markdown)
    )


# ------------------------------------------------------------------------------------------------ main


def raise_interrupt(signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def run(options: Options) -> Report:
    wrk_executable = ensure_wrk()
    THIS_CHECKOUT.compile()
    with tempfile.TemporaryDirectory(prefix="twilio-emulator-bench-") as temporary, ExitStack() as stack:
        folder = Path(temporary)
        wrk = Wrk(wrk_executable, folder, options.threads, options.connections)
        report = Report(
            machine=machine_facts(wrk, folder),
            options=options.as_json(),
        )
        say(
            f"Machine: {report.machine['nproc']} CPUs, {report.machine['cpu_model']},"
            f" Python {report.machine['python']}, {report.machine['wrk']},"
            f" temp folder on {report.machine['temp_filesystem']}"
        )
        say(f"Source: {report.machine['source']}")
        peers, skipped = available_peers(say) if options.peers else ([], ["Peers left out (--no-peers)"])
        report.peers = {
            "labels": {peer.key: peer.label for peer in peers},
            "descriptions": {peer.key: peer.description for peer in peers},
            "skipped": skipped,
        }

        say("Cold start (launch to first 200 on the webhooks GET) ...")
        report.cold_start = measure_cold_start(options, folder, peers)

        say("Starting the emulator (fresh SQLite file, shipped fixtures), the baseline and the peers ...")
        emulator = stack.enter_context(running(emulator_process(folder / "bench.db", folder)))
        baseline = stack.enter_context(running(baseline_process(folder)))
        # Each peer answered the GET with a 200 to be ready; they serve only the GET load.
        peer_servers = [stack.enter_context(running(peer.server(folder))) for peer in peers]
        check_answers(baseline, emulator)
        create_message_conversation(emulator)

        say("Load ...")
        report.load = measure_load(options, wrk, baseline, emulator, peer_servers)
        report.rss = {
            f"{server.name}_mb": rss_kib(server.pid) / 1024 for server in (emulator, baseline, *peer_servers)
        }

        say(f"Reset ({options.reset_calls} calls) ...")
        report.reset = measure_reset(options, emulator)
        stack.close()

        say(f"GET latency with {SCALE_SMALL} and {SCALE_LARGE:,} services ...")
        report.scale = measure_scale(options, folder)
        report.machine["load_average_at_end"] = list(os.getloadavg())
        report.goals = judge(report)
        return report


# The report of whichever benchmark `run_and_report` runs.
Report_ = TypeVar("Report_")


def run_and_report(
    run_bench: Callable[[], Report_],
    render_report: Callable[[Report_, bool], str],
    *,
    markdown_on_screen: bool,
    json_path: Path | None,
    markdown_path: Path | None,
    stopped: str,
) -> Report_ | int:
    """Run a benchmark that Ctrl-C can stop cleanly, print it and write its files; the report, or the
    exit code when it did not finish. Shared by bench/run.py and bench/workers.py."""
    # Ctrl-C and SIGTERM alike unwind the stack, so every `finally` stops what it started.
    signal.signal(signal.SIGINT, raise_interrupt)
    signal.signal(signal.SIGTERM, raise_interrupt)
    try:
        report = run_bench()
    except BenchError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"bench: interrupted; {stopped} stopped", file=sys.stderr)
        return 130
    say("")
    say(render_report(report, markdown_on_screen))
    if json_path is not None:
        json_path.write_text(json.dumps(asdict(report), indent=2) + "\n")  # type: ignore[call-overload]
        say(f"\nResults written to {json_path}")
    if markdown_path is not None:
        markdown_path.write_text(render_report(report, True) + "\n")
        say(f"Tables written to {markdown_path}")
    return report


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_options(argv)
    report = run_and_report(
        lambda: run(options),
        render,
        markdown_on_screen=False,
        json_path=options.json_path,
        markdown_path=options.markdown_path,
        stopped="servers",
    )
    if isinstance(report, int):
        return report
    missed = [goal.name for goal in report.goals if goal.passed is False]  # a skipped goal is not missed
    return 1 if options.check and missed else 0


if __name__ == "__main__":
    sys.exit(main())
