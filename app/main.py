"""The composition root: settings, storage, the list of resources, the edge, the routers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from . import __version__
from .accounts.models import RESOURCE as accounts
from .activity.router import RESOURCE as activity
from .control.router import RESOURCE as control
from .control.state import EmulatorState
from .conversations.configuration.router import RESOURCE as account_webhooks
from .conversations.conversations.router import RESOURCE as conversations
from .conversations.messages.router import RESOURCE as messages
from .conversations.participants.router import RESOURCE as participants
from .conversations.scoped_webhooks.router import RESOURCE as scoped_webhooks
from .conversations.services.router import RESOURCE as services
from .conversations.webhooks.router import RESOURCE as service_webhooks
from .db import Database
from .edge.middleware import TwilioEdgeMiddleware
from .fixtures import NamedDocument, apply_document, load_fixture_path
from .openapi import build_openapi
from .resource import Resource, credential_tables, schema
from .settings import Settings, load_settings
from .twilio.errors import install_error_handlers

# Every resource the emulator serves: its routes, its tables (created, wiped by a reset, reloaded), and
# its operations' OpenAPI. Adding a resource is adding its line here.
RESOURCES: tuple[Resource, ...] = (
    accounts,
    services,
    service_webhooks,
    account_webhooks,
    conversations,
    participants,
    messages,
    scoped_webhooks,
    control,
    activity,
)


def open_database(settings: Settings) -> Database:
    return Database(settings.database_url, schema(RESOURCES), credential_tables=credential_tables(RESOURCES))


def prepare_database(settings: Settings, *, apply: bool = True) -> tuple[Database, list[NamedDocument]]:
    """Open the database, create the schema, and apply the start-up fixtures on top of what is there.

    Raises FixtureError for a refused document, before the server listens. `apply=False` only reads
    the documents (a reset still needs them): for workers, whose parent applied them once.
    """
    database = open_database(settings)
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
        await emulator.after_answer.settle()  # webhooks still in flight go out before the stop
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
    app.state.resources = RESOURCES
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
        after_answer=emulator.after_answer,
    )
    for resource in RESOURCES:
        if resource.router is not None:
            app.include_router(resource.router)
    app.openapi = lambda: build_openapi(app)  # type: ignore[method-assign]
    return app


def create_app_from_environment() -> FastAPI:
    """The app of one of several workers: uvicorn calls this in each, with the settings in the environment.

    The parent applied the start-up fixtures; a worker that uvicorn restarts must not apply them again
    over what clients have changed since.
    """
    return create_app(load_settings(), apply_fixtures=False)
