"""A pytest plugin for suites that test code talking to Twilio Conversations.

Installed with this package (entry point `pytest11`), it gives a suite these fixtures:

- `twilio_emulator`: the emulator, one per test session (per xdist worker) on a free port with its own
  temporary database, reset before each test; or an emulator already running (e.g. a docker compose
  service) named by `--twilio-emulator-url` or `TWILIO_EMULATOR_URL`, which is then never wiped whole.
- `twilio_account`: a fresh account SID and auth token per test, so parallel tests never share state.
- `twilio_client`: an official `twilio.rest.Client` for that account, pointed at the emulator.
- `twilio_mock`: the emulator inside this process (`mock_twilio`), for the test: every `twilio.rest.Client`
  reaches it without a base URL; no server is started.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from .testing.control import CONTROL_TIMEOUT_S, EmulatorControl, TwilioAccount
from .testing.server import EmulatorProcess

if TYPE_CHECKING:
    from .mock import InProcessEmulator

__all__ = ["TwilioAccount", "TwilioEmulator"]

URL_VARIABLE = "TWILIO_EMULATOR_URL"
ADMIN_TOKEN_VARIABLE = "TWILIO_EMULATOR_ADMIN_TOKEN"  # noqa: S105 - a variable name


class TwilioEmulator(EmulatorControl):
    """A running emulator and its control API."""

    def __init__(self, base_url: str, *, owned: bool, admin_token: str | None = None) -> None:
        # Imported here: pytest loads this plugin in every session of an environment that has the package,
        # and httpx (~90 ms) is only needed by sessions that use the emulator.
        import httpx

        headers = {"Authorization": f"Bearer {admin_token}"} if admin_token else {}
        base_url = base_url.rstrip("/")
        control = httpx.Client(base_url=f"{base_url}/_emulator", headers=headers, timeout=CONTROL_TIMEOUT_S)
        super().__init__(base_url, control)
        self.owned = owned


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


@pytest.fixture
def twilio_mock(pytestconfig: pytest.Config) -> Iterator[InProcessEmulator]:
    """The emulator in this process for the test (`mock_twilio`), reset at the start; clients need no
    base URL. `--twilio-emulator-fixtures` picks its fixtures too."""
    from .mock import mock_twilio

    fixtures = pytestconfig.getoption("--twilio-emulator-fixtures")
    with mock_twilio(fixtures=fixtures) as emulator:
        yield emulator
