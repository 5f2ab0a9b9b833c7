"""What the benchmark's own apps (bench/baseline_app.py, bench/sqlmodel_app.py) share: the demo fixture's
SIDs, the emulator's JSON content type, and uvicorn run the way app/cli.py runs the emulator.

It imports neither FastAPI nor an app, so each app's start-up pays only for itself.
"""

from __future__ import annotations

from typing import Any

ACCOUNT_SID = "AC00000000000000000000000000000000"
SERVICE_SID = "IS00000000000000000000000000000000"
JSON_CONTENT_TYPE = "application/json; charset=utf-8"


def serve(application: Any, host: str, port: int, log_level: str) -> None:
    """The call app/cli.py makes for the emulator, less its protocol subclass (see bench/baseline_app.py)."""
    import uvicorn

    uvicorn.run(
        application,
        host=host,
        port=port,
        log_level=log_level,
        access_log=log_level in ("debug", "trace"),
        server_header=False,
        ws="none",
    )
