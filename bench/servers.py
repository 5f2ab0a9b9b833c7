"""The servers the benchmarks start, on the emulator's own test harness (app/testing/server.py).

- the emulator, as a user starts it (`python -m twilio_conversations_emulator serve`, the shipped fixtures):
  `emulator_process()`, from this checkout or another commit's (`Checkout`);
- the baseline, bench/baseline_app.py: `baseline_process()`;
- any other server of the benchmark's own: `CommandServer`;
- another commit's source tree for the run, in a temporary git worktree: `worktree()`.

Both listen on 127.0.0.1 and a free port, in a session of their own (a Ctrl-C reaches only the benchmark,
which stops them), and are ready once the webhooks GET answers 200: that first answer ends a cold start.
"""

from __future__ import annotations

import base64
import compileall
import http.client
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

REPO = Path(__file__).resolve().parent.parent
# This checkout's harness, whichever checkout the environment's install points at.
sys.path.insert(0, str(REPO / "dev"))

# Re-exported: the scripts import them from here, after the line above.
from twilio_conversations_emulator.testing.processes import descendants as descendants  # noqa: E402
from twilio_conversations_emulator.testing.server import EmulatorProcess as EmulatorProcess  # noqa: E402
from twilio_conversations_emulator.testing.server import ServerProcess as ServerProcess  # noqa: E402
from twilio_conversations_emulator.testing.server import StartError  # noqa: E402
from twilio_conversations_emulator.testing.server import clean_environment as clean_environment  # noqa: E402

BASELINE_APP = REPO / "bench" / "baseline_app.py"
SQLMODEL_APP = REPO / "bench" / "sqlmodel_app.py"

ACCOUNT_SID = "AC00000000000000000000000000000000"
AUTH_TOKEN = "demo-auth-token"
SERVICE_SID = "IS00000000000000000000000000000000"
AUTHORIZATION = "Basic " + base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()

STARTUP_TIMEOUT_S = 30.0
# Cold start is measured to the first answer: poll often, so the figure is the server's, not the poll's.
POLL_INTERVAL_S = 0.002


def webhooks_path(service_sid: str = SERVICE_SID) -> str:
    return f"/v1/Services/{service_sid}/Configuration/Webhooks"


READY_HEADERS = {"Authorization": AUTHORIZATION}


class BenchError(Exception):
    """A failure that ends the run with one clear message."""


@dataclass(frozen=True)
class Checkout:
    """An emulator source tree, and how `python -m` runs its own code rather than the installed package."""

    folder: Path
    module: str
    import_root: Path

    @classmethod
    def of(cls, folder: Path) -> Checkout:
        # The package folder is app/ in every commit. Since its rename the package is imported as
        # twilio_conversations_emulator through the dev/ link; before, as `app` from the checkout's root.
        if (folder / "dev" / "twilio_conversations_emulator").is_dir():
            return cls(folder, "twilio_conversations_emulator", folder / "dev")
        if (folder / "app" / "__main__.py").is_file():
            return cls(folder, "app", folder)
        raise BenchError(f"{folder} holds no emulator: neither dev/twilio_conversations_emulator nor app/")

    def env(self) -> dict[str, str]:
        """PYTHONPATH with the checkout's import root first: ahead of the installed package."""
        inherited = os.environ.get("PYTHONPATH")
        return {"PYTHONPATH": os.pathsep.join([str(self.import_root), *([inherited] if inherited else [])])}

    def compile(self) -> None:
        """Bytecode for app/, as an install (and scripts/bootstrap) leaves it: where PYTHONDONTWRITEBYTECODE
        is set, Python would otherwise compile the modules again at every start."""
        if not compileall.compile_dir(self.folder / "app", quiet=1):
            raise BenchError(f"{self.folder / 'app'} does not compile")


THIS_CHECKOUT = Checkout.of(REPO)


def commit_of(ref: str) -> str:
    """REF's commit in this repository, abbreviated; a BenchError when REF names none."""
    try:
        found = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--verify", "--quiet", "--short", f"{ref}^{{commit}}"],
            capture_output=True,
            text=True,
        )
    except OSError as exc:
        raise BenchError(f"cannot run git to find {ref!r}: {exc}") from None
    if found.returncode != 0 or not found.stdout.strip():
        raise BenchError(f"{ref!r} is not a commit of the repository at {REPO}")
    return found.stdout.strip()


