"""``python -m backend users|secrets|db``: placeholder, filled in by the saved-connections issue's work."""

from __future__ import annotations

from typing import Any


def register(subparsers: Any) -> None:
    del subparsers
