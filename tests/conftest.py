"""Shared test fixtures: one emulator server per session (shipped fixtures), reset before each test.

The suite runs against SQLite by default. With `EMULATOR_TEST_POSTGRES_URL` set to a PostgreSQL database
URL (`postgresql+psycopg://postgres@127.0.0.1:5432/postgres`), every server the tests start, but those
testing SQLite itself, stores its data in a schema of its own in that database instead.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.pool import NullPool
from twilio_conversations_emulator.activity.sender import tls_context
from twilio_conversations_emulator.cli import main as cli_main
from twilio_conversations_emulator.main import create_app
from twilio_conversations_emulator.settings import Settings
from twilio_conversations_emulator.testing import EmulatorProcess
from twilio_conversations_emulator.testing.processes import GROUP_OF_ITS_OWN, ChildProcess, kill_group
from twilio_conversations_emulator.testing.server import PACKAGE, clean_environment

from tests.forked_servers import ForkServer

# tests/leftovers.py fails a session in which a test left a process running.
pytest_plugins = ["pytester", "tests.leftovers"]

REPO = Path(__file__).resolve().parent.parent
SHIPPED_FIXTURES = REPO / "fixtures"

# The shipped demo account, key and service (fixtures/demo.json).
DEMO_ACCOUNT = "AC00000000000000000000000000000000"
DEMO_TOKEN = "demo-auth-token"
DEMO_KEY = "SK00000000000000000000000000000000"
DEMO_KEY_SECRET = "demo-api-key-secret"
DEMO_SERVICE = "IS00000000000000000000000000000000"

# The 20 event names a service's Filters may hold (webhook configuration), written out here rather than taken
# from the app, so a wrong list in the app fails the tests.
SERVICE_EVENTS = [
    "onMessageAdd",
    "onMessageAdded",
    "onMessageUpdate",
    "onMessageUpdated",
    "onMessageRemove",
    "onMessageRemoved",
    "onConversationAdd",
    "onConversationAdded",
    "onConversationUpdate",
    "onConversationUpdated",
    "onConversationRemove",
    "onConversationRemoved",
    "onConversationStateUpdated",
    "onParticipantAdd",
    "onParticipantAdded",
    "onParticipantUpdate",
    "onParticipantUpdated",
    "onParticipantRemove",
    "onParticipantRemoved",
    "onDeliveryUpdated",
]


POSTGRES_URL = os.environ.get("EMULATOR_TEST_POSTGRES_URL") or None
# The backend under test: what servers started by `start_server` store their data in.
BACKEND = "postgresql" if POSTGRES_URL else "sqlite"


class TestDatabase:
    """The database of the servers a test starts in `tmp`: a SQLite file there, or a PostgreSQL schema.

    The same `tmp` gives the same database, so a test can stop a server and start another on its data.
    """

    __test__ = False  # a helper, not a test class

    def __init__(self, tmp: Path) -> None:
        if POSTGRES_URL is None:
            self.path: Path | None = tmp / "emulator.db"
            self.url = f"sqlite:///{self.path}"
            return
        self.path = None
        # Salted per test session: pytest reuses temporary folder names across runs.
        name = f"{_SESSION_SALT}:{tmp.resolve()}"
        self.schema = "t_" + hashlib.sha256(name.encode()).hexdigest()[:24]
        with _admin_engine().begin() as connection:
            connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"'))
        _schemas.add(self.schema)
        # libpq's `options` puts the server's tables, and only them, in the schema.
        search_path = quote(f"-csearch_path={self.schema}")
        self.url = f"{POSTGRES_URL}{'&' if '?' in POSTGRES_URL else '?'}options={search_path}"

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        """A connection that sees the server's tables (one pooled engine serves every schema)."""
        if self.path is not None:
            engine = create_engine(self.url, poolclass=NullPool)
            try:
                with engine.begin() as connection:
                    yield connection
            finally:
                engine.dispose()
            return
        with _admin_engine().begin() as connection:
            connection.execute(text(f'SET LOCAL search_path TO "{self.schema}"'))
            yield connection

    @contextmanager
    def control_connection(self) -> Iterator[Connection]:
        """A connection to the shared control state (`--workers`, PostgreSQL): beside the data on
        PostgreSQL, in the `-control` file beside a SQLite database."""
        if self.path is None:
            with self.connect() as connection:
                yield connection
            return
        engine = create_engine(f"sqlite:///{self.path}-control", poolclass=NullPool)
        try:
            with engine.begin() as connection:
                yield connection
        finally:
            engine.dispose()

    def control_rows(self, table: str) -> int:
        """Rows in a table of the shared control state."""
        count = text(f'SELECT count(*) FROM "{table}"')  # noqa: S608 - a table name from the test
        with self.control_connection() as connection:
            return int(connection.execute(count).scalar_one())

    def execute(self, statement: str) -> None:
        with self.connect() as connection:
            connection.execute(text(statement))

    def snapshot(self) -> dict[str, list[tuple[Any, ...]]]:
        """Every row of every resource table: what "nothing changed" compares.

        Left out: `emulator_version` (it only counts changes, which the tables themselves show) and the
        control logs (`emulator_log_entry`, ...) that share a PostgreSQL schema with the data.
        """
        if self.path is not None:
            tables = "SELECT name FROM sqlite_master WHERE type = 'table'"
        else:
            tables = "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
        with self.connect() as connection:
            names = sorted(str(name) for name in connection.execute(text(tables)).scalars())
            return {
                name: sorted(
                    (tuple(row) for row in connection.execute(text(f'SELECT * FROM "{name}"'))),  # noqa: S608
                    key=repr,
                )
                for name in names
                if not name.startswith("emulator_")
            }

    def integrity(self) -> str:
        """ "ok", or what the engine's own consistency check found wrong."""
        with self.connect() as connection:
            if self.path is not None:
                return str(connection.execute(text("PRAGMA integrity_check")).scalar_one())
            # amcheck (PostgreSQL's contrib) checks every B-tree index against its table's rows.
            connection.execute(text("CREATE EXTENSION IF NOT EXISTS amcheck SCHEMA public"))
            indexes = connection.execute(
                text(
                    "SELECT c.oid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                    "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = :schema"
                ),
                {"schema": self.schema},
            ).scalars()
            for index in list(indexes):
                connection.execute(text("SELECT public.bt_index_check(:index, true)"), {"index": index})
            return "ok"


