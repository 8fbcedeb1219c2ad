"""The registry of connectors: every module in this package that defines ``CONNECTOR``.

It is the one source the request union, ``supported_types``, ``functionalities``, the
tests and the UI read. Adding a connector means adding one module here.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import lru_cache

from backend.connectors.base import Connector


@lru_cache
def registry() -> dict[str, Connector]:
    """``connector_type`` → connector, in the spec's order."""
    found: list[Connector] = []
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_") or info.name in ("base", "sql"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        connector = getattr(module, "CONNECTOR", None)
        if isinstance(connector, Connector):
            found.append(connector)
    found.sort(key=lambda c: c.position)
    return {c.type_name: c for c in found}


def get(connector_type: str) -> Connector | None:
    return registry().get(connector_type)
