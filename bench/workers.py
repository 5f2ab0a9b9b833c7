"""Requests/s with 1 and 2 workers on each backend (SQLite, PostgreSQL) and on the baseline, in one run.

    python bench/workers.py                     # full run: wrk -t2 -c32 -d10s --latency per load and server
    python bench/workers.py --quick             # smoke run: 3 s loads
    python bench/workers.py --postgres-url postgresql+psycopg://user@host:5432/db
    python bench/workers.py --markdown          # the tables as Markdown, for the README
    python bench/workers.py --json out.json --markdown tables.md

Six servers run side by side, each on 127.0.0.1 and a free port, and are stopped at the end, on Ctrl-C and
on error:

- the baseline (bench/baseline_app.py): with 1 worker as bench/run.py starts it, and with 2 workers as
  `python -m uvicorn bench.baseline_app:app --workers 2` on the same uvicorn settings;
- the emulator (`python -m twilio_conversations_emulator serve --workers N`, the shipped fixtures) on a
  fresh SQLite file, N = 1, 2;
- the emulator on a fresh PostgreSQL database, N = 1, 2.

Before any load every server must answer, and with 2 workers at least 2 distinct `pid`s must answer
`/_emulator/health` (for the baseline: 2 worker processes must have started). Then for each load (GET,
POST, a 90/10 mix; bench/run.py's wrk scripts) the servers take turns, so a busy machine weighs on all of
them alike. Printed: each server's figures, each emulator's ratios to the baseline with the same number of
workers, and for each server what 2 workers give over 1.

PostgreSQL: `--postgres-url URL` names a server to use. Each configuration gets a database of its own on it
(CREATE DATABASE, from the server's `postgres` maintenance database), or where that is refused a schema of
its own in URL's database (libpq's `options=-csearch_path=...`); either is dropped at the end. Without the
option, `scripts/postgres start` starts a throwaway server in a temporary folder of this run's own, and
`scripts/postgres stop` removes it at the end.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.options import LoadOptions, add_check_argument, add_load_arguments, load_options, new_parser
from bench.run import (
    SCENARIOS,
    Wrk,
    answers,
    describe_errors,
    fetch,
    filesystem_of,
    machine_facts,
    ratio,
    rss_kib,
    run_and_report,
    say,
    table,
    version_of,
)
from bench.servers import (
    REPO,
    THIS_CHECKOUT,
    BenchError,
    ServerProcess,
    baseline_process,
    clean_environment,
    connect,
    emulator_process,
    start,
    webhooks_path,
)
from bench.tools import ensure_wrk

HEALTH_PATH = "/_emulator/health"
# Health calls sent at once, each on a new connection, so that any worker may take each of them.
HEALTH_CONCURRENCY = 8
WORKER_TIMEOUT_S = 30.0
STARTUP_TIMEOUT_S = 60.0
POSTGRES_SCRIPT = REPO / "scripts" / "postgres"
INSUFFICIENT_PRIVILEGE = "42501"

KINDS = ("baseline", "sqlite", "postgresql")
KIND_LABELS = {"baseline": "baseline", "sqlite": "SQLite", "postgresql": "PostgreSQL"}
WORKER_COUNTS = (1, 2)


@dataclass(frozen=True)
class Config:
    """One server measured: what serves (`baseline`, or the emulator on `sqlite` or `postgresql`), how many
    worker processes."""

    kind: str
    workers: int

    @property
    def name(self) -> str:
        return f"{self.kind}-{self.workers}w"

    @property
    def label(self) -> str:
        return KIND_LABELS[self.kind]

    @property
    def title(self) -> str:
        return f"{self.label}, {self.workers} worker{'s' if self.workers > 1 else ''}"


# Server by server, 1 worker beside 2: the pairs compared for scaling are measured one after the other.
CONFIGS = tuple(Config(kind, workers) for kind in KINDS for workers in WORKER_COUNTS)


# --------------------------------------------------------------------------------------------- servers


def health_once(server: ServerProcess) -> tuple[int, dict[str, Any]]:
    """One `/_emulator/health` call on a new connection: (status, document), (0, {}) when unanswered."""
    connection = connect(server, timeout=10.0)
    try:
        status, body = fetch(connection, "GET", HEALTH_PATH)
    except (OSError, http.client.HTTPException):
        return 0, {}
    finally:
        connection.close()
    try:
        document = json.loads(body)
    except ValueError:
        return status, {}
    return status, document if isinstance(document, dict) else {}


def health_pids(
    server: ServerProcess, wanted: int, timeout: float = WORKER_TIMEOUT_S
) -> tuple[set[int], set[str], int]:
    """The pids answering health calls, sent in concurrent rounds until `wanted` of them answered or the
    time is up; with the databases they report and the number of calls."""
    pids: set[int] = set()
    databases: set[str] = set()
    calls = 0
    deadline = time.monotonic() + timeout
    with ThreadPoolExecutor(max_workers=HEALTH_CONCURRENCY) as pool:
        while time.monotonic() < deadline:
            for status, document in pool.map(health_once, [server] * HEALTH_CONCURRENCY):
                calls += 1
                if status == 200 and "pid" in document:
                    pids.add(int(document["pid"]))
                    databases.add(str(document.get("database")))
            if len(pids) >= wanted:
                break
            time.sleep(0.05)
    return pids, databases, calls


def check_emulator_workers(config: Config, server: ServerProcess) -> list[int]:
    """Health answers, on the expected backend, from at least as many processes as there are workers."""
    pids, databases, calls = health_pids(server, config.workers)
    if not pids:
        raise BenchError(
            f"{config.title}: no 200 from {HEALTH_PATH} in {calls} calls; its log:\n{server.log()}"
        )
    if databases != {config.kind}:
        raise BenchError(
            f"{config.title}: {HEALTH_PATH} reports database {sorted(databases)}, not {config.kind}"
        )
    if len(pids) < config.workers:
        raise BenchError(
            f"{config.title}: only {len(pids)} distinct pid(s) {sorted(pids)} answered {calls} calls to"
            f" {HEALTH_PATH} within {WORKER_TIMEOUT_S:.0f} s; expected {config.workers} workers. Its log:\n"
            f"{server.log()}"
        )
    return sorted(pids)


def check_baseline_workers(config: Config, server: ServerProcess) -> list[int]:
    """The baseline has no health call: its log must show each worker started and its app ready."""
    deadline = time.monotonic() + WORKER_TIMEOUT_S
    while True:
        log = server.log()
        pids = sorted({int(pid) for pid in re.findall(r"Started server process \[(\d+)\]", log)})
        ready = log.count("Application startup complete.")
        alive = [pid for pid in pids if Path(f"/proc/{pid}").exists()]
        if len(alive) >= config.workers and ready >= config.workers:
            return alive
        if time.monotonic() > deadline:
            raise BenchError(
                f"{config.title}: {len(alive)} worker(s) {alive} started and {ready} ready within"
                f" {WORKER_TIMEOUT_S:.0f} s; expected {config.workers}. Its log:\n{log}"
            )
        time.sleep(0.05)


def log_problems(server: ServerProcess) -> list[str]:
    """Lines of a server's log that tell of an error: tracebacks, ERROR lines, workers dying."""
    pattern = re.compile(r"Traceback|^ERROR|^CRITICAL|Child process \[\d+\] died|Exception", re.MULTILINE)
    return [line for line in server.log().splitlines() if pattern.search(line)]


