"""The database: engine, sessions and schema. The only module that knows which SQL engine runs.

SQLite runs in WAL mode with a busy timeout so several readers and one writer (even in other processes)
never see "database is locked"; `synchronous=FULL` makes each commit durable before the answer is sent.
Write transactions start with `BEGIN IMMEDIATE` so two writers queue on the lock up front instead of
deadlocking when a read transaction tries to upgrade.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.pool import StaticPool
from sqlmodel import Session, SQLModel, create_engine, text

# The tables register themselves on SQLModel.metadata when imported.
from app.accounts import models as _accounts  # noqa: F401
from app.conversations.configuration import models as _configuration  # noqa: F401
from app.conversations.services import models as _services  # noqa: F401
from app.conversations.webhooks import models as _webhooks  # noqa: F401

BUSY_TIMEOUT_MS = 10_000
_BEGIN_OPTION = "emulator_begin"


class Database:
    """One engine, and sessions for reading and for writing."""

    def __init__(self, url: str) -> None:
        self.url = make_url(url)
        self.backend = self.url.get_backend_name()
        options: dict[str, Any] = {}
        if self.backend == "sqlite":
            _ensure_sqlite_folder(self.url.database)
            options["connect_args"] = {"check_same_thread": False, "timeout": BUSY_TIMEOUT_MS / 1000}
            if self.url.database in (None, "", ":memory:"):
                # An in-memory database lives in its connection: every session must share that one.
                options["poolclass"] = StaticPool
        self.engine: Engine = create_engine(url, **options)
        if self.backend == "sqlite":
            _configure_sqlite(self.engine)
        self._writer = self.engine.execution_options(**{_BEGIN_OPTION: "BEGIN IMMEDIATE"})

    def create_schema(self) -> None:
        SQLModel.metadata.create_all(self.engine)

    @contextmanager
    def reading(self) -> Iterator[Session]:
        with Session(self.engine) as session:
            yield session

    @contextmanager
    def writing(self) -> Iterator[Session]:
        """One write transaction: committed when the block ends, rolled back if it raises."""
        with Session(self._writer, expire_on_commit=False) as session, session.begin():
            yield session

    def ping(self) -> bool:
        with self.engine.connect() as connection:
            return connection.execute(text("SELECT 1")).scalar() == 1

    def dispose(self) -> None:
        self.engine.dispose()


def _ensure_sqlite_folder(database: str | None) -> None:
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).expanduser().resolve().parent.mkdir(parents=True, exist_ok=True)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event below issue BEGIN itself (pysqlite's own is deferred and late).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        connection.exec_driver_sql(connection.get_execution_options().get(_BEGIN_OPTION, "BEGIN"))
