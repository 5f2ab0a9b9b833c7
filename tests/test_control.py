"""Health, reset, start-up fixtures and settings and the CLI."""

from __future__ import annotations

import gc
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from twilio_conversations_emulator import __version__
from twilio_conversations_emulator.cli import main
from twilio_conversations_emulator.testing import free_port
from twilio_conversations_emulator.testing.processes import GROUP_OF_ITS_OWN, stop_group
from twilio_conversations_emulator.testing.server import STARTUP_TIMEOUT_S, STOP_TIMEOUT_S

from tests.conftest import (
    BACKEND,
    DEMO_ACCOUNT,
    DEMO_SERVICE,
    REPO,
    CommandLine,
    ForkedEmulatorProcess,
    Server,
    assert_twilio_error,
    new_service,
    start_server,
    webhooks_path,
)

OTHER_ACCOUNT = "AC" + "4" * 32
FIXTURE_ACCOUNT = "AC" + "a" * 32
FIXTURE_SERVICE = "IS" + "a" * 32


def test_health(emulator: Server) -> None:
    answer = httpx.get(f"{emulator.base_url}/_emulator/health")
    assert answer.status_code == 200
    assert answer.json() == {
        "status": "ok",
        "version": __version__,
        "database": BACKEND,
        "pid": emulator.process.process.pid if emulator.process.process else None,
    }


def without_times(snapshot: dict[str, list[tuple[Any, ...]]]) -> dict[str, list[tuple[Any, ...]]]:
    """A snapshot with its timestamps blanked: a reset re-creates the fixtures with new dates."""
    timestamp = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")
    return {
        table: [
            tuple("<time>" if isinstance(v, str) and timestamp.match(v) else v for v in row) for row in rows
        ]
        for table, rows in snapshot.items()
    }


def test_reset_wipes_everything_and_restores_the_fixtures(emulator: Server, api: httpx.Client) -> None:
    pristine = without_times(emulator.snapshot())
    created = new_service(api)
    api.post(webhooks_path(DEMO_SERVICE), data={"Method": "GET", "Filters": "onMessageAdd"})
    with emulator.client(OTHER_ACCOUNT, "t") as other:
        new_service(other)
    assert without_times(emulator.snapshot()) != pristine
    answer = httpx.post(f"{emulator.base_url}/_emulator/reset")
    assert answer.status_code == 204
    assert answer.content == b""
    assert without_times(emulator.snapshot()) == pristine
    assert_twilio_error(api.get(f"/v1/Services/{created}"), 404, 20404)
    assert api.get(webhooks_path(DEMO_SERVICE)).json()["method"] == "POST"


def test_reset_of_one_account_leaves_the_others(emulator: Server, api: httpx.Client) -> None:
    mine = new_service(api)
    api.post(webhooks_path(DEMO_SERVICE), data={"Method": "GET"})
    with emulator.client(OTHER_ACCOUNT, "t") as other:
        theirs = new_service(other)
        answer = httpx.post(f"{emulator.base_url}/_emulator/reset", params={"account_sid": DEMO_ACCOUNT})
        assert answer.status_code == 204
        assert other.get(f"/v1/Services/{theirs}").status_code == 200
    assert_twilio_error(api.get(f"/v1/Services/{mine}"), 404, 20404)
    # The demo account's own fixtures are back.
    assert api.get(webhooks_path(DEMO_SERVICE)).json()["method"] == "POST"


@pytest.mark.parametrize("account_sid", ["nope", "AC123", "IS" + "0" * 32])
def test_reset_with_a_malformed_account_is_refused(
    emulator: Server, api: httpx.Client, account_sid: str
) -> None:
    new_service(api)
    before = emulator.snapshot()
    answer = httpx.post(f"{emulator.base_url}/_emulator/reset", params={"account_sid": account_sid})
    assert_twilio_error(answer, 400, 20002)
    assert emulator.snapshot() == before