# ------------------------------------------------------------------------------------------ PostgreSQL


def hide_password(url: str | URL) -> str:
    return make_url(url).render_as_string(hide_password=True)


@contextmanager
def throwaway_postgres() -> Iterator[tuple[str, Path]]:
    """`scripts/postgres start` in a folder of this run's own; `scripts/postgres stop` when done."""
    # Not inside the run's temporary folder: that one is private to this user, and the server runs as the
    # `postgres` user when this is root (the script hands the folder to it).
    folder = Path(tempfile.mkdtemp(prefix="twilio-emulator-bench-postgres-"))
    environment = {**clean_environment(), "EMULATOR_POSTGRES_DIR": str(folder)}

    def script(action: str, timeout: float) -> subprocess.CompletedProcess[str]:
        # A session of its own: a Ctrl-C reaches only this script, which then stops the server itself.
        return subprocess.run(
            [str(POSTGRES_SCRIPT), action],
            env=environment,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            start_new_session=True,
        )

    try:
        say(f"Starting a throwaway PostgreSQL (scripts/postgres start, in {folder}) ...")
        try:
            started = script("start", timeout=900)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise BenchError(f"scripts/postgres start failed: {exc}") from None
        lines = started.stdout.strip().splitlines()
        if started.returncode != 0 or not lines or not lines[-1].startswith("postgresql"):
            raise BenchError(
                f"scripts/postgres start failed, exit {started.returncode}:\n{started.stdout}{started.stderr}"
            )
        yield lines[-1], folder / "data"
    finally:
        try:
            script("stop", timeout=120)
        except (OSError, subprocess.TimeoutExpired) as exc:
            say(f"warning: scripts/postgres stop failed ({exc}); the server in {folder} may still run")
        shutil.rmtree(folder, ignore_errors=True)


