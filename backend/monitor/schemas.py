"""The bodies of the health endpoints (docs/design.md, "Connection health over time")."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from backend.saved.schemas import LastTest, Monitor


class HistoryEntry(BaseModel):
    """One kept test of a saved connection."""

    at: str = Field(description="ISO 8601, UTC", json_schema_extra={"format": "date-time"})
    trigger: Literal["user", "schedule", "cli"]
    code: str
    kind: str | None
    title: str
    elapsed_ms: int | None
    stages: list[dict[str, Any]]


class HistoryPage(BaseModel):
    """One page of a saved connection's kept tests, newest first."""

    count: int
    next: str | None
    previous: str | None
    results: list[HistoryEntry]


class Expiry(BaseModel):
    """Something that will stop the connection working when it expires."""

    what: Literal["tls_certificate", "password"]
    at: str = Field(description="ISO 8601, UTC", json_schema_extra={"format": "date-time"})
    days_left: int = Field(description="Whole days left, rounded down")


class ConnectionHealth(BaseModel):
    """A saved connection's health."""

    id: str
    name: str
    connector_type: str
    monitor: Monitor | None
    state: Literal["ok", "warning", "failing", "unknown"]
    since: str | None = Field(description="When it entered this state (ISO 8601, UTC); null when unknown")
    last_test: LastTest | None
    last_success_at: str | None
    elapsed_ms_p50: int | None = Field(description="Over the kept tests of the last 7 days")
    elapsed_ms_p95: int | None = Field(description="Over the kept tests of the last 7 days")
    expires: list[Expiry]


class HealthList(BaseModel):
    """Every saved connection of the caller (not paginated)."""

    results: list[ConnectionHealth]
