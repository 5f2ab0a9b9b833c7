"""Where the control API's state lives when several processes serve one database.

One process keeps its request journal, faults, delivery log and signing tokens in memory. Workers and
replicas sharing a database keep them in these tables instead, so whichever process answers a control
call sees what every process recorded. They sit in a database of their own (`control_database_url`),
written without a sync to disk: a crash may lose log entries, never a resource.
"""

from __future__ import annotations

import importlib
from typing import Any

from sqlalchemy import JSON, Column, Index, Integer, MetaData, String, Table
from sqlalchemy.engine import make_url

CONTROL_METADATA = MetaData()

log_entry = Table(
    "emulator_log_entry",
    CONTROL_METADATA,
    Column("id", Integer, primary_key=True, autoincrement=True),
    # Which ring the entry belongs to: "journal" or "deliveries".
    Column("log", String(16), nullable=False),
    Column("account_sid", String(34), nullable=True),
    Column("entry", JSON, nullable=False),
    Index("ix_emulator_log_entry_log_id", "log", "id"),
)

fault = Table(
    "emulator_fault",
    CONTROL_METADATA,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("method", String(8), nullable=False),
    Column("path", String, nullable=False),
    Column("account_sid", String(34), nullable=True),
    Column("status", Integer, nullable=True),
    Column("code", Integer, nullable=True),
    Column("times", Integer, nullable=False),
    Column("delay_ms", Integer, nullable=False),
    Column("retry_after", Integer, nullable=True),
)

signing_token = Table(
    "emulator_signing_token",
    CONTROL_METADATA,
    Column("account_sid", String(34), primary_key=True),
    Column("token", String, nullable=False),
)


# Moments every process must agree on, first writer wins: "fixtures" is the one the start-up fixtures'
# rows are dated at when a reset puts them back.
moment = Table(
    "emulator_moment",
    CONTROL_METADATA,
    Column("name", String(32), primary_key=True),
    Column("moment", String(32), nullable=False),  # ISO 8601, UTC: the same text on every backend
)


def upsert_into(table: Table, backend: str) -> Any:
    """The backend dialect's INSERT, which has `on_conflict_do_update` and `on_conflict_do_nothing`.

    Imported by name, when needed: `sqlalchemy.dialects.postgresql` loads every PostgreSQL driver's module,
    ~40 ms of a SQLite server's start-up.
    """
    return importlib.import_module(f"sqlalchemy.dialects.{backend}").insert(table)


def control_database_url(database_url: str) -> str:
    """The database for the shared control state: PostgreSQL's own, or a SQLite file beside the data's.

    A file of its own keeps SQLite's one write lock, and the read cache's change counter, for the data:
    every API request writes a journal entry.
    """
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite":
        return database_url
    path, query_mark, query = (url.database or "").partition("?")
    return url.set(database=f"{path}-control{query_mark}{query}").render_as_string(hide_password=False)
