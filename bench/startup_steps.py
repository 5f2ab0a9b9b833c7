"""The emulator's start-up in steps, for bench/startup.py --steps: what app/cli.py does, with a clock mark
after each step. The marks go to MARKS (`wall-clock seconds<TAB>step` lines) once uvicorn has started.

    python bench/startup_steps.py PORT DATABASE_FILE MARKS

Imports go one stack at a time so each step's cost is its own; the command imports them in another order,
which moves a module's cost between steps, not the total.
"""

from __future__ import annotations

import time

MARKS: list[tuple[float, str]] = [(time.time(), "Python itself")]

import gc  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

gc.disable()  # as app/cli.py does for start-up


def mark(step: str) -> None:
    MARKS.append((time.time(), step))


from twilio_conversations_emulator import settings as emulator_settings  # noqa: E402

mark("pydantic and pydantic-settings (imported by the settings)")
import uvicorn  # noqa: E402

mark("uvicorn")
import fastapi  # noqa: E402, F401

mark("FastAPI (on top of pydantic)")
import sqlalchemy  # noqa: E402, F401

mark("SQLAlchemy")
import sqlmodel  # noqa: E402, F401

mark("SQLModel (SQLAlchemy's ORM)")
from twilio_conversations_emulator import main as emulator_main  # noqa: E402
from twilio_conversations_emulator.edge.protocol import TwilioHttpToolsProtocol  # noqa: E402

mark("the emulator's models, routers and control modules")


def main(port: int, database: Path, marks: Path) -> None:
    settings = emulator_settings.load_settings(
        database_url=f"sqlite:///{database}", port=port, log_level="warning"
    )
    application = emulator_main.create_app(settings)
    mark("`create_app`: schema and shipped fixtures on a fresh file")
    gc.freeze()
    gc.enable()
    startup = uvicorn.Server.startup

    async def startup_then_write_marks(self: uvicorn.Server, sockets: Any = None) -> None:
        await startup(self, sockets)
        mark("uvicorn start-up")
        marks.write_text("".join(f"{moment}\t{step}\n" for moment, step in MARKS))

    uvicorn.Server.startup = startup_then_write_marks  # type: ignore[method-assign]
    uvicorn.run(
        application,
        host="127.0.0.1",
        port=settings.port,
        log_level=settings.log_level,
        access_log=False,
        server_header=False,
        ws="none",  # as app/cli.py
        http=TwilioHttpToolsProtocol,
    )


if __name__ == "__main__":
    main(int(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]))
