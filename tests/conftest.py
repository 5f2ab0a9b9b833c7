"""Shared test fixtures: one emulator server per session (shipped fixtures), reset before each test."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.testing import EmulatorProcess

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parent.parent
SHIPPED_FIXTURES = REPO / "fixtures"

# The shipped demo account, key and service (fixtures/demo.json).
DEMO_ACCOUNT = "AC00000000000000000000000000000000"
DEMO_TOKEN = "demo-auth-token"
DEMO_KEY = "SK00000000000000000000000000000000"
DEMO_KEY_SECRET = "demo-api-key-secret"
DEMO_SERVICE = "IS00000000000000000000000000000000"

# The 20 event names a service's Filters may hold (contract §1), written out here rather than taken
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


class Server:
    """A running emulator and its SQLite file, with helpers tests use."""

    def __init__(self, process: EmulatorProcess, database: Path) -> None:
        self.process = process
        self.database = database

    @property
    def base_url(self) -> str:
        return self.process.base_url

    def client(self, account: str = DEMO_ACCOUNT, token: str = DEMO_TOKEN) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, auth=(account, token), timeout=30.0)

    def anonymous(self) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=30.0)

    def reset(self) -> None:
        httpx.post(f"{self.base_url}/_emulator/reset", timeout=30.0).raise_for_status()

    def snapshot(self) -> dict[str, list[tuple[Any, ...]]]:
        """Every row of every table, read from the file itself: what "nothing changed" compares."""
        connection = sqlite3.connect(f"file:{self.database}?mode=ro", uri=True)
        try:
            tables = [
                row[0]
                for row in connection.execute(
                    # emulator_version only counts credential changes, which the account tables show.
                    "SELECT name FROM sqlite_master WHERE type='table' AND name != 'emulator_version' "
                    "ORDER BY name"
                )
            ]
            return {
                table: sorted(connection.execute(f'SELECT * FROM "{table}"').fetchall())  # noqa: S608
                for table in tables
            }
        finally:
            connection.close()


def start_server(tmp: Path, **options: Any) -> Server:
    database = tmp / "emulator.db"
    options.setdefault("fixtures", SHIPPED_FIXTURES)
    process = EmulatorProcess(database, **options).start()
    return Server(process, database)


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
