"""The database: engine, sessions and schema. The only module that knows which SQL engine runs.

Two engines, one set of transactions. Writers are serialized on both, so every write sees the same state
it would see alone, whichever worker or replica runs it:

- SQLite runs in WAL mode with a busy timeout so several readers and one writer (even in other processes)
  never see "database is locked"; `synchronous=FULL` makes each commit durable before the answer is sent.
  Write transactions start with `BEGIN IMMEDIATE` so two writers queue on the lock up front instead of
  deadlocking when a read transaction tries to upgrade.
- PostgreSQL (psycopg 3) runs each write transaction under one transaction-level advisory lock, the same
  one-writer-at-a-time model; sessions use UTC so stored times read back as written.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, cast

from sqlalchemy import Column, MetaData, Table, delete, event, insert, select, tuple_
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.pool import StaticPool
from sqlmodel import Session, create_engine, text
from sqlmodel.sql.expression import SelectOfScalar

from .twilio.paging import PageRequest

BUSY_TIMEOUT_MS = 10_000
# Integer keys the database assigns; a dump leaves them out so rows can be loaded next to others.
SURROGATE_KEY = "id"
# Execution option marking a transaction as one that takes the database's write lock when it begins.
_WRITE_LOCK = "emulator_write_lock"
# The PostgreSQL advisory lock key every serialized write transaction takes (any constant will do).
POSTGRES_WRITE_LOCK_KEY = 0x7477_696C_696F

Value = TypeVar("Value")


# Credentials change rarely while configurations change all the time, so they are cached apart: triggers
# count every change to the credential tables in this row, and only that count empties their cache.
CREDENTIALS = "credentials"
# PostgreSQL's stand-in for SQLite's data_version: a count of write statements on any table.
DATA = "data"
_VERSION_TABLE = "emulator_version"


# What a cache watches: (a number that changes with every commit, the credential tables' change count).
Versions = Callable[[], tuple[int, int]]


class ReadCache:
    """Values read from the database, dropped as soon as a commit may have changed them, in any process.

    `refresh()` reads two numbers once per request, before the request's first read: one that changes
    whenever any connection (of this process or any other) commits, and a trigger-kept count of changes
    to the credential tables. On SQLite the first is `PRAGMA data_version`; on PostgreSQL, a count that
    statement triggers on every table keep. A local counter covers this process's own commits. So a
    request never sees a value older than the last write committed before it arrived, from any process.
    The hot reads (credentials, a configuration) then cost a dict lookup instead of ORM round trips.
    """

    def __init__(self, versions: Versions | None, close: Callable[[], None] | None = None) -> None:
        # An in-memory database has nothing to watch: only this process can change it.
        self._watch = versions
        self._close = close
        self._seen: tuple[int, int] = (-1, -1)
        self._seen_generation = -1
        self._values: dict[Hashable, Any] = {}
        self._credentials: dict[Hashable, Any] = {}
        self.generation = 0

    def refresh(self) -> None:
        """Drop what any connection may have changed since the last refresh."""
        if self._watch is None:
            return
        data_version, credentials = self._watch()
        if data_version != self._seen[0]:
            self._values.clear()
        if credentials != self._seen[1]:
            self._credentials.clear()
        self._seen = (data_version, credentials)

    def _store(self, scope: str | None) -> dict[Hashable, Any]:
        if self.generation != self._seen_generation:
            # This process committed. A file database's credential counter says whether that touched
            # credentials; an in-memory database has no watcher, so everything goes.
            self._values.clear()
            if self._watch is None:
                self._credentials.clear()
            self._seen_generation = self.generation
        return self._credentials if scope == CREDENTIALS else self._values

    def get(self, key: Hashable, scope: str | None = None) -> Any:
        return self._store(scope).get(key, _MISSING)

    def put(self, key: Hashable, value: Any, scope: str | None = None) -> None:
        store = self._store(scope)
        if len(store) >= MAX_CACHED and key not in store:
            del store[next(iter(store))]  # the oldest entry: dicts keep insertion order
        store[key] = value

    def close(self) -> None:
        if self._close is not None:
            self._close()


_MISSING = object()
# Entries each cache keeps at most: far more than the hot keys a suite uses (its accounts, services and
# configurations), and a bound on what requests for made-up SIDs or usernames can make it hold.
MAX_CACHED = 4096


def _sqlite_versions(path: str) -> tuple[Versions, Callable[[], None]]:
    # A connection of its own: data_version only counts other connections' commits, which is every
    # commit of the emulator's own engine too.
    watch = sqlite3.connect(path, check_same_thread=False)
    credentials_statement = f"SELECT version FROM {_VERSION_TABLE} WHERE scope = '{CREDENTIALS}'"  # noqa: S608
    # (data_version, the credential counter read after it): the counter can only move with a commit, so
    # it is read again only when data_version moved. `PRAGMA data_version` alone reads no table and
    # needs no read transaction: it was a tenth of a cached GET as one statement with the counter.
    seen = [-1, -1]

    def versions() -> tuple[int, int]:
        (data_version,) = watch.execute("PRAGMA data_version").fetchone()
        if data_version != seen[0]:
            (credentials,) = watch.execute(credentials_statement).fetchone()
            seen[:] = [int(data_version), int(credentials)]
        return seen[0], seen[1]

    return versions, watch.close


def _postgresql_versions(engine: Engine) -> Versions:
    statement = text(
        f"SELECT (SELECT version FROM {_VERSION_TABLE} WHERE scope = '{DATA}'),"  # noqa: S608 - constants only
        f" (SELECT version FROM {_VERSION_TABLE} WHERE scope = '{CREDENTIALS}')"
    )

    def versions() -> tuple[int, int]:
        with engine.connect() as connection:
            row = connection.execute(statement).one()
        return int(row[0]), int(row[1])

    return versions


class Database:
    """One engine, and sessions for reading and for writing.

    `metadata` names the tables this database holds, and `credential_tables` those of them whose reads
    are cached apart (they change rarely). `durable=False` skips the sync to disk at commit (for the
    emulator's own logs, which a crash may lose); `serialized=False` lets write transactions run side by
    side on PostgreSQL (for writes that are single atomic statements); `read_cache=False` leaves `cached`
    reads out, and with them the change counters the cache watches.
    """

    def __init__(
        self,
        url: str,
        metadata: MetaData,
        *,
        credential_tables: tuple[str, ...] = (),
        durable: bool = True,
        serialized: bool = True,
        read_cache: bool = True,
    ) -> None:
        self.url = make_url(url)
        self.metadata = metadata
        # Parents first. `sorted_tables` sorts again at every access.
        self._tables = tuple(metadata.sorted_tables)
        self.credential_tables = credential_tables
        self.counts_changes = read_cache
        self.backend = self.url.get_backend_name()
        sqlite = self.backend == "sqlite"
        in_memory = sqlite and self.url.database in (None, "", ":memory:")
        # A `file:` URI (shared-cache memory, read-only modes, ...) cannot be watched from a plain path.
        watchable = sqlite and not in_memory and not (self.url.database or "").startswith("file:")
        options: dict[str, Any] = {}
        if sqlite:
            _ensure_sqlite_folder(self.url.database)
            options["connect_args"] = {"check_same_thread": False, "timeout": BUSY_TIMEOUT_MS / 1000}
        elif self.backend == "postgresql":
            # Added to any `options` the URL gives (a search_path, say), which connect_args would replace.
            given = self.url.query.get("options", "")
            settings = [*([given] if isinstance(given, str) else given), "-c TimeZone=UTC"]
            if not durable:
                settings.append("-c synchronous_commit=off")
            options["connect_args"] = {"options": " ".join(part for part in settings if part)}
        if in_memory:
            # An in-memory database lives in its connection: every session must share that one.
            options["poolclass"] = StaticPool
        self.engine: Engine = create_engine(url, **options)
        if sqlite:
            _configure_sqlite(self.engine, durable)
        elif self.backend == "postgresql":
            _configure_postgresql(self.engine)
        # SQLite writers always take the lock up front (BEGIN IMMEDIATE); see the module docstring.
        self._writer = self.engine.execution_options(**{_WRITE_LOCK: serialized or sqlite})
        self._autocommit = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        # PostgreSQL reads run without BEGIN and ROLLBACK, two round trips of three: each statement sees
        # what was committed when it started either way (READ COMMITTED).
        self._reader = self._autocommit if self.backend == "postgresql" else self.engine
        self._schema_writer = self.engine.execution_options(**{_WRITE_LOCK: True})
        # The one connection of an in-memory database cannot be shared with a writer thread.
        self._batcher = _WriteBatcher(self, in_thread=not in_memory)
        # Only SQLite can tell cheaply that another process committed; elsewhere every read goes to storage.
        self.cache: ReadCache | None = None
        if read_cache and in_memory:
            self.cache = ReadCache(None)
        elif read_cache and watchable:
            self.cache = ReadCache(*_sqlite_versions(str(Path(self.url.database or "").expanduser())))
        elif read_cache and self.backend == "postgresql":
            self.cache = ReadCache(_postgresql_versions(self._reader))

    def create_schema(self) -> None:
        # As a write transaction from the start: a deferred BEGIN reads the schema and then fails to
        # upgrade to writing (at once, not after the busy timeout) if another process starting on the same
        # file committed in between.
        # On PostgreSQL the advisory lock does the same for workers and replicas starting together.
        with self._schema_writer.begin() as connection:
            self.metadata.create_all(connection)
            if self.backend == "sqlite" and self.counts_changes:
                _create_credential_counter(connection, self.credential_tables)
            elif self.backend == "postgresql" and self.counts_changes:
                _create_postgresql_counters(connection, self.metadata, self.credential_tables)

    @contextmanager
    def reading(self) -> Iterator[Session]:
        with Session(self._reader) as session:
            yield session

    @contextmanager
    def autocommit(self) -> Iterator[Connection]:
        """A connection whose every statement commits on its own: one round trip for a one-statement write.

        Only for writes whose statements need no transaction around them (and no sync to disk wait, on a
        `durable=False` database): the control logs.
        """
        with self._autocommit.connect() as connection:
            yield connection

    @contextmanager
    def writing(self) -> Iterator[Session]:
        """One write transaction: committed when the block ends, rolled back if it raises."""
        try:
            with Session(self._writer, expire_on_commit=False) as session, session.begin():
                yield session
        finally:
            if self.cache is not None:
                self.cache.generation += 1

    async def write(self, work: Callable[[Session], Value]) -> Value:
        """Run `work` in a write transaction shared with the writes that arrived meanwhile (group commit).

        Concurrent writers queue while one transaction commits; the next transaction takes them all, each
        in a savepoint of its own, and commits them with one sync to disk. Each caller gets its own result
        or exception only after that commit, so an acknowledged write is always durable, while a burst of
        writes pays for one fsync instead of one each. The commit runs in a worker thread so reads keep
        being answered meanwhile (not for an in-memory database, whose one connection cannot be shared).
        """
        return await self._batcher.submit(work)

    def refresh_cache(self) -> None:
        """Called as a request starts: from here on it sees every write committed before it."""
        if self.cache is not None:
            self.cache.refresh()

    def cached(self, key: Hashable, load: Callable[[Session], Value], scope: str | None = None) -> Value:
        """`load(session)`'s value, from the read cache while nothing it reads has been committed since.

        `scope=CREDENTIALS` for values read from the credential tables only.
        """
        if self.cache is None:
            with self.reading() as session:
                return load(session)
        value = self.cache.get(key, scope)
        if value is _MISSING:
            with self.reading() as session:
                value = load(session)
            self.cache.put(key, value, scope)
        return cast(Value, value)

    def dump(self) -> dict[str, list[dict[str, Any]]]:
        """Every row of every table, without surrogate keys: what `load` puts back."""
        with self.engine.connect() as connection:
            return {
                table.name: [
                    {name: value for name, value in row._mapping.items() if name != SURROGATE_KEY}
                    for row in connection.execute(select(table))
                ]
                for table in self._tables
            }

    def wipe(self, session: Session, account_sid: str | None = None) -> None:
        """Delete every row, or every row of one account, from every table (children first)."""
        # Core statements on the session's connection: test suites reset before every test, and the ORM's
        # handling of each statement was about a tenth of a reset.
        connection = session.connection()
        for table in reversed(self._tables):
            statement = delete(table)
            if account_sid is not None:
                statement = statement.where(_account_column(table) == account_sid)
            connection.execute(statement)

    def load(
        self, session: Session, rows: dict[str, list[dict[str, Any]]], account_sid: str | None = None
    ) -> None:
        """Insert rows from `dump` (parents first), or only one account's.

        Into emptied tables (`account_sid` None) rows get ids from 1, as an emptied SQLite table gives
        them, so the same fixtures get the same ids on every backend; `restart_ids` then moves
        PostgreSQL's sequences past them.
        """
        connection = session.connection()
        for table in self._tables:
            selected = [
                row
                for row in rows.get(table.name, [])
                if account_sid is None or row[_account_column(table).name] == account_sid
            ]
            if account_sid is None and SURROGATE_KEY in table.c:
                selected = [{**row, SURROGATE_KEY: number} for number, row in enumerate(selected, 1)]
            if selected:
                connection.execute(insert(table), selected)

    def restart_ids(self) -> None:
        """Move PostgreSQL's id sequences just past the largest id in each table.

        After the transaction that loaded rows with explicit ids has committed: a sequence does not roll
        back, so moving it inside that transaction would leave it behind the rows if the load failed.
        """
        if self.backend != "postgresql":
            return
        with self.writing() as session:
            for table in self._tables:
                if SURROGATE_KEY in table.c:
                    largest = f'SELECT max({SURROGATE_KEY}) FROM "{table.name}"'  # noqa: S608 - table names
                    sequence = "pg_get_serial_sequence(:table, :column)"
                    session.execute(
                        text(f"SELECT setval({sequence}, COALESCE(({largest}), 0) + 1, false)"),
                        {"table": table.name, "column": SURROGATE_KEY},
                    )

    def ping(self) -> bool:
        with self.engine.connect() as connection:
            return connection.execute(text("SELECT 1")).scalar() == 1

    def dispose(self) -> None:
        if self.cache is not None:
            self.cache.close()
        self.engine.dispose()


def page_rows(
    session: Session,
    statement: SelectOfScalar[Value],
    key: Any,
    request: PageRequest,
    *,
    descending: bool = False,
    moment: Any = None,
) -> list[Value]:
    """The rows of one list page, and one more if there are more: in list order (by `key`, or by the
    date column `moment` and then `key`; `descending` or not), after or before the request's keyset
    position, else at its offset. With `moment`, the position must carry a date (`Position.moment`)."""
    position = request.position
    probe = request.size + 1
    columns = (key,) if moment is None else (moment, key)
    forward = [column.desc() if descending else column.asc() for column in columns]
    if position is None:
        return list(session.exec(statement.order_by(*forward).offset(request.offset).limit(probe)))
    ordered: Any
    anchor: Any
    if moment is None:
        ordered, anchor = key, position.key
    else:
        assert position.moment is not None, "a dated list's position has its row's date"
        ordered, anchor = tuple_(moment, key), tuple_(position.moment, position.key)
    if position.after:
        beyond = ordered < anchor if descending else ordered > anchor
        return list(session.exec(statement.where(beyond).order_by(*forward).limit(probe)))
    before = ordered > anchor if descending else ordered < anchor
    backward = [column.asc() if descending else column.desc() for column in columns]
    rows = list(session.exec(statement.where(before).order_by(*backward).limit(probe)))
    return rows[::-1]


class _WriteBatcher:
    """Group commit for `Database.write`; all of its state is touched on the event loop only."""

    def __init__(self, database: Database, *, in_thread: bool) -> None:
        self.database = database
        self.in_thread = in_thread
        self.queue: list[tuple[Callable[[Session], Any], asyncio.Future[Any]]] = []
        self.draining = False
        self.task: asyncio.Task[None] | None = None

    async def submit(self, work: Callable[[Session], Value]) -> Value:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Value] = loop.create_future()
        self.queue.append((work, future))
        if not self.draining:
            self.draining = True
            self.task = loop.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        try:
            while self.queue:
                batch, self.queue = self.queue, []
                await self._commit_batch(batch)
        finally:
            self.draining = False

    async def _commit_batch(self, batch: list[tuple[Callable[[Session], Any], asyncio.Future[Any]]]) -> None:
        works = [work for work, _ in batch]
        outcomes: list[_Done | _Failed] = [_Failed(RuntimeError("the write was interrupted"))] * len(batch)
        try:
            if self.in_thread:
                outcomes = await asyncio.to_thread(self._commit, works)
            else:
                outcomes = self._commit(works)
        except Exception as exc:  # the commit itself failed: nobody's write happened
            outcomes = [_Failed(exc)] * len(batch)
        finally:
            # Even when interrupted (cancelled at shutdown), no caller is left waiting forever.
            for (_, future), outcome in zip(batch, outcomes, strict=True):
                _settle(future, outcome)

    def _commit(self, works: list[Callable[[Session], Any]]) -> list[_Done | _Failed]:
        # Optimistic: every write succeeds, so no savepoints. When one fails, the whole transaction is
        # rolled back and the batch is run again with a savepoint around each write.
        try:
            with self.database.writing() as session:
                return [_Done(work(session)) for work in works]
        except Exception:  # noqa: S110 - each write's own error is reported by the careful pass below
            pass
        outcomes: list[_Done | _Failed] = []
        with self.database.writing() as session:
            for work in works:
                try:
                    with session.begin_nested():
                        outcomes.append(_Done(work(session)))
                except Exception as exc:  # this write alone is undone; the others still commit
                    outcomes.append(_Failed(exc))
        return outcomes


def _settle(future: asyncio.Future[Any], outcome: _Done | _Failed) -> None:
    if future.done():  # the caller went away
        return
    if isinstance(outcome, _Done):
        future.set_result(outcome.value)
    elif isinstance(outcome.error, StopIteration):  # a future refuses to carry this one
        future.set_exception(RuntimeError(f"write failed: {outcome.error!r}"))
    else:
        future.set_exception(outcome.error)


@dataclass(frozen=True)
class _Done:
    value: Any


@dataclass(frozen=True)
class _Failed:
    error: Exception


def _create_credential_counter(connection: Connection, credential_tables: tuple[str, ...]) -> None:
    connection.exec_driver_sql(
        f"CREATE TABLE IF NOT EXISTS {_VERSION_TABLE} (scope TEXT PRIMARY KEY, version INTEGER NOT NULL)"
    )
    connection.exec_driver_sql(
        f"INSERT OR IGNORE INTO {_VERSION_TABLE} (scope, version) VALUES ('{CREDENTIALS}', 0)"  # noqa: S608
    )
    for table in credential_tables:
        for change in ("INSERT", "UPDATE", "DELETE"):
            connection.exec_driver_sql(
                f"CREATE TRIGGER IF NOT EXISTS {table}_{change.lower()}_counts AFTER {change} ON {table} "  # noqa: S608
                f"BEGIN UPDATE {_VERSION_TABLE} SET version = version + 1 WHERE scope = '{CREDENTIALS}'; END"
            )


def _create_postgresql_counters(
    connection: Connection, metadata: MetaData, credential_tables: tuple[str, ...]
) -> None:
    connection.exec_driver_sql(
        f"CREATE TABLE IF NOT EXISTS {_VERSION_TABLE} (scope TEXT PRIMARY KEY, version BIGINT NOT NULL)"
    )
    connection.exec_driver_sql(
        f"INSERT INTO {_VERSION_TABLE} (scope, version) VALUES ('{DATA}', 0), ('{CREDENTIALS}', 0) "  # noqa: S608
        "ON CONFLICT (scope) DO NOTHING"
    )
    count = f"UPDATE {_VERSION_TABLE} SET version = version + 1 WHERE scope = ANY(TG_ARGV)"  # noqa: S608
    connection.exec_driver_sql(
        "CREATE OR REPLACE FUNCTION emulator_count_change() RETURNS trigger LANGUAGE plpgsql AS $$ "
        f"BEGIN {count}; RETURN NULL; END $$"
    )
    # Per statement, not per row: a reset of a thousand rows counts a handful of times.
    for table in metadata.sorted_tables:
        scopes = f"'{DATA}', '{CREDENTIALS}'" if table.name in credential_tables else f"'{DATA}'"
        trigger = f"{table.name}_counts_changes"
        # Created once: replacing it at every start would lock the table against running replicas.
        exists = connection.execute(
            text("SELECT 1 FROM pg_trigger WHERE tgname = :trigger AND tgrelid = to_regclass(:table)"),
            {"trigger": trigger, "table": f'"{table.name}"'},
        ).first()
        if exists is None:
            connection.exec_driver_sql(
                f'CREATE TRIGGER {trigger} AFTER INSERT OR UPDATE OR DELETE ON "{table.name}" '
                f"FOR EACH STATEMENT EXECUTE FUNCTION emulator_count_change({scopes})"
            )


def _account_column(table: Table) -> Column[Any]:
    """The column that says whose a row is: `account_sid`, or the account table's own `sid`."""
    return table.c.account_sid if "account_sid" in table.c else table.c.sid


def _ensure_sqlite_folder(database: str | None) -> None:
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).expanduser().resolve().parent.mkdir(parents=True, exist_ok=True)


def _configure_sqlite(engine: Engine, durable: bool) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event below issue BEGIN itself (pysqlite's own is deferred and late).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL" if durable else "PRAGMA synchronous=OFF")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        options = connection.get_execution_options()
        if options.get("isolation_level") == "AUTOCOMMIT":
            return
        connection.exec_driver_sql("BEGIN IMMEDIATE" if options.get(_WRITE_LOCK, False) else "BEGIN")


def _configure_postgresql(engine: Engine) -> None:
    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        # psycopg opens the transaction with this first statement; the lock is held until it ends.
        if connection.get_execution_options().get(_WRITE_LOCK, False):
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({POSTGRES_WRITE_LOCK_KEY})")
