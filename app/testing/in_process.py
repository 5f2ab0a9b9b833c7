"""The engine of `mock_twilio`: the emulator's app on an event loop of its own, and `requests` routed to it.

- `AppLoop` runs the ASGI app (its lifespan included) on a private event loop. A thread runs that loop
  only while a block is open: between blocks the loop's tasks wait where they are, and no thread is left.
- `InProcessTransport` is an httpx transport into that loop, so the control API's client and the SDK's
  forwarded requests take one path.
- `responses` (the interception library) patches `requests`' adapter while any block is open; its callback
  hands requests for `https://conversations.twilio.com` to the innermost active emulator and refuses every
  other Twilio host. The emulator's own webhook deliveries use httpx, which is not patched: they reach
  the receiver over real HTTP.

Apps are built once per set of settings and kept until the process exits (or `close_all`), so entering a
block again costs a reset, not a start-up.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import re
import threading
from collections.abc import Coroutine, Iterable, MutableMapping
from typing import TYPE_CHECKING, Any, TypeVar, cast
from urllib.parse import urlsplit

import httpx

from ..mock import NotEmulatedError
from ..settings import TWILIO_BASE_URL, Settings
from .control import CONTROL_TIMEOUT_S, EmulatorControl

if TYPE_CHECKING:
    import responses
    from requests import PreparedRequest
    from starlette.types import ASGIApp, Message

T = TypeVar("T")
# What a `responses` callback returns: status, headers, body.
Answer = tuple[int, list[tuple[str, str]], bytes]

# What the app is given to finish (a webhook being waited for, a write) when a block closes.
SETTLE_TIMEOUT_S = 10.0
CONVERSATIONS_HOST = urlsplit(TWILIO_BASE_URL).netloc
SERVED_NETLOCS = (CONVERSATIONS_HOST, f"{CONVERSATIONS_HOST}:443")
# Every Twilio API host: the one served, and the ones refused so that nothing reaches Twilio by mistake.
TWILIO_URL = re.compile(r"https?://(?:[^/?#]*@)?(?:[^/?#@]*\.)?twilio\.com\.?(?::\d*)?(?:[/?#]|$)", re.I)
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
# Headers that describe the answer's bytes on the wire, not the (decoded) bytes handed to `requests`.
WIRE_HEADERS = frozenset({"content-encoding", "content-length", "transfer-encoding"})


class NotActiveError(RuntimeError):
    """A call to an in-process emulator outside every block that activates it."""


class Lifespan:
    """The ASGI lifespan protocol, driven from outside the app (httpx's ASGITransport does not run it)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.task: asyncio.Task[None] | None = None

    async def startup(self) -> None:
        self._inbox: asyncio.Queue[Message] = asyncio.Queue()
        self._outbox: asyncio.Queue[Message] = asyncio.Queue()
        scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": {}}

        async def run() -> None:
            await self.app(scope, self._inbox.get, self._outbox.put)

        self.task = asyncio.get_running_loop().create_task(run(), name="twilio-emulator-lifespan")
        await self._exchange("lifespan.startup")

    async def shutdown(self) -> None:
        assert self.task is not None
        await self._exchange("lifespan.shutdown")
        await self.task

    async def _exchange(self, event: str) -> None:
        assert self.task is not None
        await self._inbox.put({"type": event})
        answer = asyncio.ensure_future(self._outbox.get())
        await asyncio.wait({answer, self.task}, return_when=asyncio.FIRST_COMPLETED)
        if not answer.done():
            answer.cancel()
            self.task.result()  # the app's own error, if it raised one
            raise RuntimeError(f"the emulator's app ended without answering {event}")
        message = answer.result()
        if message["type"] != f"{event}.complete":
            raise RuntimeError(f"the emulator's app answered {event} with {message}")


class AppLoop:
    """An ASGI app on an event loop of its own; a thread runs the loop between `resume` and `pause`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.loop = asyncio.new_event_loop()
        self.lifespan = Lifespan(app)
        self.closed = False
        self._thread: threading.Thread | None = None
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None

    def resume(self) -> None:
        if self._thread is not None:
            return
        if self.closed:
            raise RuntimeError("this in-process emulator was closed")
        # A pool per run: the loop's own default one cannot be used again once shut down.
        self._executor = concurrent.futures.ThreadPoolExecutor(thread_name_prefix="twilio-emulator-worker")
        self.loop.set_default_executor(self._executor)
        self._thread = threading.Thread(target=self.loop.run_forever, name="twilio-emulator", daemon=True)
        self._thread.start()
        if self.lifespan.task is None:
            try:
                self.run(self.lifespan.startup())
            except BaseException:
                self.pause()
                raise

    def pause(self) -> None:
        """Let what the app started finish, then stop the thread; the loop keeps its tasks."""
        thread = self._thread
        if thread is None:
            return
        try:
            self.run(self._settle())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            thread.join()
            self._thread = None
            if self._executor is not None:
                self._executor.shutdown(wait=True)
                self._executor = None

    async def _settle(self) -> None:
        spared = {asyncio.current_task(), self.lifespan.task}
        others = {task for task in asyncio.all_tasks() if task not in spared}
        if not others:
            return
        _, late = await asyncio.wait(others, timeout=SETTLE_TIMEOUT_S)
        for task in late:
            task.cancel()
        await asyncio.gather(*late, return_exceptions=True)

    def run(self, work: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """`work`'s result, run on the loop; TimeoutError (and `work` cancelled) after `timeout` seconds."""
        if self._thread is None:
            work.close()
            raise NotActiveError("the in-process emulator is not active: call it inside `with mock_twilio()`")
        future = asyncio.run_coroutine_threadsafe(work, self.loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise TimeoutError(f"the in-process emulator did not answer in {timeout} s") from None

    def close(self) -> None:
        """The lifespan's shutdown (the app disposes of its database), then the loop's end."""
        if self.closed:
            return
        try:
            if self.lifespan.task is not None:
                self.resume()
                self.run(self.lifespan.shutdown())
                self.run(self.loop.shutdown_asyncgens())
        finally:
            self.pause()
            self.closed = True
            self.loop.close()


class InProcessTransport(httpx.BaseTransport):
    """httpx requests answered by the app on an `AppLoop`, through httpx's own ASGI transport."""

    def __init__(self, app_loop: AppLoop) -> None:
        self._app_loop = app_loop
        self._asgi = httpx.ASGITransport(app=app_loop.app)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.read()  # the ASGI transport takes only bodies it can read asynchronously; now it is bytes
        timeout = request.extensions.get("timeout", {}).get("read")

        async def exchange() -> tuple[int, list[tuple[bytes, bytes]], bytes]:
            answer = await self._asgi.handle_async_request(request)
            # Raw, as it left the app: the client decodes it by its own headers.
            body = b"".join([part async for part in answer.aiter_raw()])
            return answer.status_code, answer.headers.raw, body

        try:
            status, headers, body = self._app_loop.run(exchange(), timeout)
        except TimeoutError as exc:
            raise httpx.ReadTimeout(str(exc), request=request) from None
        return httpx.Response(status, headers=headers, content=body, request=request)


class InProcessEmulator(EmulatorControl):
    """The emulator's app in this process, with the control API's methods; what `mock_twilio` yields."""

    def __init__(self, settings: Settings) -> None:
        from ..main import create_app

        self.settings = settings
        self.app = create_app(settings)
        self.app_loop = AppLoop(self.app)
        transport = InProcessTransport(self.app_loop)
        headers = {"Authorization": f"Bearer {settings.admin_token}"} if settings.admin_token else {}
        # No proxies from the environment: they would take https:// away from the transport.
        control = httpx.Client(
            transport=transport,
            base_url=f"{TWILIO_BASE_URL}/_emulator",
            headers=headers,
            timeout=CONTROL_TIMEOUT_S,
            trust_env=False,
        )
        super().__init__(TWILIO_BASE_URL, control)
        # The SDK's requests: no default headers, and no time limit but the caller's own.
        self._api = httpx.Client(transport=transport, timeout=None, trust_env=False)  # noqa: S113

    def activate(self) -> None:
        self.app_loop.resume()
        try:
            self.reset()
        except BaseException:
            self.app_loop.pause()
            raise

    def deactivate(self) -> None:
        try:
            # Webhooks still in flight after their answers (after-answer mode) end before the block does.
            self.app_loop.run(self.app.state.emulator.after_answer.settle(), CONTROL_TIMEOUT_S)
        finally:
            self.app_loop.pause()

    def forward(self, request: PreparedRequest) -> Answer:
        """A request `requests` would have sent to Twilio, answered by this app: status, headers, body."""
        headers = [(name, _text(value)) for name, value in request.headers.items()]
        try:
            answer = self._api.request(
                request.method or "GET",
                request.url or "",
                headers=headers,
                content=_body_bytes(request.body),
                timeout=_read_timeout(getattr(request, "req_kwargs", {})),
            )
        except httpx.TimeoutException as exc:
            from requests.exceptions import ReadTimeout

            raise ReadTimeout(str(exc), request=request) from None
        # A list, not a dict: repeated headers stay repeated.
        answered = [(name, value) for name, value in answer.headers.multi_items() if name not in WIRE_HEADERS]
        answered.append(("Content-Length", str(len(answer.content))))
        return answer.status_code, answered, answer.content

    def close(self) -> None:
        try:
            self.app_loop.close()
        finally:
            self._api.close()
            super().close()


def _text(value: str | bytes) -> str:
    return value if isinstance(value, str) else value.decode("latin-1")


def _body_bytes(body: object) -> bytes | None:
    """A prepared body as the bytes `requests` would send: str as http.client encodes it, and the chunks
    of an iterable (`responses` has already read a file's)."""
    if body is None or isinstance(body, bytes):
        return body
    if isinstance(body, bytearray | memoryview):
        return bytes(body)
    if isinstance(body, str):
        return body.encode("iso-8859-1")
    if isinstance(body, Iterable):
        return b"".join(_body_bytes(chunk) or b"" for chunk in body)
    raise TypeError(f"mock_twilio cannot send a request body of type {type(body).__name__}")


def _read_timeout(send_options: MutableMapping[str, Any]) -> float | None:
    """The read timeout `requests` was given: a number, a (connect, read) pair, or None for none."""
    timeout = send_options.get("timeout")
    if isinstance(timeout, tuple):
        timeout = timeout[1]
    return float(timeout) if isinstance(timeout, int | float) else None


# The process's in-process emulators, by settings; the active ones, innermost last; the patch of `requests`.
_lock = threading.RLock()
_emulators: dict[Settings, InProcessEmulator] = {}
_active: list[InProcessEmulator] = []
_interception: responses.RequestsMock | None = None


def enter(settings: Settings) -> InProcessEmulator:
    """The emulator for `settings`, active and answering for Twilio until the matching `leave`."""
    with _lock:
        emulator = _emulators.get(settings)
        if emulator is None:
            if not _emulators:
                atexit.register(close_all)
            emulator = _emulators[settings] = InProcessEmulator(settings)
        if emulator not in _active:
            emulator.activate()
        if not _active:
            try:
                _intercept()
            except BaseException:
                emulator.deactivate()
                raise
        _active.append(emulator)
        return emulator


def leave(emulator: InProcessEmulator) -> None:
    with _lock:
        if emulator not in _active:  # close_all ran inside the block
            return
        last = len(_active) - 1 - _active[::-1].index(emulator)
        del _active[last]
        try:
            if emulator not in _active:
                emulator.deactivate()
        finally:
            if not _active:
                _stop_intercepting()


def close_all() -> None:
    """Leave every open block and shut every in-process emulator down (run at exit)."""
    with _lock:
        _active.clear()
        _stop_intercepting()
        emulators = list(_emulators.values())
        _emulators.clear()
        for emulator in emulators:
            emulator.close()


def _intercept() -> None:
    global _interception
    try:
        import responses
    except ImportError:
        from ..extras import install_hint

        raise ImportError(
            "mock_twilio needs the `responses` package, this package's `mock` extra: "
            + install_hint("mock", "responses")
        ) from None
    interception = responses.RequestsMock(assert_all_requests_are_fired=False)
    for method in METHODS:
        # One pattern for every Twilio host, told apart in `_answer`: `responses` takes a request that two
        # registrations match for a sequence of answers, and drops the first. (The callback's type says a
        # mapping of headers; `responses` takes a list of pairs too, which keeps repeated headers.)
        interception.add_callback(method, TWILIO_URL, cast(Any, _answer), content_type=None)
    interception.add_passthru("http")  # every other host, as without the mock
    interception.start()
    _interception = interception


def _forget_calls() -> None:
    # `responses` keeps every request and answer for assertions nobody makes here: a block open for a whole
    # session would grow without bound.
    interception = _interception
    if interception is not None:
        interception.calls.reset()
        for registered in interception.registered():
            registered.calls.reset()


def _stop_intercepting() -> None:
    global _interception
    if _interception is not None:
        _interception.stop(allow_assert=False)
        _interception.reset()
        _interception = None


def _answer(request: PreparedRequest) -> Answer | Exception:
    _forget_calls()
    url = request.url or ""
    parts = urlsplit(url)
    served = parts.scheme == "https" and parts.netloc.lower() in SERVED_NETLOCS
    if not served:
        hint = ""
        if (parts.hostname or "").startswith("conversations."):
            hint = " (an edge or region in the client, or TWILIO_EDGE / TWILIO_REGION, changes the host)"
        return NotEmulatedError(
            f"mock_twilio: {request.method} {url} was not sent: the in-process emulator serves only "
            f"{TWILIO_BASE_URL}{hint}"
        )
    try:
        emulator = _active[-1]
    except IndexError:
        return NotActiveError(f"mock_twilio: {request.method} {url} arrived after the last block closed")
    return emulator.forward(request)