def write_fixture(folder: Path, name: str, document: dict[str, Any]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(json.dumps(document))
    return path


GOOD_DOCUMENT = {
    "accounts": [{"sid": FIXTURE_ACCOUNT, "auth_token": "fixture-token"}],
    "services": [
        {
            "sid": FIXTURE_SERVICE,
            "account_sid": FIXTURE_ACCOUNT,
            "friendly_name": "From a fixture",
            "webhooks": {"pre_webhook_url": "https://pre.example.com/", "method": "get", "filters": []},
        }
    ],
}


def test_a_folder_of_fixtures_is_applied_in_name_order(tmp_path: Path) -> None:
    folder = tmp_path / "fixtures"
    write_fixture(folder, "10-base.json", GOOD_DOCUMENT)
    write_fixture(
        folder,
        "20-override.json",
        {
            "services": [
                {"sid": FIXTURE_SERVICE, "account_sid": FIXTURE_ACCOUNT, "webhooks": {"method": "POST"}}
            ]
        },
    )
    (folder / "notes.txt").write_text("not a fixture")
    running = start_server(tmp_path, fixtures=folder, auth_mode="strict")
    try:
        with running.client(FIXTURE_ACCOUNT, "fixture-token") as api:
            assert api.get(webhooks_path(FIXTURE_SERVICE)).json() == {
                "account_sid": FIXTURE_ACCOUNT,
                "chat_service_sid": FIXTURE_SERVICE,
                "pre_webhook_url": "https://pre.example.com/",
                "post_webhook_url": None,
                "filters": [],
                "method": "POST",
                "url": f"https://conversations.twilio.com/v1/Services/{FIXTURE_SERVICE}/Configuration/Webhooks",
            }
            assert api.get(f"/v1/Services/{FIXTURE_SERVICE}").json()["friendly_name"] == "From a fixture"
            # Only the fixtures' account exists: the shipped demo is not loaded when another path is given.
        with running.client(DEMO_ACCOUNT, "demo-auth-token") as demo:
            assert demo.get("/v1/Services").status_code == 401
    finally:
        running.process.stop()


def test_empty_fixtures_setting_loads_nothing(tmp_path: Path) -> None:
    running = start_server(tmp_path, fixtures="")
    try:
        assert running.snapshot()["conversation_service"] == []
        with running.client() as api:
            assert api.get("/v1/Services").json()["services"] == []
    finally:
        running.process.stop()


BAD_DOCUMENTS = [
    ({"services": [{"sid": "IS1", "account_sid": FIXTURE_ACCOUNT, "friendly_name": "x"}]}, "services[0].sid"),
    ({"accounts": [{"sid": FIXTURE_ACCOUNT, "token": "typo"}]}, "accounts[0].token"),
    (
        {"api_keys": [{"sid": "SK" + "1" * 32, "secret": "", "account_sid": FIXTURE_ACCOUNT}]},
        "api_keys[0].secret",
    ),
    ({"services": [{"sid": FIXTURE_SERVICE, "account_sid": FIXTURE_ACCOUNT}]}, "services[0]"),
    (
        {
            "services": [
                {
                    "sid": FIXTURE_SERVICE,
                    "account_sid": FIXTURE_ACCOUNT,
                    "friendly_name": "x",
                    "webhooks": {"filters": ["onNothing"]},
                }
            ]
        },
        "services[0]",
    ),
    (
        {
            "services": [
                {
                    "sid": FIXTURE_SERVICE,
                    "account_sid": FIXTURE_ACCOUNT,
                    "friendly_name": "x",
                    "webhooks": {"post_webhook_url": "ftp://x"},
                }
            ]
        },
        "services[0]",
    ),
    ({"services": "not a list"}, "services"),
    ({"unknown_section": []}, "unknown_section"),
]


@pytest.mark.backend_independent  # SQLite by construction: once, in the SQLite pass
@pytest.mark.parametrize(("document", "entry"), BAD_DOCUMENTS)
def test_a_bad_start_up_fixture_stops_start_up_naming_the_entry(
    tmp_path: Path, document: dict[str, Any], entry: str, cli: CommandLine
) -> None:
    path = write_fixture(tmp_path, "bad.json", document)
    database = tmp_path / "db.sqlite"
    code, stderr = cli.run(
        "serve", "--port", str(free_port()), "--database", f"sqlite:///{database}", "--fixtures", str(path)
    )
    assert code == 2
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert str(path) in lines[0]
    assert entry in lines[0]


def test_a_refused_document_changes_nothing(tmp_path: Path) -> None:
    # The second entry is bad, so the first must not have been written either.
    document = {
        "accounts": [{"sid": FIXTURE_ACCOUNT}],
        "services": [
            {"sid": FIXTURE_SERVICE, "account_sid": FIXTURE_ACCOUNT, "friendly_name": "ok"},
            {"sid": "IS" + "b" * 32, "account_sid": FIXTURE_ACCOUNT, "friendly_name": "x" * 300},
        ],
    }
    path = write_fixture(tmp_path / "f", "bad.json", document)
    database = tmp_path / "db.sqlite"
    result = run_cli(
        "serve", "--port", str(free_port()), "--database", f"sqlite:///{database}", "--fixtures", str(path)
    )
    assert result.returncode == 2
    assert "services[1]" in result.stderr
    running = start_server(tmp_path, fixtures="")
    try:
        assert running.snapshot()["conversation_service"] == []
        assert running.snapshot()["account"] == []
    finally:
        running.process.stop()


def test_start_up_fixtures_are_applied_on_top_of_existing_state(tmp_path: Path) -> None:
    folder = tmp_path / "fixtures"
    write_fixture(folder, "demo.json", GOOD_DOCUMENT)
    running = start_server(tmp_path, fixtures=folder)
    try:
        with running.client(FIXTURE_ACCOUNT, "fixture-token") as api:
            extra = new_service(api, "made at run time")
            api.post(webhooks_path(FIXTURE_SERVICE), data={"PostWebhookUrl": "https://post.example.com/"})
    finally:
        running.process.stop()
    running = start_server(tmp_path, fixtures=folder)
    try:
        with running.client(FIXTURE_ACCOUNT, "fixture-token") as api:
            assert api.get(f"/v1/Services/{extra}").status_code == 200
            body = api.get(webhooks_path(FIXTURE_SERVICE)).json()
        # Named by the fixture: set again. Not named: kept.
        assert body["method"] == "GET"
        assert body["post_webhook_url"] == "https://post.example.com/"
    finally:
        running.process.stop()


def run_cli(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("TWILIO_EMULATOR_")}
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "twilio_conversations_emulator", *args],
        capture_output=True,
        text=True,
        env=environment,
        cwd=cwd or REPO,
        timeout=60,
        check=False,
    )


