"""The benchmark's own servers do the work they stand for: bench/sqlmodel_app.py, the floor of the
emulator's stack in bench/startup.py, answers the webhooks GET with the emulator's document, from its table.
In process: no server."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine

from bench import sqlmodel_app
from bench.servers import SERVICE_SID, webhooks_path

pytestmark = pytest.mark.backend_independent  # runs once, in the SQLite pass (see tests/conftest.py)


def test_the_sqlmodel_floor_answers_the_emulators_document(app_api: httpx.Client, tmp_path: Path) -> None:
    emulator = app_api.get(webhooks_path())
    assert emulator.status_code == 200
    with TestClient(sqlmodel_app.create_app(tmp_path / "floor.db")) as floor:
        answer = floor.get(webhooks_path())
        assert answer.status_code == 200
        assert answer.headers["content-type"] == emulator.headers["content-type"]
        assert answer.json() == emulator.json()
        assert floor.get(webhooks_path("IS" + "1" * 32)).status_code == 404


def test_the_sqlmodel_floor_reads_its_row_from_the_file(tmp_path: Path) -> None:
    database = tmp_path / "floor.db"
    sqlmodel_app.create_app(database)
    # A second start on the same file finds the row instead of writing it again; the GET reads the file.
    with TestClient(sqlmodel_app.create_app(database)) as floor:
        engine = create_engine(f"sqlite:///{database}")
        with engine.begin() as connection:
            connection.exec_driver_sql(
                "UPDATE webhook_configuration SET method = 'GET' WHERE chat_service_sid = ?", (SERVICE_SID,)
            )
            rows = connection.exec_driver_sql("SELECT count(*) FROM webhook_configuration").scalar()
        engine.dispose()
        assert rows == 1
        assert floor.get(webhooks_path()).json()["method"] == "GET"
