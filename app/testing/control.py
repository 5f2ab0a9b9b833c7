"""The control API's calls, over an httpx client: shared by the pytest plugin's emulator (a server on a port)
and `mock_twilio`'s (the app in this process)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # httpx is imported by whoever makes the client: pytest loads this module in every session
    import httpx


# Above the 60 s (control/after_answer.py's SETTLE_LIMIT_S) a reset or a waiting read of the delivery log
# may first spend on webhooks still in flight; not imported from there, which would load asyncio into
# every pytest session of an environment that has the plugin.
CONTROL_TIMEOUT_S = 90.0


@dataclass(frozen=True)
class TwilioAccount:
    sid: str
    auth_token: str


class EmulatorControl:
    """An emulator and its control API, reached through `control` (an httpx client whose base URL is the
    emulator's `/_emulator`); `base_url` is where the Twilio API answers."""

    def __init__(self, base_url: str, control: httpx.Client) -> None:
        self.base_url = base_url.rstrip("/")
        self.control = control

    def close(self) -> None:
        self.control.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        answer = self.control.request(method, path, **kwargs)
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

    def deliveries(
        self,
        event: str | None = None,
        status: str | int | None = None,
        account_sid: str | None = None,
        chat_service_sid: str | None = None,
        limit: int | None = None,
        wait: bool = True,
    ) -> list[dict[str, Any]]:
        """The webhook deliveries made, oldest first (the delivery log). `wait`: once the webhooks still
        in flight after their answers (`webhook_delivery="after-answer"`) have ended."""
        filters = {
            "event": event,
            "status": None if status is None else str(status),
            "account_sid": account_sid,
            "chat_service_sid": chat_service_sid,
            "limit": limit,
            "wait": "true" if wait else None,
        }
        params = {name: value for name, value in filters.items() if value is not None}
        entries: list[dict[str, Any]] = self._call("GET", "/deliveries", params=params).json()["deliveries"]
        return entries

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