_admin: Engine | None = None
_SESSION_SALT = os.urandom(8).hex()
_schemas: set[str] = set()


# Each test file runs on one worker (`--dist loadfile`), and the files go out in collection order
# (`--no-loadscope-reorder`): these, the longest (17 to 70 s each in a SQLite pass of 2026-12-01), go
# first, so that none is handed out last to hold the run's end while the other workers idle. A file
# missing here only costs time.
LONGEST_FIRST = (
    "test_conformance.py",
    "test_workers.py",
    "test_journal_and_faults.py",
    "test_persistence.py",
    "test_proxy.py",
    "test_control.py",
    "test_concurrency.py",
    "test_bad_input_catalogue.py",
    "test_pytest_plugin.py",
    "test_rest_activity.py",
    "test_load_and_crash.py",
    "test_readme.py",
    "test_scoped_webhooks.py",
    "test_participants.py",
    "test_deliveries.py",
    "test_hostile_control_input.py",
    "test_conversations.py",
    "test_odd_input.py",
    "test_settings_cli.py",
    "test_sdk_path.py",
    "test_mock.py",
    "test_security.py",
    "test_user_project.py",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The longest files first; on PostgreSQL, leave out the tests whose outcome the backend cannot
    change: the SQLite pass runs them, and running them twice would only double CI's time. Deselected, not
    skipped: nothing is hidden."""
    rank = {name: position for position, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: the rest keep their order
    if POSTGRES_URL is None:
        return
    kept = [item for item in items if item.get_closest_marker("backend_independent") is None]
    if len(kept) != len(items):
        config.hook.pytest_deselected(items=[item for item in items if item not in kept])
        items[:] = kept


@pytest.fixture(scope="session", autouse=True)
def _drop_test_schemas() -> Iterator[None]:
    yield
    if _schemas:
        with _admin_engine().begin() as connection:
            for schema in sorted(_schemas):
                connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))


def _admin_engine() -> Engine:
    global _admin
    if _admin is None:
        assert POSTGRES_URL is not None
        assert make_url(POSTGRES_URL).get_backend_name() == "postgresql", POSTGRES_URL
        _admin = create_engine(POSTGRES_URL, pool_size=2)
    return _admin


class Server:
    """A running emulator and its database, with helpers tests use."""

    def __init__(self, process: EmulatorProcess, database: TestDatabase) -> None:
        self.process = process
        self.database = database

    @property
    def base_url(self) -> str:
        return self.process.base_url

    # One TLS context for all: each client would otherwise load the CA bundle, tens of ms of CPU.
    def client(self, account: str = DEMO_ACCOUNT, token: str = DEMO_TOKEN) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, auth=(account, token), timeout=30.0, verify=tls_context())

    def anonymous(self) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=30.0, verify=tls_context())

    def reset(self) -> None:
        httpx.post(f"{self.base_url}/_emulator/reset", timeout=30.0, verify=tls_context()).raise_for_status()

    def snapshot(self) -> dict[str, list[tuple[Any, ...]]]:
        return self.database.snapshot()


def extra_requirement(extra: str) -> str:
    """The requirement pyproject.toml gives the optional extra `extra` (which has one)."""
    with (REPO / "pyproject.toml").open("rb") as project:
        [requirement] = tomllib.load(project)["project"]["optional-dependencies"][extra]
    assert isinstance(requirement, str)
    return requirement


# This process's fork server (tests/forked_servers.py), started by the first emulator that can use it,
# with this process's environment and the storage driver of the backend under test.
FORKS = ForkServer(
    PACKAGE,
    clean_environment(),
    warm=[
        "sqlalchemy.dialects.postgresql.psycopg" if POSTGRES_URL else "sqlalchemy.dialects.sqlite.pysqlite"
    ],
)


@pytest.fixture(scope="session", autouse=True)
def _stop_the_fork_server() -> Iterator[None]:
    yield  # set up first, so torn down after every other session fixture
    FORKS.close()


class ForkedEmulatorProcess(EmulatorProcess):
    """`EmulatorProcess`, forked from this process's fork server where that is the same as starting the
    command anew (tests/forked_servers.py), and started anew otherwise."""

    forks = FORKS

    def launch(self, command: list[str], env: dict[str, str], log: IO[bytes]) -> ChildProcess:
        forked = self.forks.spawn(command, env, self.cwd, log.name, session=self.new_session)
        return forked if forked is not None else super().launch(command, env, log)


def start_server(tmp: Path, **options: Any) -> Server:
    """A server on the backend under test, with the database that belongs to `tmp`."""
    database = TestDatabase(tmp)
    options.setdefault("fixtures", SHIPPED_FIXTURES)
    process = ForkedEmulatorProcess(database.url, **options).start()
    return Server(process, database)


def module_server(name: str, *extra_args: str) -> Any:
    """A module-scoped fixture: the module's own server, started once with `extra_args`, stopped after
    its last test. Named by what it is assigned to: `impatient = module_server("impatient", "--flag", "v")`.
    """

    @pytest.fixture(scope="module")
    def started(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
        running = start_server(tmp_path_factory.mktemp(name), extra_args=list(extra_args))
        yield running
        running.process.stop()

    return started


@pytest.fixture
def pytester(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """pytester, whose nested pytest runs (and their xdist workers) leave out schemathesis's plugin, as this
    suite does (pyproject.toml): no user suite here uses it, and it cost ~0.85 CPU-s in every process."""
    monkeypatch.setenv("PYTEST_ADDOPTS", "-p no:schemathesis")  # pytester has removed this run's own
    return pytester


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = start_server(tmp_path_factory.mktemp("server"))
    yield running
    running.process.stop()


@pytest.fixture
def emulator(server: Server) -> Server:
    """The session's server, reset to the shipped fixtures."""
    server.reset()
    return server


@pytest.fixture
def api(emulator: Server) -> Iterator[httpx.Client]:
    """An httpx client authenticated as the demo account."""
    with emulator.client() as client:
        yield client


def new_service(client: httpx.Client, name: str = "test service") -> str:
    answer = client.post("/v1/Services", data={"FriendlyName": name})
    assert answer.status_code == 201, answer.text
    sid: str = answer.json()["sid"]
    return sid


def webhooks_path(sid: str) -> str:
    return f"/v1/Services/{sid}/Configuration/Webhooks"


def assert_twilio_error(answer: httpx.Response, status: int, code: int) -> dict[str, Any]:
    """The answer is Twilio's error envelope with this status and code, and nothing else."""
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/json; charset=utf-8"
    body: dict[str, Any] = answer.json()
    assert set(body) == {"code", "message", "more_info", "status"}
    assert body["code"] == code
    assert body["status"] == status
    assert body["more_info"] == f"https://www.twilio.com/docs/errors/{code}"
    assert isinstance(body["message"], str)
    assert body["message"]
    return body


class InProcess:
    """The emulator app in this process, called through HTTP semantics without a socket: for contract
    tests that need no server process (the suite's many requests cost far less this way)."""

    def __init__(self, client: TestClient, database: TestDatabase) -> None:
        self.http = client
        self.database = database

    def client(self, account: str = DEMO_ACCOUNT, token: str = DEMO_TOKEN) -> httpx.Client:
        self.http.auth = (account, token)
        return self.http

    def reset(self) -> None:
        self.http.post("/_emulator/reset").raise_for_status()

    def snapshot(self) -> dict[str, list[tuple[Any, ...]]]:
        return self.database.snapshot()


@pytest.fixture(scope="module")
def in_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcess]:
    """One app per test module, on the backend under test, with the shipped fixtures."""
    database = TestDatabase(tmp_path_factory.mktemp("in-process"))
    settings = Settings(database_url=database.url, fixtures=str(SHIPPED_FIXTURES))
    with TestClient(create_app(settings), base_url="http://127.0.0.1") as client:
        yield InProcess(client, database)


