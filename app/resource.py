"""What a resource folder registers in the composition root: its routes, its tables, and what its
operations answer 400 for (for `/openapi.json`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from fastapi import APIRouter
from sqlalchemy import MetaData
from sqlmodel import SQLModel


@dataclass(frozen=True)
class BadRequest:
    """Why an operation answers 400, and a call of the real rule whose error is shown as the example."""

    description: str
    example: Callable[[], object]


@dataclass(frozen=True)
class Resource:
    router: APIRouter | None = None
    tables: tuple[type[SQLModel], ...] = ()
    # Tables read on every request to authenticate it: cached apart from the rest, which changes more.
    credential_tables: bool = False
    bad_requests: Mapping[str, BadRequest] = field(default_factory=dict)


def schema(resources: Sequence[Resource]) -> MetaData:
    """The tables of these resources, and only them: what the database creates, wipes and reloads."""
    metadata = MetaData()
    for resource in resources:
        for table in resource.tables:
            table.__table__.to_metadata(metadata)  # type: ignore[attr-defined]
    return metadata


def credential_tables(resources: Sequence[Resource]) -> tuple[str, ...]:
    return tuple(
        table.__table__.name  # type: ignore[attr-defined]
        for resource in resources
        if resource.credential_tables
        for table in resource.tables
    )
