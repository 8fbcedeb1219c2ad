"""The command line: ``python -m backend <command>`` (also installed as ``connection-wizard``).

Each command lives in a module of its own that defines ``register(subparsers)``; the
module is imported only when the parser is built, and each command's handler returns the
process's exit status.

- ``test``: test a connection in-process (:mod:`backend.cli.check`).
- ``check --all``: test every saved connection of a user now (:mod:`backend.cli.check_all`).
- ``users``, ``secrets``, ``db``: manage local users, the secrets key and the store's schema
  (:mod:`backend.cli.admin`).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from backend.settings import Settings

COMMAND_MODULES = ("backend.cli.check", "backend.cli.admin", "backend.cli.check_all")


def load_settings() -> Settings | None:
    """The ``WIZARD_*`` settings; None when some are invalid (said on standard error, naming them)."""
    from backend.settings import SettingsError, load_settings

    try:
        return load_settings()
    except SettingsError as exc:
        sys.stderr.write(f"error: {exc.line}\n")
        return None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="connection-wizard",
        description="Connection Wizard: test database and storage connections, manage the wizard's store.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        module = importlib.import_module(name)
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; its exit status (argparse's own errors exit 2)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    status: int = args.handler(args)
    return status