@pytest.fixture
def app_api(in_process: InProcess) -> httpx.Client:
    """An HTTP client of the in-process app, as the demo account, after a reset."""
    in_process.reset()
    return in_process.client()


class BusyCores:
    """One busy-loop process per core (at least two), killed however the block ends."""

    def __init__(self) -> None:
        self.loops = max(2, os.cpu_count() or 1)
        self.processes: list[subprocess.Popen[bytes]] = []

    def __enter__(self) -> BusyCores:
        try:
            for _ in range(self.loops):
                self.processes.append(
                    subprocess.Popen([sys.executable, "-c", "while True: pass"], **GROUP_OF_ITS_OWN)
                )
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *_: object) -> None:
        for process in self.processes:
            kill_group(process)

    def all_running(self) -> bool:
        return all(process.poll() is None for process in self.processes)


@dataclass
class CommandLine:
    """The console script's `main`, run in this process: the same code as the command without a new
    interpreter's second of imports, for start-ups that stop before serving (a test that wrongly serves
    is stopped by the test timeout)."""

    monkeypatch: pytest.MonkeyPatch
    capsys: pytest.CaptureFixture[str]

    def run(self, *args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
        for key in [key for key in os.environ if key.startswith("TWILIO_EMULATOR_")]:
            self.monkeypatch.delenv(key)
        for key, value in (env or {}).items():
            self.monkeypatch.setenv(key, value)
        try:
            code = cli_main(list(args))
        except SystemExit as exit_:  # argparse's refusals
            code = exit_.code if isinstance(exit_.code, int) else 2
        return code, self.capsys.readouterr().err


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> CommandLine:
    monkeypatch.chdir(tmp_path)  # a default ./data folder would be made here
    return CommandLine(monkeypatch, capsys)
