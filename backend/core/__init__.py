"""The types every layer of a test shares: the run's context and where a driver connects.

This module sits below both ``backend.connectors`` and ``backend.hooks`` (it imports neither),
so that a hook can take a :class:`RunContext` and return a :class:`ReachedAddress` without
reaching back up into the connector layer (``docs/design.md``, "Layers").
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from backend.diagnosis.stages import Deadline, Diagnosis
from backend.security.policy import TargetPolicy
from backend.settings import Settings


@dataclass
class RunContext:
    """Everything one connection test needs, and everything it must clean up when it ends."""

    settings: Settings
    policy: TargetPolicy
    deadline: Deadline
    diagnosis: Diagnosis
    stack: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)
    """Closed when the test ends, also on error: tunnels, temp folders, late connections."""
    secrets: list[str] = field(default_factory=list)
    prepared: dict[str, Any] = field(default_factory=dict)
    """What the hooks prepared at the parameters stage, by hook name (e.g. ``SSL`` → ``hooks.tls.TLSMaterial``)."""
    on_connected: Callable[[Any, RunContext], Awaitable[None]] | None = None
    """Live capabilities (``backend.capabilities``): called by the connector with its open handle (the
    DB-API connection, the object store's client) once the test's last stage passed, inside the same
    deadline and before anything is closed. None for a plain test."""


@dataclass
class ReachedAddress:
    """Where a database driver connects once the dns, tcp and ssh stages passed.

    Either the address the target policy checked (reached directly, ``netprobe.reach_directly``)
    or the local end of an SSH tunnel (``hooks.ssh.reach_through_tunnel``): the two strategies
    return this same type, so a connector does not care which one ran.
    """

    host: str
    """The host as the user gave it (shown in messages; used to verify TLS certificates)."""
    address: str
    """The IP address the driver connects to."""
    port: int
    via_ssh: bool = False
