"""The registry of connectors: every module in this package that defines ``CONNECTOR``, and every
connector another installed package declares in the entry-point group ``connection_wizard.connectors``.

It is the one source the request union, ``supported_types``, ``functionalities``, the forms, the
URI reader, the capabilities examination, the command line, the tests and the UI read. Adding a
connector means adding one module here, or installing one package whose entry point names it::

    [project.entry-points."connection_wizard.connectors"]
    acme = "acme_wizard:CONNECTOR"     # a Connector instance, a Connector subclass, or a module defining CONNECTOR

A plugin that cannot be loaded, or that clashes with a connector already registered, is logged
and left out: one broken package never takes the wizard down.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
from functools import lru_cache
from importlib.metadata import EntryPoint, entry_points
from types import ModuleType
from typing import Any

from backend.connectors.base import Connector

ENTRY_POINT_GROUP = "connection_wizard.connectors"
"""The entry-point group through which other packages add connectors."""

log = logging.getLogger("wizard.connectors")


def _as_connector(found: object) -> Connector[Any] | None:
    """A ``Connector`` instance from what an entry point or a module names (an instance, a class, a module)."""
    if isinstance(found, ModuleType):
        found = getattr(found, "CONNECTOR", None)
    if isinstance(found, type) and issubclass(found, Connector):
        found = found()
    return found if isinstance(found, Connector) else None


def in_tree() -> list[Connector[Any]]:
    """The connectors of this package's own modules (private ``_`` modules and packages skipped)."""
    found: list[Connector[Any]] = []
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_") or info.name in ("base", "sql"):
            continue
        connector = _as_connector(importlib.import_module(f"{__name__}.{info.name}"))
        if connector is not None:
            found.append(connector)
    return found


def plugins() -> list[Connector[Any]]:
    """The connectors installed packages declare in :data:`ENTRY_POINT_GROUP`."""
    found: list[Connector[Any]] = []
    for point in entry_points(group=ENTRY_POINT_GROUP):
        connector = _load(point)
        if connector is not None:
            found.append(connector)
    return found


def _load(point: EntryPoint) -> Connector[Any] | None:
    try:
        loaded = point.load()
    except Exception as exc:  # noqa: BLE001 - a broken plugin package is logged and left out, never fatal
        log.error("connector plugin %r (%s) could not be loaded: %s: %s", point.name, point.value,
                  type(exc).__name__, exc)
        return None
    connector = _as_connector(loaded)
    if connector is None:
        log.error("connector plugin %r (%s) names no Connector (an instance, a subclass, or a module "
                  "defining CONNECTOR)", point.name, point.value)
    return connector


@lru_cache
def registry() -> dict[str, Connector[Any]]:
    """``connector_type`` → connector: the spec's in its order, then the plugins' (by ``position``)."""
    found: dict[str, Connector[Any]] = {}
    for connector in [*sorted(in_tree(), key=lambda c: c.position), *sorted(plugins(), key=lambda c: c.position)]:
        if connector.type_name in found:
            log.error("connector %s of %s left out: %s already names a connector", connector.type_name,
                      type(connector).__module__, connector.type_name)
            continue
        found[connector.type_name] = connector
    return found


def get(connector_type: str) -> Connector[Any] | None:
    return registry().get(connector_type)
