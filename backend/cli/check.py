"""``python -m backend test``: placeholder, filled in by the command-line issue's work."""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser("test", help="Test a connection.")
    parser.set_defaults(handler=lambda args: 2)
