"""A pytest plugin for suites that test code talking to Twilio Conversations.

Installed with this package (entry point `pytest11`), it gives a suite these fixtures:

- `twilio_emulator`: the emulator, one per test session (per xdist worker) on a free port with its own
  temporary database, reset before each test; or an emulator already running (e.g. a docker compose
  service) named by `--twilio-emulator-url` or `TWILIO_EMULATOR_URL`, which is then never wiped whole.
- `twilio_account`: a fresh account SID and auth token per test, so parallel tests never share state.
- `twilio_client`: an official `twilio.rest.Client` for that account, pointed at the emulator.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from .testing.server import EmulatorProcess

if TYPE_CHECKING:
    import httpx

URL_VARIABLE = "TWILIO_EMULATOR_URL"
ADMIN_TOKEN_VARIABLE = "TWILIO_EMULATOR_ADMIN_TOKEN"  # noqa: S105 - a variable name


@dataclass(frozen=True)
class TwilioAccount:
    sid: str
    auth_token: str


class TwilioEmulator:
    """A running emulator and its control API."""

    def __init__(self, base_url: str, *, owned: bool, admin_token: str | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.owned = owned
        # Imported here: pytest loads this plugin in every session of an environment that has the package,
        # and httpx (~90 ms) is only needed by sessions that use the emulator.
        import httpx

        headers = {"Authorization": f"Bearer {admin_token}"} if admin_token else {}
        self._control = httpx.Client(base_url=f"{self.base_url}/_emulator", headers=headers, timeout=30.0)

    def close(self) -> None:
        self._control.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        answer = self._control.request(method, path, **kwargs)
        if answer.is_error:
            raise AssertionError(f"{method} /_emulator{path} answered {answer.status_code}: {answer.text}")
        return answer

    def reset(self, account_sid: str | None = None) -> None:
        """Back to the start-up fixtures: everything, or one account's state."""
        params = {"account_sid": account_sid} if account_sid else None
        self._call("POST", "/reset", params=params)

    def apply(self, fixture: dict[str, Any]) -> None:
        """Apply a fixture document (accounts, api_keys, services with their webhooks)."""
        self._call("POST", "/fixtures", json=fixture)

    def requests(
        self,
        method: str | None = None,
        path: str | None = None,
        account_sid: str | None = None,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """The Twilio API requests received, oldest first (the journal)."""
        filters = {"method": method, "path": path, "account_sid": account_sid, "limit": limit}
        params = {name: value for name, value in filters.items() if value is not None}
        entries: list[dict[str, Any]] = self._call("GET", "/requests", params=params).json()["requests"]
        return entries

    def clear_requests(self) -> None:
        self._call("DELETE", "/requests")

    def fail(
        self,
        status: int | None = None,
        *,
        method: str = "*",
        path: str = "*",
        account_sid: str | None = None,
        code: int | None = None,
        times: int = 1,
        delay_ms: int = 0,
        retry_after: int | None = None,
    ) -> dict[str, Any]:
        """Make the next `times` matching requests fail with `status` (and/or answer after `delay_ms`)."""
        fault = {
            "status": status,
            "method": method,
            "path": path,
            "account_sid": account_sid,
            "code": code,
            "times": times,
            "delay_ms": delay_ms,
            "retry_after": retry_after,
        }
        created: dict[str, Any] = self._call("POST", "/faults", json=fault).json()
        return created

    def clear_faults(self) -> None:
        self._call("DELETE", "/faults")

    def new_account(self) -> TwilioAccount:
        """A new account, known to the emulator in either auth mode."""
        account = TwilioAccount("AC" + secrets.token_hex(16), secrets.token_hex(16))
        self.apply({"accounts": [{"sid": account.sid, "auth_token": account.auth_token}]})
        return account

    def client(self, account: TwilioAccount) -> Any:
        """An official `twilio.rest.Client` for the account, pointed at this emulator."""
        from twilio.rest import Client

        client = Client(account.sid, account.auth_token)
        client.conversations.base_url = self.base_url
        return client


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("twilio-emulator")
    group.addoption(
        "--twilio-emulator-url",
        default=None,
        help=f"use the emulator running at this URL instead of starting one (or set {URL_VARIABLE})",
    )
    group.addoption(
        "--twilio-emulator-fixtures",
        default=None,
        help="fixture file or folder for the emulator the plugin starts (default: the shipped demo)",
    )


@pytest.fixture(scope="session")
def twilio_emulator_session(pytestconfig: pytest.Config) -> Iterator[TwilioEmulator]:
    """The session's emulator: started here, or the one named by the URL option or variable."""
    url = pytestconfig.getoption("--twilio-emulator-url") or os.environ.get(URL_VARIABLE)
    admin_token = os.environ.get(ADMIN_TOKEN_VARIABLE)
    if url:
        emulator = TwilioEmulator(url, owned=False, admin_token=admin_token)
        yield emulator
        emulator.close()
        return
    fixtures = pytestconfig.getoption("--twilio-emulator-fixtures")
    with tempfile.TemporaryDirectory(prefix="twilio-emulator-") as folder:
        env = {ADMIN_TOKEN_VARIABLE: admin_token} if admin_token else None
        process = EmulatorProcess(Path(folder) / "emulator.db", fixtures=fixtures, env=env)
        with process:
            emulator = TwilioEmulator(process.base_url, owned=True, admin_token=admin_token)
            yield emulator
            emulator.close()


@pytest.fixture
def twilio_emulator(twilio_emulator_session: TwilioEmulator) -> TwilioEmulator:
    """The emulator, reset before the test when this session owns it."""
    if twilio_emulator_session.owned:
        twilio_emulator_session.reset()
    return twilio_emulator_session


@pytest.fixture
def twilio_account(twilio_emulator: TwilioEmulator) -> Iterator[TwilioAccount]:
    """A fresh account for this test alone; its state is wiped afterwards."""
    account = twilio_emulator.new_account()
    yield account
    twilio_emulator.reset(account.sid)


@pytest.fixture
def twilio_client(twilio_emulator: TwilioEmulator, twilio_account: TwilioAccount) -> Any:
    """An official `twilio.rest.Client` for `twilio_account`, pointed at the emulator."""
    return twilio_emulator.client(twilio_account)
