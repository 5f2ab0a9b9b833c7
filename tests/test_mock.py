"""`mock_twilio`: the emulator in this process, reached by unmodified `twilio.rest.Client`s.

Every test here runs under a guard that refuses any connection or name lookup beyond 127.0.0.1, so a
request the mock let through to Twilio (or anywhere else) fails the test instead of leaving the machine.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client
from twilio_conversations_emulator import mock_twilio
from twilio_conversations_emulator.mock import NotEmulatedError
from twilio_conversations_emulator.settings import SettingsError
from twilio_conversations_emulator.testing import in_process

from tests.conftest import (
    DEMO_ACCOUNT,
    DEMO_KEY,
    DEMO_KEY_SECRET,
    DEMO_SERVICE,
    DEMO_TOKEN,
    extra_requirement,
)
from tests.test_deliveries import Answer, Receiver, assert_signed, receiver

# mock_twilio's database is its own in-memory SQLite, whatever the pass: it runs once, in the SQLite pass.
pytestmark = pytest.mark.backend_independent

__all__ = ["receiver"]  # the webhook receiver fixture, shared with test_deliveries

TWILIO_BASE_URL = "https://conversations.twilio.com"
HOOKS_PATH = "/v1/Services/*/Configuration/Webhooks"
ORIGINAL_SEND = requests.adapters.HTTPAdapter.send


class OffMachine(AssertionError):
    """A test tried to reach beyond 127.0.0.1."""


def _local(host: object) -> bool:
    if host in (None, "localhost"):
        return True
    try:
        return ipaddress.ip_address(str(host)).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    real_getaddrinfo = socket.getaddrinfo
    real_connect = socket.socket.connect

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if not _local(host):
            raise OffMachine(f"name lookup of {host!r}")
        return real_getaddrinfo(host, *args, **kwargs)

    def connect(self: socket.socket, address: Any) -> None:
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _local(address[0]):
            raise OffMachine(f"connection to {address!r}")
        real_connect(self, address)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", connect)


def configure_hooks(client: Any, service_sid: str) -> None:
    # The code under test: what a user's application does, on a client it made itself.
    client.conversations.v1.services(service_sid).configuration.webhooks().update(
        filters=["onMessageAdded"], post_webhook_url="https://example.com/hooks", method="POST"
    )


def demo_client() -> Any:
    return Client(DEMO_ACCOUNT, DEMO_TOKEN)


# --- the README's pytest example, with no base URL -----------------------------------------------------


def test_configures_the_hooks_with_no_base_url_change() -> None:
    with mock_twilio() as emulator:
        client = demo_client()
        service = client.conversations.v1.services.create(friendly_name="support")
        configure_hooks(client, service.sid)
        [sent] = emulator.requests(method="POST", path=HOOKS_PATH)
        assert ["Filters", "onMessageAdded"] in sent["params"]
        assert client.conversations.base_url == TWILIO_BASE_URL
        fetched = client.conversations.v1.services(service.sid).configuration.webhooks().fetch()
        assert fetched.post_webhook_url == "https://example.com/hooks"


def test_survives_rate_limits() -> None:
    with mock_twilio() as emulator:
        client = demo_client()
        emulator.fail(429, path="/v1/Services", times=2, retry_after=1)
        with pytest.raises(TwilioRestException) as error:
            client.conversations.v1.services.create(friendly_name="support")
        assert (error.value.status, error.value.code) == (429, 20429)
        with pytest.raises(TwilioRestException):
            client.conversations.v1.services.create(friendly_name="support")
        assert client.conversations.v1.services.create(friendly_name="support").sid.startswith("IS")


def test_the_control_methods_match_the_plugin() -> None:
    with mock_twilio() as emulator:
        account = emulator.new_account()
        client = emulator.client(account)
        client.conversations.v1.services.create(friendly_name="mine")
        assert [entry["account_sid"] for entry in emulator.requests(account_sid=account.sid)] == [account.sid]
        emulator.clear_requests()
        assert emulator.requests() == []
        emulator.fail(503, path="/nothing")
        emulator.clear_faults()
        emulator.apply(
            {"services": [{"sid": "IS" + "5" * 32, "account_sid": account.sid, "friendly_name": "x"}]}
        )
        assert len(client.conversations.v1.services.list()) == 2
        emulator.reset(account.sid)
        assert client.conversations.v1.services.list() == []


def test_a_list_follows_its_pages_through_the_mock() -> None:
    with mock_twilio():
        client = demo_client()
        for n in range(5):
            client.conversations.v1.services.create(friendly_name=f"s{n}")
        # Page URLs are absolute (https://conversations.twilio.com/...): the next pages come back in too.
        assert len(client.conversations.v1.services.list(page_size=2)) == 6


# --- credentials ---------------------------------------------------------------------------------------


def test_a_client_with_an_api_key() -> None:
    with mock_twilio(auth_mode="strict"):
        client = Client(DEMO_KEY, DEMO_KEY_SECRET, account_sid=DEMO_ACCOUNT)
        webhooks = client.conversations.v1.services(DEMO_SERVICE).configuration.webhooks().fetch()
        assert webhooks.account_sid == DEMO_ACCOUNT
        with pytest.raises(TwilioRestException) as error:
            Client(DEMO_KEY, "wrong", account_sid=DEMO_ACCOUNT).conversations.v1.services.create(
                friendly_name="x"
            )
        assert error.value.status == 401


def test_strict_mode_refuses_unknown_accounts() -> None:
    with mock_twilio(auth_mode="strict") as emulator:
        with pytest.raises(TwilioRestException) as error:
            Client("AC" + "9" * 32, "secret").conversations.v1.services.create(friendly_name="x")
        assert (error.value.status, error.value.code) == (401, 20003)
        account = emulator.new_account()
        assert Client(account.sid, account.auth_token).conversations.v1.services.list() == []


# --- forms ---------------------------------------------------------------------------------------------


def test_the_decorator_form() -> None:
    twilio = mock_twilio()

    @twilio
    def create(name: str) -> str:
        sid: str = demo_client().conversations.v1.services.create(friendly_name=name).sid
        assert [entry["path"] for entry in twilio.emulator.requests()] == ["/v1/Services"]
        return sid

    assert create("decorated").startswith("IS")
    assert create.__name__ == "create"
    with pytest.raises(RuntimeError, match="not active"):
        _ = twilio.emulator


@mock_twilio()
def test_a_decorated_test_takes_fixtures(tmp_path: Any) -> None:
    assert tmp_path.is_dir()
    assert demo_client().conversations.v1.services(DEMO_SERVICE).fetch().sid == DEMO_SERVICE


def test_the_decorator_on_a_coroutine_function() -> None:
    @mock_twilio()
    async def create() -> str:
        sid: str = demo_client().conversations.v1.services.create(friendly_name="async").sid
        return sid

    assert asyncio.run(create()).startswith("IS")


def test_nested_blocks_with_the_same_settings_share_state() -> None:
    with mock_twilio() as outer:
        client = demo_client()
        made = client.conversations.v1.services.create(friendly_name="outer").sid
        with mock_twilio() as inner:
            assert inner is outer
            assert made in {service.sid for service in client.conversations.v1.services.list()}
        # The inner exit left the outer block answering.
        assert client.conversations.v1.services(made).fetch().friendly_name == "outer"


def test_nested_blocks_with_other_settings_answer_in_turn() -> None:
    with mock_twilio() as permissive:
        client = demo_client()
        made = client.conversations.v1.services.create(friendly_name="outer").sid
        with mock_twilio(auth_mode="strict", fixtures="") as strict:
            assert strict is not permissive
            with pytest.raises(TwilioRestException) as error:
                client.conversations.v1.services.create(friendly_name="inner")
            assert error.value.status == 401
        assert client.conversations.v1.services(made).fetch().sid == made


def test_state_is_reset_between_entries() -> None:
    with mock_twilio() as first:
        demo_client().conversations.v1.services.create(friendly_name="gone next time")
        first.fail(500, path="/v1/Services", times=5)
    with mock_twilio() as second:
        assert second is first  # built once, reset on entry
        assert second.requests() == []
        services = demo_client().conversations.v1.services.list()
        assert [service.sid for service in services] == [DEMO_SERVICE]


def test_a_long_block_keeps_no_record_of_its_requests() -> None:
    with mock_twilio():
        client = demo_client()
        for _ in range(5):
            client.conversations.v1.services.list()
        interception = in_process._interception
        assert interception is not None
        assert len(interception.calls) <= 1


def test_calls_outside_a_block_fail_at_once() -> None:
    with mock_twilio() as emulator:
        pass
    with pytest.raises(in_process.NotActiveError, match="not active"):
        emulator.requests()


# --- what is not emulated ------------------------------------------------------------------------------


def test_other_twilio_hosts_fail_naming_the_url() -> None:
    with mock_twilio():
        client = demo_client()
        with pytest.raises(NotEmulatedError, match=r"GET https://api\.twilio\.com/2010-04-01/Accounts\.json"):
            client.api.v2010.accounts.list()
        with pytest.raises(NotEmulatedError, match=r"POST https://api\.twilio\.com/.*/Messages\.json"):
            client.messages.create(to="+15551230000", from_="+15559990000", body="hi")
        regional = Client(DEMO_ACCOUNT, DEMO_TOKEN, region="au1", edge="sydney")
        with pytest.raises(NotEmulatedError, match=r"conversations\.sydney\.au1\.twilio\.com.*TWILIO_REGION"):
            regional.conversations.v1.services.list()
        with pytest.raises(NotEmulatedError, match=r"GET http://conversations\.twilio\.com/v1/Services"):
            requests.get("http://conversations.twilio.com/v1/Services", timeout=5)


def test_a_timeout_of_the_client_is_kept() -> None:
    with mock_twilio() as emulator:
        emulator.fail(path="/v1/Services", delay_ms=2000)
        client = Client(DEMO_ACCOUNT, DEMO_TOKEN, http_client=TwilioHttpClient(timeout=0.2))
        # The answer does come, after 2 s: only a timeout that was kept turns it into ReadTimeout (no clock
        # is read, so a busy machine cannot fail this).
        with pytest.raises(requests.exceptions.ReadTimeout):
            client.conversations.v1.services.create(friendly_name="slow")


# --- webhooks go out over real HTTP --------------------------------------------------------------------


def test_a_webhook_delivery_reaches_a_local_receiver(receiver: Receiver) -> None:
    receiver.answers["/pre"] = Answer(
        200, json.dumps({"body": "HELLO"}).encode(), content_type="application/json"
    )
    with mock_twilio(webhook_allowed_targets="127.0.0.1") as emulator:
        demo_client().conversations.v1.services(DEMO_SERVICE).configuration.webhooks().update(
            pre_webhook_url=receiver.url("/pre"),
            post_webhook_url=receiver.url("/post"),
            filters=["onMessageAdd", "onMessageAdded"],
            method="POST",
        )
        answer = emulator.control.post(
            "/events",
            json={
                "account_sid": DEMO_ACCOUNT,
                "chat_service_sid": DEMO_SERVICE,
                "event": "onMessageAdd",
                "params": {"Body": "hello", "Author": "alice"},
            },
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["outcome"] == "modified"
    [pre] = receiver.on("/pre")
    [post] = receiver.on("/post")
    assert (pre.params["EventType"], pre.params["Body"]) == ("onMessageAdd", "hello")
    assert (post.params["EventType"], post.params["Body"]) == ("onMessageAdded", "HELLO")
    assert_signed(pre)
    assert_signed(post)


def test_after_answer_webhooks_are_in_the_log_once_waited_for(receiver: Receiver) -> None:
    """`deliveries()` waits for the webhooks still in flight: the REST call answered before its webhook."""
    held = threading.Event()
    receiver.answers["/post"] = Answer(200, b"ok", gate=held)
    # A long timeout: the held webhook must not time out before a busy machine lets the test release it.
    with mock_twilio(
        webhook_delivery="after-answer", webhook_timeout=60, webhook_allowed_targets="127.0.0.1"
    ) as emulator:
        client = demo_client()
        client.conversations.v1.services(DEMO_SERVICE).configuration.webhooks().update(
            post_webhook_url=receiver.url("/post"), filters=["onConversationAdded"], method="POST"
        )
        try:
            conversation = client.conversations.v1.services(DEMO_SERVICE).conversations.create(
                friendly_name="later", x_twilio_webhook_enabled="true"
            )
            assert receiver.arrived.wait(30)  # sent, and held, after the answer came
        finally:
            held.set()
        (delivered,) = emulator.deliveries(event="onConversationAdded")
        assert (delivered["status"], delivered["parameters"]["ConversationSid"]) == (200, conversation.sid)
        assert emulator.deliveries(status=200, limit=1) == [delivered]
        assert emulator.deliveries(status="timeout") == []
    [post] = receiver.on("/post")
    assert_signed(post)


# --- leaving nothing behind ----------------------------------------------------------------------------


class Hello(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "5")
        self.end_headers()
        self.wfile.write(b"hello")

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def local_site() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Hello)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()
    thread.join()


def test_requests_is_unpatched_after_the_block(local_site: str) -> None:
    with mock_twilio():
        assert requests.adapters.HTTPAdapter.send is not ORIGINAL_SEND
        assert requests.get(local_site, timeout=5).text == "hello"  # other hosts pass through
    assert requests.adapters.HTTPAdapter.send is ORIGINAL_SEND
    assert requests.get(local_site, timeout=5).text == "hello"


def test_no_thread_outlives_a_block() -> None:
    before = set(threading.enumerate())
    for _ in range(3):
        with mock_twilio() as emulator:
            demo_client().conversations.v1.services.list()
            emulator.requests()
    assert set(threading.enumerate()) == before


def test_settings_are_checked_and_the_environment_is_not_read(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(TypeError, match="auth_mod"):
        mock_twilio(auth_mod="strict")
    with pytest.raises(SettingsError, match="invalid auth_mode"):
        mock_twilio(auth_mode="lenient")
    with pytest.raises(SettingsError, match="invalid workers"):
        mock_twilio(database_url="sqlite:///x.db", workers=2)
    monkeypatch.setenv("TWILIO_EMULATOR_AUTH_MODE", "strict")
    assert mock_twilio().settings.auth_mode == "permissive"


# --- in a process of its own ---------------------------------------------------------------------------


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )


def test_the_lifespan_is_shut_down_at_exit() -> None:
    # Registered before the mock's own handler, so it runs after it (atexit runs last in, first out).
    script = """
