"""The SSH tunnel hook."""

from __future__ import annotations

from typing import TYPE_CHECKING

from backend.diagnosis import Failure
from backend.messages import Code
from backend.schemas import CreateSSHTunnelHooksSchema

if TYPE_CHECKING:
    from backend.connectors.base import TestContext
    from backend.connectors.sql import Endpoint


async def reach_through_tunnel(
    tunnel: CreateSSHTunnelHooksSchema, host: str, port: int, ctx: TestContext
) -> Endpoint:
    """The dns, tcp and ssh stages through an SSH tunnel; returns the tunnel's local end."""
    raise Failure(
        Code.INVALID_PARAMETERS,
        "SSH tunnels are not available yet.",
        fields={"hooks_params.SSHTunnel": "SSH tunnels are not available yet."},
    )