@pytest.mark.backend_independent  # SQLite by construction: once, in the SQLite pass
@pytest.mark.parametrize(
    ("env", "args", "named"),
    [
        ({"TWILIO_EMULATOR_PORT": "eighty"}, [], "TWILIO_EMULATOR_PORT"),
        ({"TWILIO_EMULATOR_PORT": "70000"}, [], "TWILIO_EMULATOR_PORT"),
        ({}, ["--port", "-5"], "--port"),
        ({"TWILIO_EMULATOR_AUTH_MODE": "lax"}, [], "TWILIO_EMULATOR_AUTH_MODE"),
        ({}, ["--auth-mode", "open"], "--auth-mode"),
        ({"TWILIO_EMULATOR_MAX_BODY_BYTES": "0"}, [], "TWILIO_EMULATOR_MAX_BODY_BYTES"),
        ({"TWILIO_EMULATOR_PUBLIC_BASE_URL": "ftp://x"}, [], "TWILIO_EMULATOR_PUBLIC_BASE_URL"),
        ({}, ["--database", "not a url"], "--database"),
        ({"TWILIO_EMULATOR_LOG_LEVEL": "loud"}, [], "TWILIO_EMULATOR_LOG_LEVEL"),
        ({}, ["--fixtures", "/no/such/fixtures"], "/no/such/fixtures"),
        ({}, ["--host", "999.1.1.1"], "--host"),  # not uvicorn's bind error and exit 3
        ({"TWILIO_EMULATOR_HOST": "no-such-host.invalid"}, [], "TWILIO_EMULATOR_HOST"),
    ],
)
def test_a_bad_setting_stops_start_up_with_one_line_naming_it(
    env: dict[str, str], args: list[str], named: str, cli: CommandLine
) -> None:
    code, stderr = cli.run("serve", *args, env=env)
    assert code == 2
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert named in lines[0]


