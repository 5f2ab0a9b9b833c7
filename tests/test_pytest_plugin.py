"""The shipped pytest plugin, as a user's suite sees it: `pytester` runs small suites that use it."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.conftest import Server, start_server

pytestmark = pytest.mark.backend_independent  # runs once, in the SQLite pass (see tests/conftest.py)

USER_SUITE = """
import pytest
from twilio.base.exceptions import TwilioRestException



def configure(client, service_sid):
    # The code under test: what a user's application would do.
    return client.conversations.v1.services(service_sid).configuration.webhooks().update(
        post_webhook_url="https://app.example.com/hooks", filters=["onMessageAdded"], method="POST"
    )


def test_configures_a_service_and_the_journal_shows_it(twilio_emulator, twilio_account, twilio_client):
    service = twilio_client.conversations.v1.services.create(friendly_name="support")
    configure(twilio_client, service.sid)
    [sent] = twilio_emulator.requests(method="POST", path="/v1/Services/*/Configuration/Webhooks",
                                      account_sid=twilio_account.sid)
    assert ["Filters", "onMessageAdded"] in sent["params"]
    assert ["Method", "POST"] in sent["params"]
    assert sent["status"] == 200


def test_twilio_answers_429_then_500_on_demand(twilio_emulator, twilio_account, twilio_client):
    service = twilio_client.conversations.v1.services.create(friendly_name="flaky")
    twilio_emulator.fail(429, path="/v1/Services/*/Configuration/Webhooks", retry_after=1)
    twilio_emulator.fail(500, path="/v1/Services/*/Configuration/Webhooks")
    with pytest.raises(TwilioRestException) as first:
        configure(twilio_client, service.sid)
    assert (first.value.status, first.value.code) == (429, 20429)
    with pytest.raises(TwilioRestException) as second:
        configure(twilio_client, service.sid)
    assert (second.value.status, second.value.code) == (500, 20500)
    assert configure(twilio_client, service.sid).method == "POST"


def test_apply_a_fixture(twilio_emulator, twilio_account, twilio_client):
    sid = "IS" + twilio_account.sid[2:]
    twilio_emulator.apply({"services": [{"sid": sid, "account_sid": twilio_account.sid,
                                         "friendly_name": "seeded",
                                         "webhooks": {"pre_webhook_url": "https://pre.example.com"}}]})
    fetched = twilio_client.conversations.v1.services(sid).configuration.webhooks().fetch()
    assert fetched.pre_webhook_url == "https://pre.example.com"


@pytest.mark.parametrize("n", range(6))
def test_parallel_tests_never_see_each_other(twilio_emulator, twilio_account, twilio_client, n):
    services = twilio_client.conversations.v1.services
    created = {services.create(friendly_name=f"s{n}-{i}").sid for i in range(3)}
    listed = {service.sid for service in twilio_client.conversations.v1.services.list()}
    assert listed == created
    assert all(entry["account_sid"] == twilio_account.sid
               for entry in twilio_emulator.requests(account_sid=twilio_account.sid))


def test_state_does_not_leak_between_tests_part_1(twilio_emulator, twilio_client):
    twilio_emulator.fail(503, path="/nothing-matches")
    twilio_client.conversations.v1.services.create(friendly_name="leaky?")


def test_state_does_not_leak_between_tests_part_2(twilio_emulator):
    if twilio_emulator.owned:
        assert twilio_emulator.requests() == []
"""


@pytest.fixture
def user_suite(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(test_user_suite=USER_SUITE)
    # The user's environment must not leak this suite's own server settings into theirs.
    for name in list(os.environ):
        if name.startswith("TWILIO_"):
            pytester._monkeypatch.delenv(name)
    return pytester


def test_a_user_suite_runs_on_the_plugin_alone(user_suite: pytest.Pytester) -> None:
    result = user_suite.runpytest_subprocess("-p", "no:cacheprovider", "-q")
    result.assert_outcomes(passed=11)


def test_a_user_suite_runs_in_parallel_without_collisions(user_suite: pytest.Pytester) -> None:
    result = user_suite.runpytest_subprocess("-p", "no:cacheprovider", "-q", "-n", "2")
    result.assert_outcomes(passed=11)


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = start_server(tmp_path_factory.mktemp("shared"))
    yield running
    running.process.stop()


def test_a_user_suite_can_share_a_running_emulator(
    user_suite: pytest.Pytester, shared_server: Server
) -> None:
    # As with a docker compose service: both xdist workers use one emulator, isolated by account.
    result = user_suite.runpytest_subprocess(
        "-p", "no:cacheprovider", "-q", "-n", "2", f"--twilio-emulator-url={shared_server.base_url}"
    )
    result.assert_outcomes(passed=11)
    journal = shared_server.client().get("/v1/Services")
    assert journal.status_code == 200


def test_loading_the_plugin_leaves_the_web_stack_unimported() -> None:
    # pytest loads the plugin in every session of an environment that has the package, including
    # sessions that never use the emulator: they should not pay for httpx or the server's modules.
    probe = (
        "import sys, app.pytest_plugin; print(sorted({'httpx', 'fastapi', 'sqlalchemy'} & set(sys.modules)))"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
