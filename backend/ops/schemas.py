"""Response schemas of the health endpoints (no logic)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class HealthStatus(BaseModel):
    status: Literal["ok"] = Field(description="Always `ok`: the process serves, and for `ready/` its store answers.")