@pytest.mark.backend_independent  # SQLite by construction: once, in the SQLite pass
def test_the_command_itself_stops_on_a_bad_setting_with_exit_status_2() -> None:
    # The cases above call the console script's `main` in this process; this one runs the command.
    result = run_cli("serve", "--port", "eighty")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert "--port" in result.stderr


@pytest.mark.backend_independent  # SQLite by construction: once, in the SQLite pass
def test_a_flag_wins_over_its_variable(tmp_path: Path) -> None:
    process = ForkedEmulatorProcess(
        tmp_path / "db.sqlite",
        fixtures="",
        env={"TWILIO_EMULATOR_PORT": "1", "TWILIO_EMULATOR_AUTH_MODE": "strict"},
    )
    process.extra_args = ["--auth-mode", "permissive"]
    with process:
        # Started on the flag's port (the variable says 1) and in the flag's auth mode.
        answer = httpx.get(f"{process.base_url}/v1/Services", auth=("AC" + "5" * 32, "any"))
        assert answer.status_code == 200


def serve_in(folder: Path, env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
    """`python -m twilio_conversations_emulator serve` run from `folder` with only the given
    TWILIO_EMULATOR_* variables."""
    environment = {key: value for key, value in os.environ.items() if not key.startswith("TWILIO_EMULATOR_")}
    environment.update(env)
    return subprocess.Popen(
        [sys.executable, "-m", "twilio_conversations_emulator", "serve", *args],
        cwd=folder,
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        **GROUP_OF_ITS_OWN,
    )


def wait_for_health(port: int, server: subprocess.Popen[bytes]) -> None:
    # Generous: only a hang waits this long; a server that exits is seen at once.
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline and server.poll() is None:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/_emulator/health").status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.02)
    pytest.fail(f"no emulator answered on port {port}")


@pytest.mark.backend_independent  # SQLite by construction: once, in the SQLite pass
def test_settings_come_from_the_environment(tmp_path: Path) -> None:
    port = free_port()
    env = {
        "TWILIO_EMULATOR_PORT": str(port),
        "TWILIO_EMULATOR_DATABASE_URL": f"sqlite:///{tmp_path / 'env.db'}",
        "TWILIO_EMULATOR_FIXTURES": "",
        "TWILIO_EMULATOR_AUTH_MODE": "strict",
        "TWILIO_EMULATOR_PUBLIC_BASE_URL": "http://public.example",
    }
    server = serve_in(tmp_path, env)
    try:
        wait_for_health(port, server)
        # Strict mode with no fixtures: nobody is known.
        answer = httpx.get(f"http://127.0.0.1:{port}/v1/Services", auth=(DEMO_ACCOUNT, "demo-auth-token"))
        assert answer.status_code == 401
        assert (tmp_path / "env.db").exists()
        assert not (tmp_path / "data").exists()
    finally:
        stop_group(server, STOP_TIMEOUT_S)


@pytest.mark.backend_independent  # SQLite by construction: once, in the SQLite pass
def test_default_database_is_created_under_data(tmp_path: Path) -> None:
    port = free_port()
    server = serve_in(tmp_path, {}, "--port", str(port))
    try:
        wait_for_health(port, server)
        answer = httpx.get(
            f"http://127.0.0.1:{port}/v1/Services/{DEMO_SERVICE}/Configuration/Webhooks",
            auth=(DEMO_ACCOUNT, "demo-auth-token"),
        )
        assert answer.status_code == 200
        assert answer.json()["chat_service_sid"] == DEMO_SERVICE
        assert (tmp_path / "data" / "emulator.db").exists()
    finally:
        stop_group(server, STOP_TIMEOUT_S)


@pytest.mark.backend_independent  # SQLite by construction: once, in the SQLite pass
def test_the_command_builds_the_app_with_the_collector_off_and_serves_with_it_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from twilio_conversations_emulator import main as composition

    seen: dict[str, Any] = {}
    build = composition.create_app

    def create_app(settings: Any) -> Any:
        seen["enabled while building"] = gc.isenabled()
        return build(settings)

    def run(application: Any, **options: Any) -> None:
        seen.update(
            enabled=gc.isenabled(), frozen=gc.get_freeze_count(), app=application, port=options["port"]
        )

    monkeypatch.setattr(composition, "create_app", create_app)
    monkeypatch.setattr(uvicorn, "run", run)
    frozen_before = gc.get_freeze_count()
    try:
        assert main(["serve", "--port", "0", "--database", f"sqlite:///{tmp_path / 'e.db'}"]) == 0
    finally:
        gc.unfreeze()
        if "app" in seen:
            seen["app"].state.emulator.dispose()
    assert seen["enabled while building"] is False
    assert seen["enabled"] is True
    assert seen["frozen"] > frozen_before  # what start-up made is out of the collector's passes
    assert seen["port"] == 0
    assert seen["app"].title == "Twilio Conversations emulator"
    assert gc.isenabled()


@pytest.mark.backend_independent  # SQLite by construction: once, in the SQLite pass
@pytest.mark.parametrize("args", [["--port", "eighty"], ["--fixtures", "/no/such/fixtures"]])
def test_a_refused_start_up_leaves_the_collector_on(
    args: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)  # the default database, ./data/emulator.db, is made here if at all
    assert main(["serve", "--database", f"sqlite:///{tmp_path / 'e.db'}", *args]) == 2
    assert "twilio-emulator:" in capsys.readouterr().err
    assert gc.isenabled()


@pytest.mark.backend_independent  # SQLite by construction: once, in the SQLite pass
def test_cli_help_lists_every_flag() -> None:
    result = run_cli("serve", "--help")
    assert result.returncode == 0
    for flag in ("--host", "--port", "--database", "--fixtures", "--auth-mode", "--public-base-url"):
        assert flag in result.stdout


@pytest.mark.backend_independent  # SQLite by construction: once, in the SQLite pass
def test_an_in_memory_database_serves_and_keeps_state_while_running() -> None:
    with (
        ForkedEmulatorProcess("sqlite:///:memory:", fixtures=REPO / "fixtures") as process,
        httpx.Client(base_url=process.base_url, auth=(DEMO_ACCOUNT, "demo-auth-token")) as api,
    ):
        sid = new_service(api, "in memory")
        assert api.post(webhooks_path(sid), data={"Method": "GET"}).json()["method"] == "GET"
        assert [s["sid"] for s in api.get("/v1/Services").json()["services"]] == [DEMO_SERVICE, sid]
        assert httpx.post(f"{process.base_url}/_emulator/reset").status_code == 204
        assert [s["sid"] for s in api.get("/v1/Services").json()["services"]] == [DEMO_SERVICE]


def test_a_one_account_reset_that_would_collide_is_refused_whole(emulator: Server, api: httpx.Client) -> None:
    # The demo service's SID is given to another account at run time; the demo account's reset would
    # need it back.
    assert api.delete(f"/v1/Services/{DEMO_SERVICE}").status_code == 204
    document = {"services": [{"sid": DEMO_SERVICE, "account_sid": OTHER_ACCOUNT, "friendly_name": "taken"}]}
    assert httpx.post(f"{emulator.base_url}/_emulator/fixtures", json=document).status_code == 204
    before = emulator.snapshot()
    answer = httpx.post(f"{emulator.base_url}/_emulator/reset", params={"account_sid": DEMO_ACCOUNT})
    body = assert_twilio_error(answer, 409, 20409)
    assert DEMO_ACCOUNT in body["message"]
    assert emulator.snapshot() == before
    # A full reset still works.
    assert httpx.post(f"{emulator.base_url}/_emulator/reset").status_code == 204
    assert api.get(f"/v1/Services/{DEMO_SERVICE}").status_code == 200


@pytest.mark.backend_independent  # SQLite by construction: once, in the SQLite pass
def test_a_sqlite_uri_database_serves(tmp_path: Path) -> None:
    url = "sqlite:///file:emulator-uri-test?mode=memory&cache=shared&uri=true"
    with (
        ForkedEmulatorProcess(url, fixtures=REPO / "fixtures") as process,
        httpx.Client(base_url=process.base_url, auth=(DEMO_ACCOUNT, "demo-auth-token")) as api,
    ):
        sid = new_service(api, "uri")
        assert api.post(webhooks_path(sid), data={"Method": "GET"}).json()["method"] == "GET"
        assert api.get(webhooks_path(sid)).json()["method"] == "GET"
