"""What a server writes survives it: a graceful stop, a `kill -9`, and the start-up fixtures re-applied.

Each test runs its own servers on one database (see conftest's TestDatabase), one after the other.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import (
    DEMO_ACCOUNT,
    DEMO_SERVICE,
    Server,
    new_service,
    start_server,
    webhooks_path,
)

OTHER_ACCOUNT = "AC" + "1" * 32
OTHER_TOKEN = "other-token"

# Demo fixture values (fixtures/demo.json): what the demo service's webhooks are re-set to at start-up.
DEMO_WEBHOOKS = {
    "pre_webhook_url": None,
    "post_webhook_url": "https://example.com/conversations/post-event",
    "filters": ["onMessageAdded", "onConversationAdded"],
    "method": "POST",
}


def configure(client: httpx.Client, sid: str, data: dict[str, Any]) -> dict[str, Any]:
    answer = client.post(webhooks_path(sid), data=data)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def everything(server: Server, accounts: list[tuple[str, str]]) -> dict[str, Any]:
    """Every service of these accounts, with its webhook configuration, as the API answers them."""
    seen: dict[str, Any] = {}
    for account, token in accounts:
        with server.client(account, token) as client:
            listing = client.get("/v1/Services", params={"PageSize": 1000})
            assert listing.status_code == 200, listing.text
            services = listing.json()["services"]
            seen[account] = {
                service["sid"]: {
                    "service": service,
                    "fetched": client.get(f"/v1/Services/{service['sid']}").json(),
                    "webhooks": client.get(webhooks_path(service["sid"])).json(),
                }
                for service in services
            }
    return seen


def write_a_bit_of_everything(server: Server) -> dict[str, list[str]]:
    """Services in two accounts, configured in different ways, one deleted. Returns the SIDs made."""
    made: dict[str, list[str]] = {DEMO_ACCOUNT: [], OTHER_ACCOUNT: []}
    with server.client() as demo, server.client(OTHER_ACCOUNT, OTHER_TOKEN) as other:
        for index in range(4):
            made[DEMO_ACCOUNT].append(new_service(demo, f"demo service {index} ✓"))
            made[OTHER_ACCOUNT].append(new_service(other, f"other service {index}"))
        configure(
            demo,
            made[DEMO_ACCOUNT][0],
            {
                "PreWebhookUrl": "https://example.com/pre?x=1&y=é",
                "PostWebhookUrl": "https://example.com/post",
                "Filters": ["onMessageAdd", "onMessageAdded", "onDeliveryUpdated"],
                "Method": "get",
            },
        )
        configure(demo, made[DEMO_ACCOUNT][1], {"Filters": ""})
        configure(demo, made[DEMO_ACCOUNT][2], {"PostWebhookUrl": "http://127.0.0.1:9/only-post"})
        configure(other, made[OTHER_ACCOUNT][0], {"Method": "POST", "Filters": ["onParticipantAdded"]})
        configure(other, made[OTHER_ACCOUNT][1], {"PreWebhookUrl": "https://example.org/a", "Method": "GET"})
        configure(other, made[OTHER_ACCOUNT][1], {"PreWebhookUrl": ""})  # cleared again: null persists
        deleted = made[OTHER_ACCOUNT].pop()
        answer = other.delete(f"/v1/Services/{deleted}")
        assert answer.status_code == 204, answer.text
    return made


ACCOUNTS = [(DEMO_ACCOUNT, "demo-auth-token"), (OTHER_ACCOUNT, OTHER_TOKEN)]


def test_graceful_stop_keeps_everything(tmp_path: Path) -> None:
    # No start-up fixtures: the second server must find the file exactly as the first one left it.
    first = start_server(tmp_path, fixtures="")
    try:
        made = write_a_bit_of_everything(first)
        before = everything(first, ACCOUNTS)
        snapshot = first.snapshot()
    finally:
        first.process.stop()
    assert first.process.process is not None
    assert first.process.process.returncode is not None
    assert first.database.integrity() == "ok"

    second = start_server(tmp_path, fixtures="")
    try:
        assert second.database.url == first.database.url
        after = everything(second, ACCOUNTS)
        assert after == before
        assert second.snapshot() == snapshot
        assert sorted(after[DEMO_ACCOUNT]) == sorted(made[DEMO_ACCOUNT])
        assert sorted(after[OTHER_ACCOUNT]) == sorted(made[OTHER_ACCOUNT])
        configured = after[DEMO_ACCOUNT][made[DEMO_ACCOUNT][0]]["webhooks"]
        assert configured["pre_webhook_url"] == "https://example.com/pre?x=1&y=é"
        assert configured["filters"] == ["onMessageAdd", "onMessageAdded", "onDeliveryUpdated"]
        assert configured["method"] == "GET"
        assert after[OTHER_ACCOUNT][made[OTHER_ACCOUNT][1]]["webhooks"]["pre_webhook_url"] is None
        # The server still writes after the restart.
        with second.client(OTHER_ACCOUNT, OTHER_TOKEN) as other:
            configure(other, made[OTHER_ACCOUNT][0], {"Method": "GET"})
    finally:
        second.process.stop()
    assert second.database.integrity() == "ok"


def test_kill_9_keeps_every_acknowledged_write(tmp_path: Path) -> None:
    first = start_server(tmp_path, fixtures="")
    try:
        write_a_bit_of_everything(first)
        acknowledged = everything(first, ACCOUNTS)
        snapshot = first.snapshot()
    finally:
        # Right after the last answer: no chance to checkpoint the WAL or close anything.
        first.process.kill()
    assert first.database.integrity() == "ok"

    second = start_server(tmp_path, fixtures="")
    try:
        assert everything(second, ACCOUNTS) == acknowledged
        assert second.snapshot() == snapshot
    finally:
        second.process.stop()
    assert second.database.integrity() == "ok"


def test_kill_9_in_the_middle_of_writes_loses_nothing_acknowledged(tmp_path: Path) -> None:
    """Writers keep writing until the server dies under them: every write answered 200 is on disk."""
    first = start_server(tmp_path)
    with first.client() as client:
        sids = [new_service(client, f"killed {index}") for index in range(6)]
    # Per service: the last value acknowledged and the value in flight when the server died.
    acknowledged: dict[str, int] = {}
    attempted: dict[str, int] = {}
    started = threading.Barrier(len(sids) + 1)
    enough = threading.Event()
    errors: list[str] = []

    def writer(sid: str) -> None:
        with first.client() as writer_client:
            started.wait()
            for number in range(1, 10_000):
                attempted[sid] = number
                try:
                    answer = writer_client.post(
                        webhooks_path(sid), data={"PostWebhookUrl": f"https://example.com/{sid}/{number}"}
                    )
                except httpx.TransportError:
                    return
                if (
                    answer.status_code != 200
                    or answer.json()["post_webhook_url"] != f"https://example.com/{sid}/{number}"
                ):
                    errors.append(f"{sid} #{number}: {answer.status_code} {answer.text}")
                    return
                acknowledged[sid] = number
                if number >= 20:
                    enough.set()

    threads = [threading.Thread(target=writer, args=(sid,)) for sid in sids]
    for thread in threads:
        thread.start()
    started.wait()
    assert enough.wait(timeout=30), "the writers did not get going"
    first.process.kill()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors, errors
    assert all(sid in acknowledged for sid in sids)
    assert first.database.integrity() == "ok"

    second = start_server(tmp_path)
    try:
        with second.client() as client:
            for sid in sids:
                answer = client.get(webhooks_path(sid))
                assert answer.status_code == 200, answer.text
                stored = answer.json()["post_webhook_url"]
                assert stored is not None
                number = int(stored.rsplit("/", 1)[1])
                # The write in flight at the kill may or may not have committed; none before it is lost.
                assert number in (acknowledged[sid], attempted[sid]), (sid, number, acknowledged[sid])
    finally:
        second.process.stop()
    assert second.database.integrity() == "ok"


def test_restart_with_the_same_fixtures_changes_nothing(tmp_path: Path) -> None:
    """Applying a document is idempotent: re-applying the shipped fixture unchanged changes no row."""
    first = start_server(tmp_path)
    try:
        with first.client() as client:
            fetched = client.get(f"/v1/Services/{DEMO_SERVICE}")
            assert fetched.status_code == 200, fetched.text
        snapshot = first.snapshot()
    finally:
        first.process.stop()
    time.sleep(1.1)  # so that a new timestamp would differ even at the API's one-second resolution

    second = start_server(tmp_path)
    try:
        with second.client() as client:
            assert client.get(f"/v1/Services/{DEMO_SERVICE}").json() == fetched.json()
        assert second.snapshot() == snapshot
    finally:
        second.process.stop()


def test_restart_reapplies_what_the_shipped_fixture_names(tmp_path: Path) -> None:
    """The demo fixture names all four settings of the demo service: a restart sets them back."""
    first = start_server(tmp_path)
    try:
        with first.client() as client:
            configure(
                client,
                DEMO_SERVICE,
                {"PreWebhookUrl": "https://example.com/mine", "Method": "GET", "Filters": "onMessageAdd"},
            )
            mine = new_service(client, "not in any fixture")
            configure(client, mine, {"Method": "GET"})
    finally:
        first.process.stop()

    second = start_server(tmp_path)
    try:
        with second.client() as client:
            webhooks = client.get(webhooks_path(DEMO_SERVICE)).json()
            assert {name: webhooks[name] for name in DEMO_WEBHOOKS} == DEMO_WEBHOOKS
            # A fixture never deletes: the service it does not know is still there, as it was.
            assert client.get(f"/v1/Services/{mine}").status_code == 200
            assert client.get(webhooks_path(mine)).json()["method"] == "GET"
    finally:
        second.process.stop()


FIXTURE_ACCOUNT = "AC" + "ab" * 16
FIXTURE_TOKEN = "fixture-token"
NO_WEBHOOKS = "IS" + "a" * 32  # named without `webhooks`
EMPTY_WEBHOOKS = "IS" + "b" * 32  # `webhooks: {}`: names no field
ONLY_FILTERS = "IS" + "c" * 32  # `webhooks` names only `filters`
ONLY_POST_URL = "IS" + "d" * 32  # `webhooks` names only `post_webhook_url`, as null


def write_fixture(tmp_path: Path) -> Path:
    document = {
        "accounts": [{"sid": FIXTURE_ACCOUNT, "auth_token": FIXTURE_TOKEN, "friendly_name": "Fixture"}],
        "services": [
            {"sid": NO_WEBHOOKS, "account_sid": FIXTURE_ACCOUNT, "friendly_name": "no webhooks"},
            {
                "sid": EMPTY_WEBHOOKS,
                "account_sid": FIXTURE_ACCOUNT,
                "friendly_name": "empty webhooks",
                "webhooks": {},
            },
            {
                "sid": ONLY_FILTERS,
                "account_sid": FIXTURE_ACCOUNT,
                "friendly_name": "only filters",
                "webhooks": {"filters": ["onConversationAdded"]},
            },
            {
                "sid": ONLY_POST_URL,
                "account_sid": FIXTURE_ACCOUNT,
                "webhooks": {"post_webhook_url": None},
                "friendly_name": "only post url",
            },
        ],
    }
    path = tmp_path / "fixtures" / "mine.json"
    path.parent.mkdir()
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


FULL_CONFIGURATION = {
    "PreWebhookUrl": "https://example.com/pre",
    "PostWebhookUrl": "https://example.com/post",
    "Filters": ["onMessageAdd", "onParticipantRemoved"],
    "Method": "GET",
}
FULL_AS_JSON = {
    "pre_webhook_url": "https://example.com/pre",
    "post_webhook_url": "https://example.com/post",
    "filters": ["onMessageAdd", "onParticipantRemoved"],
    "method": "GET",
}


def settings_of(client: httpx.Client, sid: str) -> dict[str, Any]:
    answer = client.get(webhooks_path(sid))
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return {name: body[name] for name in FULL_AS_JSON}


def test_restart_leaves_what_the_fixture_does_not_name(tmp_path: Path) -> None:
    fixture = write_fixture(tmp_path)
    first = start_server(tmp_path, fixtures=fixture)
    try:
        with first.client(FIXTURE_ACCOUNT, FIXTURE_TOKEN) as client:
            # As the fixture made them: never configured, or only what it names.
            assert settings_of(client, NO_WEBHOOKS) == dict.fromkeys(FULL_AS_JSON)
            assert settings_of(client, EMPTY_WEBHOOKS) == dict.fromkeys(FULL_AS_JSON)
            assert settings_of(client, ONLY_FILTERS) == {
                **dict.fromkeys(FULL_AS_JSON),
                "filters": ["onConversationAdded"],
            }
            for sid in (NO_WEBHOOKS, EMPTY_WEBHOOKS, ONLY_FILTERS, ONLY_POST_URL):
                configure(client, sid, FULL_CONFIGURATION)
            created = new_service(client, "made through the API")
            configure(client, created, FULL_CONFIGURATION)
    finally:
        first.process.stop()

    second = start_server(tmp_path, fixtures=fixture)
    try:
        with second.client(FIXTURE_ACCOUNT, FIXTURE_TOKEN) as client:
            assert settings_of(client, NO_WEBHOOKS) == FULL_AS_JSON
            assert settings_of(client, EMPTY_WEBHOOKS) == FULL_AS_JSON
            assert settings_of(client, created) == FULL_AS_JSON
            # Only the named field is set back.
            assert settings_of(client, ONLY_FILTERS) == {**FULL_AS_JSON, "filters": ["onConversationAdded"]}
            assert settings_of(client, ONLY_POST_URL) == {**FULL_AS_JSON, "post_webhook_url": None}
            names = {
                service["sid"]: service["friendly_name"]
                for service in client.get("/v1/Services").json()["services"]
            }
            assert names == {
                NO_WEBHOOKS: "no webhooks",
                EMPTY_WEBHOOKS: "empty webhooks",
                ONLY_FILTERS: "only filters",
                ONLY_POST_URL: "only post url",
                created: "made through the API",
            }
    finally:
        second.process.stop()
    assert second.database.integrity() == "ok"


def test_restart_after_kill_9_reapplies_fixtures_on_top(tmp_path: Path) -> None:
    fixture = write_fixture(tmp_path)
    first = start_server(tmp_path, fixtures=fixture)
    try:
        with first.client(FIXTURE_ACCOUNT, FIXTURE_TOKEN) as client:
            configure(client, NO_WEBHOOKS, FULL_CONFIGURATION)
            configure(client, ONLY_FILTERS, FULL_CONFIGURATION)
    finally:
        first.process.kill()

    second = start_server(tmp_path, fixtures=fixture)
    try:
        with second.client(FIXTURE_ACCOUNT, FIXTURE_TOKEN) as client:
            assert settings_of(client, NO_WEBHOOKS) == FULL_AS_JSON
            assert settings_of(client, ONLY_FILTERS) == {**FULL_AS_JSON, "filters": ["onConversationAdded"]}
    finally:
        second.process.stop()
    assert second.database.integrity() == "ok"
