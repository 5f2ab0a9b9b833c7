"""`mock_twilio`: the emulator inside this process, where every `twilio.rest.Client` reaches it unchanged.

Like moto's `mock_aws`: inside the block (or the decorated function), requests that `requests` would send
to `https://conversations.twilio.com` are answered by the emulator's app in this process instead, with no
port, no server process and no base URL to set. Requests to other Twilio hosts are refused with
`NotEmulatedError`; every other host is reached as usual.

This module is imported with the package, so it imports nothing heavy: the engine
(`testing/in_process.py`) is loaded on first entry.
"""

from __future__ import annotations

import functools
import inspect
import os
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from .settings import Settings
    from .testing.in_process import InProcessEmulator as InProcessEmulator

F = TypeVar("F", bound=Callable[..., Any])
# An in-memory database: nothing to clean up, and the fastest resets.
DEFAULT_DATABASE_URL = "sqlite://"


class NotEmulatedError(RuntimeError):
    """A request to a Twilio host the in-process emulator does not serve: refused, never sent.

    Not a `requests` exception, so retry loops that catch those do not swallow it."""


class MockTwilio:
    """A context manager (`with mock_twilio() as emulator:`) and decorator (`@mock_twilio()`).

    Its blocks may nest and be entered again: the emulator for a set of settings is built once per process
    and reset at the entry that activates it; a nested block with the same settings shares its state.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        # One per entry of this object still open: the decorator of a recursive function enters it again.
        self._entries: list[InProcessEmulator] = []

    @property
    def emulator(self) -> InProcessEmulator:
        """The emulator of the innermost open block of this object (for decorated functions)."""
        if not self._entries:
            raise RuntimeError("mock_twilio is not active: use .emulator inside its block or function")
        return self._entries[-1]

    def __enter__(self) -> InProcessEmulator:
        from .testing import in_process

        emulator = in_process.enter(self.settings)
        self._entries.append(emulator)
        return emulator

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        from .testing import in_process

        in_process.leave(self._entries.pop())

    def __call__(self, function: F) -> F:
        if inspect.iscoroutinefunction(function):

            @functools.wraps(function)
            async def run_async(*args: Any, **kwargs: Any) -> Any:
                with self:
                    return await function(*args, **kwargs)

            return run_async  # type: ignore[return-value]

        @functools.wraps(function)
        def run(*args: Any, **kwargs: Any) -> Any:
            with self:
                return function(*args, **kwargs)

        return run  # type: ignore[return-value]


def mock_twilio(
    *,
    fixtures: str | os.PathLike[str] | None = None,
    auth_mode: str | None = None,
    database_url: str = DEFAULT_DATABASE_URL,
    **settings: Any,
) -> MockTwilio:
    """The emulator in this process, for the `with` block or decorated function.

    Takes the settings `serve` takes, as keywords (`fixtures`, `auth_mode`, `webhook_timeout`,
    `admin_token`, ...), and only those: `TWILIO_EMULATOR_*` variables are not read. By default an
    in-memory database and the shipped fixtures. A bad value raises `SettingsError` naming it.
    """
    from .settings import SettingsError, given_settings

    values: dict[str, Any] = {"database_url": database_url, **settings}
    if fixtures is not None:
        values["fixtures"] = os.fspath(fixtures)
    if auth_mode is not None:
        values["auth_mode"] = auth_mode
    given = given_settings("mock_twilio()", **values)
    if given.workers != 1:
        raise SettingsError("mock_twilio(): invalid workers: the in-process emulator is a single app")
    return MockTwilio(given)


__all__ = ["InProcessEmulator", "MockTwilio", "NotEmulatedError", "mock_twilio"]


def __getattr__(name: str) -> Any:
    # `InProcessEmulator`, for annotations, without loading the engine with the package.
    if name == "InProcessEmulator":
        from .testing.in_process import InProcessEmulator

        return InProcessEmulator
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
