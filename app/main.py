"""Builds the application: storage, fixtures, middleware, error handlers and routers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from app import __version__
from app.control.router import router as control_router
from app.control.state import EmulatorState
from app.conversations.configuration.router import router as configuration_router
from app.conversations.services.router import router as services_router
from app.conversations.webhooks.router import router as webhooks_router
from app.db import Database
from app.deliveries.router import router as deliveries_router
from app.fixtures import NamedDocument, apply_document, load_fixture_path
from app.openapi import build_openapi
from app.settings import Settings, load_settings
from app.twilio.errors import install_error_handlers
from app.twilio.middleware import TwilioEdgeMiddleware


def prepare_database(settings: Settings, *, apply: bool = True) -> tuple[Database, list[NamedDocument]]:
    """Open the database, create the schema, and apply the start-up fixtures on top of what is there.

    Raises FixtureError for a refused document, before the server listens. `apply=False` only reads
    the documents (a reset still needs them): for workers, whose parent applied them once.
    """
    database = Database(settings.database_url)
    database.create_schema()
    path = settings.fixture_path()
    documents = load_fixture_path(path) if path is not None else []
    if apply:
        with database.writing() as session:
            for named in documents:
                apply_document(session, named)
    return database, documents


def create_app(settings: Settings | None = None, *, apply_fixtures: bool = True) -> FastAPI:
    settings = settings or Settings()
    database, documents = prepare_database(settings, apply=apply_fixtures)
    emulator = EmulatorState.build(settings, database, documents)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        emulator.dispose()

    app = FastAPI(
        title="Twilio Conversations emulator",
        version=__version__,
        lifespan=lifespan,
        docs_url="/_emulator/docs",
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.database = database
    app.state.emulator = emulator
    # Twilio answers 404 for a trailing slash; it never redirects.
    app.router.redirect_slashes = False
    install_error_handlers(app)
    app.add_middleware(
        TwilioEdgeMiddleware,
        database=database,
        strict_auth=settings.auth_mode == "strict",
        max_body_bytes=settings.max_body_bytes,
        recorder=emulator,
        admin_token=settings.admin_token,
    )
    app.include_router(services_router)
    app.include_router(webhooks_router)
    app.include_router(configuration_router)
    app.include_router(control_router)
    app.include_router(deliveries_router)
    app.openapi = lambda: build_openapi(app)  # type: ignore[method-assign]
    return app


def create_app_from_environment() -> FastAPI:
    """The app of one of several workers: uvicorn calls this in each, with the settings in the environment.

    The parent applied the start-up fixtures; a worker that uvicorn restarts must not apply them again
    over what clients have changed since.
    """
    return create_app(load_settings(), apply_fixtures=False)
