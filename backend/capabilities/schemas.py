"""The live-capabilities contract (docs/design.md, "Live capabilities"): request bodies and the answer. No logic."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr

from backend.spec.models import CreateConnectorSchema
from backend.spec.schemas import ApplicationMessage


class CapabilityStatus(StrEnum):
    available = "available"
    unavailable = "unavailable"
    unknown = "unknown"
    """Could not be told: the reason says why (a failed test, a catalog the user may not read…)."""
    not_supported = "not_supported"
    """The connector cannot do it at all, as its ``functionalities`` say."""


class AccessName(StrEnum):
    """Basic access, in this order in every answer."""

    READ = "READ"
    WRITE = "WRITE"
    CREATE = "CREATE"
    DELETE = "DELETE"


class CapabilityItem(BaseModel):
    name: str = Field(title="Name")
    status: CapabilityStatus
    reason: str = Field(title="Reason", description="Why, in plain words, naming the objects concerned.")
    fix: str | None = Field(
        default=None, title="Fix", description="What an administrator can paste to make it available; null when nothing is to fix."
    )


class ConnectionCapabilities(BaseModel):
    verdict: ApplicationMessage = Field(description="The connection test, stages and all.")
    scope: str = Field(
        title="Scope", description='What was examined: the user, the database and the schema, e.g. "capreader on '
        'database accdb, schema sales".')
    capabilities: list[CapabilityItem] = Field(title="Capabilities", description="One per FunctionalityCapabilityName, in the spec's order.")
    functionalities: list[CapabilityItem] = Field(title="Functionalities", description="One per FunctionalityName, in the spec's order.")
    access: list[CapabilityItem] = Field(title="Access", description="READ, WRITE, CREATE, DELETE.")
    elapsed_ms: int = Field(title="Elapsed Ms")
    schemas: list[str] | None = Field(
        default=None, title="Schemas",
        description="The schemas this user can see in the database, to choose from (null where the connector has "
        "none or they could not be listed).")


class CapabilityOptions(BaseModel):
    """What to examine: the body of ``POST …/{id}/capabilities/``."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    schema_name: StrictStr | None = Field(
        default=None,
        alias="schema",
        title="Schema",
        description="The schema to examine; null: the connection's own (its schema field, the user's default, "
        "or the database for MySQL/MariaDB). Unknown: the verdict SCHEMA_NOT_FOUND naming `schema`.",
    )
    write_probe: StrictBool = Field(
        default=False,
        title="Write Probe",
        description="Confirm by creating and removing throwaway objects named wizard_probe_<random>; "
        "false: nothing is written, the answer comes from the privilege catalog.",
    )


class CapabilitiesRequest(CapabilityOptions):
    """The body of ``POST …/capabilities/``: a connection and what to examine."""

    connection: CreateConnectorSchema  # type: ignore[valid-type]
