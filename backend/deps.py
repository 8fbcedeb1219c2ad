"""The API's dependencies, in one place."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from backend.service import TestService
from backend.settings import Settings


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_service(request: Request) -> TestService:
    service: TestService = request.app.state.service
    return service


async def current_user(request: Request) -> str | None:
    """The authenticated user's name (authentication slots in here)."""
    return None


SettingsDep = Annotated[Settings, Depends(get_settings)]
ServiceDep = Annotated[TestService, Depends(get_service)]
UserDep = Annotated[str | None, Depends(current_user)]