import atexit, threading
from twilio_conversations_emulator.testing import in_process

def check():
    app_loop = emulator.app_loop
    print("loop closed:", app_loop.loop.is_closed(), "lifespan done:", app_loop.lifespan.task.done())
    print("threads:", [thread.name for thread in threading.enumerate()])

atexit.register(check)
from twilio_conversations_emulator import mock_twilio
with mock_twilio() as emulator:
    emulator.requests()
"""
    result = run_python(script)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert result.stdout.splitlines() == ["loop closed: True lifespan done: True", "threads: ['MainThread']"]


def test_a_missing_interception_library_is_named() -> None:
    script = """
import sys
sys.modules["responses"] = None
from twilio_conversations_emulator import mock_twilio
try:
    with mock_twilio():
        pass
except ImportError as error:
    print(error)
"""
    result = run_python(script)
    assert result.returncode == 0, result.stderr
    # The package itself, with the extra's pin, not this distribution with an extra: it is not on PyPI.
    assert result.stdout == (
        "mock_twilio needs the `responses` package, this package's `mock` extra: "
        f"pip install '{extra_requirement('mock')}'\n"
    )


def test_importing_the_package_leaves_the_web_stack_unimported() -> None:
    heavy = "{'httpx', 'fastapi', 'sqlalchemy', 'responses', 'pydantic'}"
    probe = f"import sys, twilio_conversations_emulator; print(sorted({heavy} & set(sys.modules)))"
    result = run_python(probe)
    assert result.stdout.strip() == "[]", result.stderr


USER_SUITE = """
from twilio.rest import Client


