"""`--webhook-allowed-targets`: an emulator shared on a network delivers only to the hosts and networks
it names; any other target, however its name is spelled, is logged as blocked and never contacted."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.conftest import DEMO_SERVICE, CommandLine, Server, module_server
from tests.test_deliveries import MESSAGE, Answer, Receiver, configure_service, deliveries, receiver, trigger

__all__ = ["receiver"]

pytestmark = pytest.mark.backend_independent  # runs once, in the SQLite pass (see tests/conftest.py)


restricted_server = module_server("restricted", "--webhook-allowed-targets", "10.0.0.0/8, hooks.example.com")
loopback_server = module_server("loopback", "--webhook-allowed-targets", "127.0.0.0/8")
one_address_server = module_server("one-address", "--webhook-allowed-targets", "127.0.0.1")


@pytest.fixture
def restricted(restricted_server: Server) -> Server:
    """The module's server, reset: one start for all its tests."""
    restricted_server.reset()
    return restricted_server


@pytest.fixture
def loopback_only(loopback_server: Server) -> Server:
    loopback_server.reset()
    return loopback_server


def test_a_target_outside_the_allow_list_is_blocked_and_never_contacted(
    restricted: Server, receiver: Receiver
) -> None:

    with restricted.client() as api:
        configure_service(api, DEMO_SERVICE, receiver, ["onMessageAdd", "onMessageAdded"])
    result = trigger(restricted, "onMessageAdd", source="SDK", params=MESSAGE)
    assert receiver.requests == []
    assert result["outcome"] == "published"  # no answer from a pre-event hook publishes unmodified
    logged = deliveries(restricted)
    assert [entry["error"] for entry in logged] == ["blocked", "blocked"]
    assert all(entry["status"] is None for entry in logged)
    assert "not among the allowed webhook targets" in logged[0]["error_message"]
    assert deliveries(restricted, status="blocked") == logged


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost:{port}/post",
        "http://0x7f000001:{port}/post",
        "http://2130706433:{port}/post",
        "http://[::1]:{port}/post",
        "http://localhost.:{port}/post",
    ],
)
def test_other_spellings_of_loopback_are_blocked_too(
    restricted: Server, receiver: Receiver, url: str
) -> None:
    """Each is a valid webhook URL, resolved before sending: its loopback address is not in the list."""
    target = url.format(port=receiver.port)
    with restricted.client() as api:
        answer = api.post(
            f"/v1/Services/{DEMO_SERVICE}/Configuration/Webhooks",
            data={"PostWebhookUrl": target, "PreWebhookUrl": "", "Filters": "onMessageAdded"},
        )
    assert answer.status_code == 200, answer.text
    trigger(restricted, "onMessageAdd", source="API", params=MESSAGE)
    assert receiver.requests == []
    assert [entry["error"] for entry in deliveries(restricted)] == ["blocked"]


def test_a_redirect_outside_the_allow_list_is_blocked_and_never_contacted(
    one_address_server: Server, receiver: Receiver
) -> None:
    one_address_server.reset()
    with one_address_server.client() as api:
        configure_service(api, DEMO_SERVICE, receiver, ["onMessageAdded"])
    # 127.0.0.2 is not the one address allowed. Were it contacted, nothing listens there: "refused".
    moved = f"http://127.0.0.2:{receiver.port}/post"
    receiver.answers["/post"] = Answer(302, location=moved)
    trigger(one_address_server, "onMessageAdd", source="API", params=MESSAGE)
    assert [request.path for request in receiver.requests] == ["/post"]
    (entry,) = deliveries(one_address_server)
    assert (entry["status"], entry["error"], entry["redirects"]) == (None, "blocked", [])
    assert entry["error_message"].startswith("redirect not sent: 127.0.0.2 (127.0.0.2) is not among")


def test_an_allowed_network_is_delivered_to(loopback_only: Server, receiver: Receiver) -> None:
    with loopback_only.client() as api:
        configure_service(api, DEMO_SERVICE, receiver, ["onMessageAdded"])
    trigger(loopback_only, "onMessageAdd", source="API", params=MESSAGE)
    assert len(receiver.on("/post")) == 1
    assert [entry["status"] for entry in deliveries(loopback_only)] == [200]


@pytest.mark.parametrize("value", ["10.0.0.0/33", "not a host!", ",", "hooks..example.com"])
def test_a_bad_allow_list_stops_start_up(value: str, tmp_path: Path, cli: CommandLine) -> None:
    code, stderr = cli.run(
        *("serve", "--port", "0", "--database", f"sqlite:///{tmp_path / 'e.db'}"),
        *("--webhook-allowed-targets", value),
    )
    assert code == 2
    assert stderr.startswith("twilio-emulator: invalid --webhook-allowed-targets: ")


def test_by_default_any_host_is_a_target(emulator: Server, receiver: Receiver) -> None:
    with emulator.client() as api:
        configure_service(api, DEMO_SERVICE, receiver, ["onMessageAdded"])
    trigger(emulator, "onMessageAdd", source="API", params=MESSAGE)
    assert len(receiver.on("/post")) == 1
    assert httpx.get(f"{emulator.base_url}/_emulator/health").status_code == 200
