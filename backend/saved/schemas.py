"""The bodies of the saved-connections endpoints (docs/design.md, "Saved connections"), apart from any logic."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic_core import PydanticCustomError

from backend.spec.models import CreateConnectorSchema
from backend.spec.schemas import optional_not_null

NAME_MAX = 100
DESCRIPTION_MAX = 2000


def _check_name(value: str) -> str:
    """1–100 printable characters, not only spaces; nothing stripped (the name is kept as typed)."""
    if not value.strip():
        raise PydanticCustomError("name_empty", "The name may not be empty.")
    if len(value) > NAME_MAX:
        raise PydanticCustomError("name_too_long", f"The name may have at most {NAME_MAX} characters.")
    if not value.isprintable():
        raise PydanticCustomError("name_not_printable", "The name may not contain control characters or line breaks.")
    return value


def _check_description(value: str | None) -> str | None:
    if value is not None and len(value) > DESCRIPTION_MAX:
        raise PydanticCustomError("description_too_long", f"The description may have at most {DESCRIPTION_MAX} characters.")
    return value


Name = Annotated[
    str,
    AfterValidator(_check_name),
    Field(title="Name", examples=["Sales warehouse (read)"], json_schema_extra={"minLength": 1, "maxLength": NAME_MAX}),
]
Description = Annotated[
    str | None, AfterValidator(_check_description), Field(title="Description", json_schema_extra={"maxLength": DESCRIPTION_MAX})
]


class Monitor(BaseModel):
    """``monitor``: test the connection every so many minutes (docs/design.md, "Connection health over time")."""

    model_config = ConfigDict(strict=True, extra="forbid")

    every_minutes: int = Field(ge=1, le=1440, title="Every (minutes)", description="1 to 1440")


class SavedConnectionCreate(BaseModel):
    """``POST /api/v1/database_connections/``: a name, a description, and a ``Create…Connector`` body."""

    model_config = ConfigDict(strict=True)

    name: Name
    description: Description = None
    connection: CreateConnectorSchema  # type: ignore[valid-type]
    monitor: Monitor | None = None


class SavedConnectionUpdate(BaseModel):
    """``PATCH …/{id}/``: any of the three; ``connection`` is a whole body, its secrets possibly the mask."""

    model_config = ConfigDict(strict=True)

    # name and connection may be left out but not sent as null (the service refuses null): the
    # document says so (backend/api/openapi.py).
    name: Name | None = Field(default=None, json_schema_extra=optional_not_null)
    description: Description = None
    connection: CreateConnectorSchema | None = Field(default=None, json_schema_extra=optional_not_null)  # type: ignore[valid-type]
    monitor: Monitor | None = None
    """Null turns monitoring off; left out keeps it."""


class LastTest(BaseModel):
    """The verdict of the latest ``POST …/{id}/test/``."""

    code: str
    kind: str | None
    title: str
    at: str = Field(description="ISO 8601, UTC")
    elapsed_ms: int | None


class SavedConnection(BaseModel):
    """A saved connection as it reads: every stored secret as the mask ``**********``, an unset one as null."""

    id: str = Field(description="Opaque identifier")
    name: str
    description: str | None
    connector_type: str
    connection: dict[str, Any]
    owner: str
    created_at: str = Field(description="ISO 8601, UTC")
    updated_at: str = Field(description="ISO 8601, UTC")
    last_test: LastTest | None
    version: int = Field(
        description="1 at creation, +1 at each PATCH that changes something; also the ETag (\"<version>\") to send as If-Match"
    )
    monitor: Monitor | None = Field(description="Null: not monitored")


class SavedConnectionPage(BaseModel):
    """One page of the caller's saved connections, newest first."""

    count: int
    next: str | None
    previous: str | None
    results: list[SavedConnection]