def configure_hooks(client, service_sid):
    client.conversations.v1.services(service_sid).configuration.webhooks().update(
        filters=["onMessageAdded"], post_webhook_url="https://example.com/hooks", method="POST"
    )


def test_the_code_under_test_makes_its_own_client(twilio_mock):
    client = Client("AC" + "2" * 32, "any-token")  # permissive: any account
    service = client.conversations.v1.services.create(friendly_name="support")
    configure_hooks(client, service.sid)
    [sent] = twilio_mock.requests(method="POST", path="/v1/Services/*/Configuration/Webhooks")
    assert ["Filters", "onMessageAdded"] in sent["params"]


def test_each_test_starts_from_the_fixtures(twilio_mock):
    # The suite's own fixtures (--twilio-emulator-fixtures): one account with one service.
    assert twilio_mock.requests() == []
    client = Client("AC" + "1" * 32, "suite-token")
    assert [s.friendly_name for s in client.conversations.v1.services.list()] == ["seeded"]


def test_a_new_account(twilio_mock):
    account = twilio_mock.new_account()
    assert twilio_mock.client(account).conversations.v1.services.list() == []
"""


SUITE_FIXTURES = {
    "accounts": [{"sid": "AC" + "1" * 32, "auth_token": "suite-token"}],
    "services": [{"sid": "IS" + "1" * 32, "account_sid": "AC" + "1" * 32, "friendly_name": "seeded"}],
}


def test_the_twilio_mock_fixture_in_a_user_suite(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_user_suite=USER_SUITE)
    fixtures = pytester.path / "fixtures.json"
    fixtures.write_text(json.dumps(SUITE_FIXTURES), encoding="utf-8")
    for name in list(os.environ):
        if name.startswith("TWILIO_"):
            pytester._monkeypatch.delenv(name)
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "-q", f"--twilio-emulator-fixtures={fixtures}"
    )
    result.assert_outcomes(passed=3)