class PostgresServer:
    """Fresh databases, or schemas where CREATE DATABASE is refused, on one PostgreSQL server."""

    def __init__(self, url: str) -> None:
        self.url = make_url(url)
        if self.url.get_backend_name() != "postgresql":
            raise BenchError(f"--postgres-url must be a postgresql+psycopg:// URL, not {hide_password(url)}")
        self.admin = self._admin_engine()

    def _admin_engine(self) -> Engine:
        # The `postgres` maintenance database, as any tool creating databases does; the URL's own if that
        # one cannot be reached.
        failures: list[str] = []
        for database in dict.fromkeys(("postgres", self.url.database)):
            engine = create_engine(
                self.url.set(database=database), isolation_level="AUTOCOMMIT", poolclass=NullPool
            )
            try:
                with engine.connect():
                    return engine
            except DBAPIError as exc:
                failures.append(f"{database}: {str(exc.orig).strip().splitlines()[0]}")
                engine.dispose()
        raise BenchError(f"cannot connect to PostgreSQL at {hide_password(self.url)}: {'; '.join(failures)}")

    def close(self) -> None:
        self.admin.dispose()

    def setting(self, name: str) -> str:
        with self.admin.connect() as connection:
            return str(connection.execute(text(f"SHOW {name}")).scalar_one())

    def facts(self) -> dict[str, Any]:
        names = ("server_version", "fsync", "synchronous_commit", "max_connections", "shared_buffers")
        return {name: self.setting(name) for name in names}

    @contextmanager
    def fresh(self, name: str) -> Iterator[tuple[str, str]]:
        """A new, empty database (or schema) called `name`: (the emulator's URL for it, what it is)."""
        try:
            with self.admin.connect() as connection:
                connection.execute(text(f'CREATE DATABASE "{name}"'))
            created = True
        except DBAPIError as exc:
            if getattr(exc.orig, "sqlstate", None) != INSUFFICIENT_PRIVILEGE:
                raise BenchError(f"CREATE DATABASE {name} failed: {str(exc.orig).strip()}") from None
            say(f"  CREATE DATABASE is not allowed here: a schema {name} in {self.url.database} instead")
            created = False
        if not created:
            with self._schema(name) as url:
                yield url, "schema"
            return
        try:
            yield self.url.set(database=name).render_as_string(hide_password=False), "database"
        finally:
            force = " WITH (FORCE)" if int(self.setting("server_version_num")) >= 130000 else ""
            with self.admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"{force}'))

    @contextmanager
    def _schema(self, name: str) -> Iterator[str]:
        engine = create_engine(self.url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
        try:
            with engine.connect() as connection:
                connection.execute(text(f'CREATE SCHEMA "{name}"'))
            given = self.url.query.get("options", "")
            options = " ".join([*([given] if isinstance(given, str) else given), f"-csearch_path={name}"])
            yield self.url.update_query_dict({"options": options.strip()}).render_as_string(
                hide_password=False
            )
        finally:
            with engine.connect() as connection:
                connection.execute(text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
            engine.dispose()


# --------------------------------------------------------------------------------------------- options


@dataclass(frozen=True)
class Options(LoadOptions):
    postgres_url: str | None
    markdown: bool
    markdown_path: Path | None


def parse_options(argv: Sequence[str] | None) -> Options:
    parser = new_parser("bench/workers.py", __doc__)
    add_load_arguments(parser, quick_help="a smoke run: 3 s loads")
    parser.add_argument(
        "--postgres-url",
        metavar="URL",
        help="a PostgreSQL server to use (postgresql+psycopg://user@host:port/db); default: a throwaway one"
        " from scripts/postgres",
    )
    parser.add_argument(
        "--markdown",
        nargs="?",
        const="-",
        metavar="PATH",
        help="print the tables as Markdown (for the README); with PATH, print them plain and write the"
        " Markdown to PATH",
    )
    add_check_argument(parser, "exit 1 when a load had errors or a server logged one")
    arguments = parser.parse_args(argv)
    markdown: str | None = arguments.markdown
    return Options(
        **load_options(parser, arguments),
        postgres_url=arguments.postgres_url,
        markdown=markdown == "-",
        markdown_path=Path(markdown) if markdown not in (None, "-") else None,
    )


# ------------------------------------------------------------------------------------------ measuring


@dataclass
class Report:
    machine: dict[str, Any]
    options: dict[str, Any]
    servers: dict[str, Any] = field(default_factory=dict)
    load: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def measure_load(options: Options, wrk: Wrk, servers: dict[Config, ServerProcess]) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for scenario, (label, _) in SCENARIOS.items():
        figures: dict[str, Any] = {}
        # Every server in turn for this load, before the next load: all see the same machine.
        for config, server in servers.items():
            say(f"  {label}: {config.title} ...")
            if options.warmup:
                wrk.run(scenario, server, options.warmup)
            result = wrk.run(scenario, server, options.duration)
            figures[config.name] = asdict(result) | {"errors": result.errors}
        vs_baseline = {
            config.name: {
                "rps_ratio": ratio(
                    figures[config.name]["requests_per_second"],
                    figures[f"baseline-{config.workers}w"]["requests_per_second"],
                ),
                "p50_ratio": ratio(
                    figures[config.name]["p50_ms"], figures[f"baseline-{config.workers}w"]["p50_ms"]
                ),
                "p99_ratio": ratio(
                    figures[config.name]["p99_ms"], figures[f"baseline-{config.workers}w"]["p99_ms"]
                ),
            }
            for config in servers
            if config.kind != "baseline"
        }
        scaling = {
            kind: {
                "rps_1_worker": figures[f"{kind}-1w"]["requests_per_second"],
                "rps_2_workers": figures[f"{kind}-2w"]["requests_per_second"],
                "rps_ratio": ratio(
                    figures[f"{kind}-2w"]["requests_per_second"], figures[f"{kind}-1w"]["requests_per_second"]
                ),
                "p99_ratio": ratio(figures[f"{kind}-2w"]["p99_ms"], figures[f"{kind}-1w"]["p99_ms"]),
            }
            for kind in KINDS
        }
        results[scenario] = {
            "label": label,
            "servers": figures,
            "vs_baseline": vs_baseline,
            "scaling": scaling,
        }
    return results


def start_servers(
    stack: ExitStack, folder: Path, postgres: PostgresServer
) -> tuple[dict[Config, ServerProcess], dict[str, Any]]:
    servers: dict[Config, ServerProcess] = {}
    described: dict[str, Any] = {}
    for config in CONFIGS:
        say(f"Starting {config.title} ...")
        database, storage = "", "-"
        server: ServerProcess
        if config.kind == "baseline":
            server = baseline_process(
                folder, workers=config.workers, name=config.name, startup_timeout=STARTUP_TIMEOUT_S
            )
        else:
            if config.kind == "sqlite":
                path = folder / config.name / "emulator.db"
                path.parent.mkdir()
                database, storage = f"sqlite:///{path}", "fresh SQLite file"
            else:
                name = f"emulator_bench_{os.getpid()}_{config.workers}w"
                database, kind = stack.enter_context(postgres.fresh(name))
                storage = f"fresh PostgreSQL {kind}"
            server = emulator_process(
                database,
                folder,
                name=config.name,
                extra_args=["--workers", str(config.workers)],
                startup_timeout=STARTUP_TIMEOUT_S,
            )
        stack.callback(server.stop)
        start(server)
        if config.kind == "baseline":
            pids = check_baseline_workers(config, server)
        else:
            pids = check_emulator_workers(config, server)
        servers[config] = server
        described[config.name] = {
            "server": config.kind,
            "workers": config.workers,
            "storage": storage,
            "database_url": hide_password(database) if database else None,
            "startup_s": server.startup_seconds,
            "supervisor_pid": server.pid,
            "worker_pids": pids,
        }
        say(f"  up in {server.startup_seconds:.2f} s; worker pid(s) {', '.join(map(str, pids))}")
    return servers, described


def check_all_answers(servers: dict[Config, ServerProcess]) -> None:
    """Every server answers 200 to a GET, a POST and a GET, and the same bodies as the first emulator.

    Each server is asked once, while it still holds the shipped fixtures: a POST changes what the next GET
    answers (in the baseline, per worker process).
    """
    bodies = {config: answers(server) for config, server in servers.items()}
    reference = next(config for config in servers if config.kind != "baseline")
    for config, got in bodies.items():
        for label, expected, body in zip(
            ("GET", "POST", "GET after POST"), bodies[reference], got, strict=True
        ):
            if body != expected:
                say(f"warning: {config.title} answers a {label} body unlike {reference.title}'s:")
                say(f"  {reference.name} {expected!r}\n  {config.name} {body!r}")


def after_load(report: Report, servers: dict[Config, ServerProcess]) -> None:
    """RSS after the loads, and whatever went wrong: a worker replaced, errors in a log."""
    for config, server in servers.items():
        entry = report.servers[config.name]
        entry["rss_after_load_mb"] = rss_kib(server.pid) / 1024
        problems = log_problems(server)
        entry["log_problems"] = len(problems)
        if problems:
            report.problems.append(
                f"{config.title}: {len(problems)} error line(s) in its log, the first: "
                + " | ".join(problems[:3])
            )
        if config.kind != "baseline":
            pids, _, _ = health_pids(server, config.workers)
            entry["worker_pids_after_load"] = sorted(pids)
            replaced = set(pids) - set(entry["worker_pids"])
            if replaced:
                report.problems.append(
                    f"{config.title}: pid(s) {sorted(replaced)} answer health after the loads,"
                    f" not seen before ({entry['worker_pids']}): a worker died and was replaced?"
                )
        loads = {
            SCENARIOS[scenario][0]: report.load[scenario]["servers"][config.name] for scenario in SCENARIOS
        }
        failed = [
            f"{label} {describe_errors(figures)}" for label, figures in loads.items() if figures["errors"]
        ]
        if failed:
            report.problems.append(f"{config.title}: errors under load: {', '.join(failed)}")


# ------------------------------------------------------------------------------------------- reporting


def render(report: Report, markdown: bool = False) -> str:
    options = report.options
    parts: list[str] = []
    parts.append(
        f"Load: wrk -t{options['threads']} -c{options['connections']} -d{options['duration']}s --latency"
        f" (after a {options['warmup']} s warm-up), GET/POST {webhooks_path()}; the servers take turns, load"
        " by load; each emulator is compared with the baseline on as many workers"
    )
    rows: list[list[str]] = []
    for scenario in SCENARIOS:
        entry = report.load[scenario]
        for config in CONFIGS:
            figures = entry["servers"][config.name]
            versus = entry["vs_baseline"].get(config.name)
            rows.append(
                [
                    entry["label"],
                    config.label,
                    str(config.workers),
                    f"{figures['requests_per_second']:.0f}",
                    f"{figures['p50_ms']:.2f}",
                    f"{figures['p99_ms']:.2f}",
                    describe_errors(figures),
                    f"{versus['rps_ratio']:.2f}x" if versus else "",
                    f"{versus['p99_ratio']:.2f}x" if versus else "",
                ]
            )
    headers = ["load", "server", "workers", "req/s", "p50 ms", "p99 ms", "errors", "req/s vs baseline"]
    parts.append(table([*headers, "p99 vs baseline"], rows, markdown))

    scaling_rows = [
        [
            report.load[scenario]["label"],
            KIND_LABELS[kind],
            f"{scaling['rps_1_worker']:.0f}",
            f"{scaling['rps_2_workers']:.0f}",
            f"{scaling['rps_ratio']:.2f}x",
            f"{scaling['p99_ratio']:.2f}x",
        ]
        for scenario in SCENARIOS
        for kind, scaling in report.load[scenario]["scaling"].items()
    ]
    headers = ["load", "server", "req/s, 1 worker", "req/s, 2 workers", "req/s, 2 vs 1", "p99, 2 vs 1"]
    parts.append(
        "Scaling: 2 workers against 1, same server\n\n" if markdown else "Scaling: 2 workers against 1\n"
    )
    parts[-1] += table(headers, scaling_rows, markdown)

    server_rows = [
        [
            KIND_LABELS[entry["server"]],
            str(entry["workers"]),
            entry["storage"],
            f"{entry['startup_s']:.2f}",
            ", ".join(map(str, entry["worker_pids"])),
            f"{entry.get('rss_after_load_mb', float('nan')):.1f}",
        ]
        for entry in report.servers.values()
    ]
    headers = ["server", "workers", "storage", "start-up s", "worker pids", "RSS after load MB"]
    parts.append(("Servers\n\n" if markdown else "Servers\n") + table(headers, server_rows, markdown))
    if report.problems:
        parts.append("Problems seen:\n" + "\n".join(f"- {problem}" for problem in report.problems))
    return "\n\n".join(parts)


def describe_machine(machine: dict[str, Any]) -> list[str]:
    return [
        f"Machine: {machine['nproc']} CPUs, {machine['cpu_model']}, Python {machine['python']},"
        f" load average {' '.join(f'{value:.2f}' for value in machine['load_average_at_start'])} at start",
        f"Source: {machine['source']}",
    ]


def describe_databases(machine: dict[str, Any], options: Options) -> list[str]:
    postgres = machine["postgresql"]
    return [
        f"SQLite {machine['sqlite']} (Python's sqlite3), files on {machine['temp_filesystem']}",
        f"PostgreSQL {postgres['server_version']} ({postgres['source']}"
        + (f", data on {postgres['data_filesystem']}" if postgres.get("data_filesystem") else "")
        + f"; fsync {postgres['fsync']}, synchronous_commit {postgres['synchronous_commit']},"
        f" shared_buffers {postgres['shared_buffers']}, max_connections {postgres['max_connections']}),"
        f" psycopg {machine['packages']['psycopg']}",
        f"{machine['wrk'].split(' Copyright')[0]}: -t{options.threads} -c{options.connections}"
        f" -d{options.duration}s --latency, {options.warmup} s warm-up before each load",
    ]


# ------------------------------------------------------------------------------------------------ main


def run(options: Options) -> Report:
    wrk_executable = ensure_wrk()
    THIS_CHECKOUT.compile()
    with (
        tempfile.TemporaryDirectory(prefix="twilio-emulator-workers-bench-") as temporary,
        ExitStack() as stack,
    ):
        folder = Path(temporary)
        wrk = Wrk(wrk_executable, folder, options.threads, options.connections)
        machine = machine_facts(wrk, folder)
        machine["sqlite"] = sqlite3.sqlite_version
        machine["packages"]["psycopg"] = version_of("psycopg")
        machine["started_at"] = datetime.now(UTC).isoformat(timespec="seconds")
        for line in describe_machine(machine):
            say(line)

        if options.postgres_url is None:
            postgres_url, data_folder = stack.enter_context(throwaway_postgres())
            postgres_source = "throwaway, scripts/postgres"
        else:
            postgres_url, data_folder = options.postgres_url, None
            postgres_source = f"given: {hide_password(postgres_url)}"
        postgres = PostgresServer(postgres_url)
        stack.callback(postgres.close)
        machine["postgresql"] = postgres.facts() | {
            "source": postgres_source,
            "data_filesystem": filesystem_of(data_folder) if data_folder else None,
        }

        report = Report(
            machine=machine,
            options=options.as_json()
            | {"postgres_url": hide_password(options.postgres_url) if options.postgres_url else None},
        )
        for line in describe_databases(machine, options):
            say(line)

        servers, report.servers = start_servers(stack, folder, postgres)
        check_all_answers(servers)

        say("Load ...")
        report.load = measure_load(options, wrk, servers)
        after_load(report, servers)
        report.machine["load_average_at_end"] = list(os.getloadavg())
        return report


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_options(argv)
    report = run_and_report(
        lambda: run(options),
        render,
        markdown_on_screen=options.markdown,
        json_path=options.json_path,
        markdown_path=options.markdown_path,
        stopped="servers and databases",
    )
    if isinstance(report, int):
        return report
    return 1 if options.check and report.problems else 0


if __name__ == "__main__":
    sys.exit(main())