def worktree(ref: str, stack: ExitStack, prefix: str = "bench-") -> Path:
    """REF checked out (detached) into a temporary folder; `stack` removes the worktree and the folder."""
    commit = commit_of(ref)
    folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix=prefix))) / "tree"
    # Registered before the add, so an interrupted add is undone too. Not checked: a failed removal must
    # not hide the error that unwound the run (`git worktree prune` clears what is left).
    stack.callback(subprocess.run, ["git", "-C", str(REPO), "worktree", "remove", "--force", str(folder)])
    added = subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(folder), commit])
    if added.returncode != 0:
        raise BenchError(f"git worktree add of {ref} ({commit}) failed, exit {added.returncode}")
    return folder


def emulator_process(
    database: Path | str,
    log_folder: Path,
    *,
    name: str = "emulator",
    checkout: Checkout = THIS_CHECKOUT,
    extra_args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    startup_timeout: float = STARTUP_TIMEOUT_S,
) -> EmulatorProcess:
    """The emulator of `checkout` on `database` (a SQLite file, or a URL). No --fixtures: the default is
    the shipped fixtures/, as for any user."""
    return EmulatorProcess(
        database,
        module=checkout.module,
        env={**checkout.env(), **(env or {})},
        cwd=checkout.folder,
        extra_args=list(extra_args),
        name=name,
        log_folder=log_folder,
        ready_path=webhooks_path(),
        ready_headers=READY_HEADERS,
        startup_timeout=startup_timeout,
        poll_interval=POLL_INTERVAL_S,
        new_session=True,
    )


class CommandServer(ServerProcess):
    """A server started by a command line of the benchmark's own (given the port), ready as the emulator
    is: the baseline, bench/startup_steps.py."""

    def __init__(
        self,
        name: str,
        command: Callable[[int], list[str]],
        log_folder: Path,
        *,
        env: Mapping[str, str] | None = None,
        startup_timeout: float = STARTUP_TIMEOUT_S,
    ) -> None:
        super().__init__(
            name=name,
            env=env,
            cwd=REPO,  # where `-m uvicorn` finds bench.baseline_app
            log_folder=log_folder,
            ready_path=webhooks_path(),
            ready_headers=READY_HEADERS,
            startup_timeout=startup_timeout,
            poll_interval=POLL_INTERVAL_S,
            new_session=True,
        )
        self.command_line = command

    def command(self) -> list[str]:
        return self.command_line(self.port)


def baseline_process(
    log_folder: Path,
    *,
    workers: int = 1,
    name: str = "baseline",
    env: Mapping[str, str] | None = None,
    startup_timeout: float = STARTUP_TIMEOUT_S,
) -> CommandServer:
    """bench/baseline_app.py with 1 worker; with more, uvicorn's CLI on the same settings.

    bench/baseline_app.py passes an app object to `uvicorn.run`, which cannot start workers (they need an
    import string): `--log-level info`, no access log and no server header are what it sets.
    """

    def command(port: int) -> list[str]:
        if workers == 1:
            return [sys.executable, str(BASELINE_APP), "--host", "127.0.0.1", "--port", str(port)]
        return [
            sys.executable,
            *("-m", "uvicorn", "bench.baseline_app:app", "--workers", str(workers)),
            *("--host", "127.0.0.1", "--port", str(port)),
            *("--log-level", "info", "--no-access-log", "--no-server-header"),
        ]

    return CommandServer(name, command, log_folder, env=env, startup_timeout=startup_timeout)


def sqlmodel_process(database: Path, log_folder: Path, *, name: str = "FastAPI + SQLModel") -> CommandServer:
    """bench/sqlmodel_app.py on `database`: the baseline with the emulator's storage stack under it."""

    def command(port: int) -> list[str]:
        return [
            *(sys.executable, str(SQLMODEL_APP), "--host", "127.0.0.1", "--port", str(port)),
            *("--database", str(database)),
        ]

    return CommandServer(name, command, log_folder)


Server = TypeVar("Server", bound=ServerProcess)


def start(server: Server) -> Server:
    """`server.start()`, a failed start a BenchError with the server's log."""
    try:
        return server.start()
    except StartError as exc:
        raise BenchError(str(exc)) from None


@contextmanager
def running(server: Server) -> Iterator[Server]:
    try:
        yield start(server)
    finally:
        server.stop()


def connect(server: ServerProcess, timeout: float = 30.0) -> http.client.HTTPConnection:
    return http.client.HTTPConnection("127.0.0.1", server.port, timeout=timeout)
