"""``python -m backend users|secrets|db``: local users, the secrets key, the store's schema.

- ``users add NAME`` / ``users set-password NAME``: the password is ONE line read from standard
  input (never an argument: command lines are visible to every user of the machine); from a
  terminal it is asked for without echo.
- ``users list``, ``users remove NAME`` (also ends their sessions and deletes their saved connections,
  so that a later user of the same name inherits nothing).
- ``secrets rotate``: re-encrypt every stored secret with the first key of ``WIZARD_SECRET_KEY``,
  row by row with guarded writes (an edit made meanwhile is never undone, nor undoes it); secrets
  already under that key are left alone, so running it twice is harmless. Exit 1 if some secret
  no key decrypts (they are named; the others are re-encrypted).
- ``secrets check [--strict] [--json]``: how many stored secrets each key of ``WIZARD_SECRET_KEY``
  decrypts and how many none does (one query over every row). Exit 1 when any secret is
  undecryptable, also when any still needs an old key with ``--strict``; else 0.
- ``db upgrade``: apply the Alembic migrations (the API also does at start).

Exit status: 0 done, 2 bad input (a clear message on standard error), 1 the store failed.
Never a traceback.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Callable
from typing import Any

from backend.settings import Settings

RESERVED = ("oidc:",)
"""Bearer-token users are ``oidc:<sub>``: no local user may take such a name."""


class BadInput(Exception):
    """Exit 2 with this message."""


def register(subparsers: Any) -> None:
    users = subparsers.add_parser("users", help="Manage local users (passwords read from standard input).")
    users_sub = users.add_subparsers(dest="users_command", metavar="ACTION", required=True)
    add = users_sub.add_parser("add", help="Add a user; the password is one line of standard input.")
    add.add_argument("name")
    add.set_defaults(handler=_run(_users_add))
    set_password = users_sub.add_parser("set-password", help="Set a user's password (one line of standard input).")
    set_password.add_argument("name")
    set_password.set_defaults(handler=_run(_users_set_password))
    listing = users_sub.add_parser("list", help="List the local users.")
    listing.set_defaults(handler=_run(_users_list))
    remove = users_sub.add_parser("remove", help="Remove a user, their sessions and their saved connections.")
    remove.add_argument("name")
    remove.set_defaults(handler=_run(_users_remove))

    secrets = subparsers.add_parser("secrets", help="The secrets key of saved connections.")
    secrets_sub = secrets.add_subparsers(dest="secrets_command", metavar="ACTION", required=True)
    rotate = secrets_sub.add_parser("rotate", help="Re-encrypt every stored secret with the first key of WIZARD_SECRET_KEY.")
    rotate.set_defaults(handler=_run(_secrets_rotate))
    check = secrets_sub.add_parser("check", help="Count the stored secrets each key decrypts, and those none does.")
    check.add_argument("--strict", action="store_true", help="Also fail (exit 1) when a secret still needs an old key.")
    check.add_argument("--json", action="store_true", help="Print one JSON object instead of text.")
    check.set_defaults(handler=_run(_secrets_check))

    db = subparsers.add_parser("db", help="The store's schema (Alembic migrations).")
    db_sub = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    upgrade = db_sub.add_parser("upgrade", help="Apply the migrations to WIZARD_DATABASE_URL.")
    upgrade.set_defaults(handler=_run(_db_upgrade))


def _run(command: Callable[[argparse.Namespace, Settings], int]) -> Callable[[argparse.Namespace], int]:
    """Settings from the environment, then ``command``; every failure a message and an exit status."""

    def handler(args: argparse.Namespace) -> int:
        from sqlalchemy.exc import ArgumentError, SQLAlchemyError

        from backend.cli import load_settings
        from backend.saved.crypto import KeyUnusable
        from backend.store.calls import StoreDeadline

        settings = load_settings()
        if settings is None:
            return 2
        try:
            return command(args, settings)
        except BadInput as exc:
            return _fail(str(exc), 2)
        except KeyUnusable as exc:
            return _fail(f"the secrets key cannot be used: {exc}", 2)
        except StoreDeadline:
            return _fail("the store did not answer in time", 1)
        except ArgumentError:
            return _fail("WIZARD_DATABASE_URL is not a valid SQLAlchemy URL", 2)
        except SQLAlchemyError as exc:
            from backend.store.calls import first_line

            return _fail(f"the store failed: {first_line(exc, settings)}", 1)

    return handler


def _fail(message: str, status: int) -> int:
    sys.stderr.write(f"error: {message}\n")
    return status


def _check_name(name: str) -> str:
    if not name or len(name) > 150:
        raise BadInput("a user name has 1 to 150 characters")
    if not name.isprintable() or name != name.strip():
        raise BadInput("a user name may not contain control characters or start or end with a space")
    if name.startswith(RESERVED):
        raise BadInput("user names starting with 'oidc:' are reserved for bearer-token users")
    return name


def _read_password() -> str:
    """One line of standard input, its line break removed; asked for without echo from a terminal."""
    if sys.stdin.isatty():
        password = getpass.getpass("Password: ")
    else:
        line = sys.stdin.readline()
        password = line[:-1] if line.endswith("\n") else line
        password = password[:-1] if password.endswith("\r") else password
    if not password:
        raise BadInput("the password (one line of standard input) is empty")
    if len(password) > 1024:
        raise BadInput("the password has more than 1024 characters")
    return password


def _auth_store(settings: Settings) -> Any:
    from backend.security.auth.store import AuthStore

    return AuthStore(settings.database_url, settings.store_timeout_s)


def _users_add(args: argparse.Namespace, settings: Settings) -> int:
    name = _check_name(args.name)
    password = _read_password()
    if not _auth_store(settings).add_user(name, password):
        raise BadInput(f"user '{name}' already exists (use `users set-password {name}`)")
    print(f"user '{name}' added")
    return 0


def _users_set_password(args: argparse.Namespace, settings: Settings) -> int:
    name = args.name
    password = _read_password()
    if not _auth_store(settings).set_password(name, password):
        raise BadInput(f"there is no user '{name}'")
    print(f"password of '{name}' changed; their sessions have ended")
    return 0


def _users_list(args: argparse.Namespace, settings: Settings) -> int:
    from backend.saved.service import iso

    for name, created_at in _auth_store(settings).list_users():
        print(f"{name}\t{iso(created_at)}")
    return 0


def _users_remove(args: argparse.Namespace, settings: Settings) -> int:
    from backend.saved.store import SavedStore

    name = args.name
    store = _auth_store(settings)
    # The connections first: should removing the user then fail, a later user of that name must
    # still never inherit them.
    deleted = SavedStore(store.engine, store.create).delete_owner(name)
    if not store.remove_user(name):
        raise BadInput(f"there is no user '{name}'")
    print(f"user '{name}' removed, with their sessions and {deleted} saved connection(s)")
    return 0


def _saved(settings: Settings) -> Any:
    from backend.saved.service import SavedConnections
    from backend.security.auth import AuthService

    return SavedConnections(settings, AuthService(settings))


def _secrets_rotate(args: argparse.Namespace, settings: Settings) -> int:
    saved = _saved(settings)
    saved.fill_key_ids()
    changed, unreadable = saved.rotate()
    print(f"{changed} saved connection(s) re-encrypted with the first key")
    if unreadable:
        return _fail(
            "the keys of WIZARD_SECRET_KEY cannot decrypt the secrets of " + ", ".join(unreadable)
            + " (add the key they were saved with after the new one, or re-enter or delete those connections)",
            1,
        )
    return 0


def _secrets_check(args: argparse.Namespace, settings: Settings) -> int:
    import json

    saved = _saved(settings)
    saved.fill_key_ids()
    report = saved.check()
    failed = report.undecryptable > 0 or (args.strict and report.old_key > 0)
    if args.json:
        print(json.dumps({
            "keys": [
                {"position": n, "key_id": key_id, "secrets": count}
                for n, (key_id, count) in enumerate(report.keys, start=1)
            ],
            "undecryptable": report.undecryptable,
            "undecryptable_connections": report.undecryptable_rows,
            "needs_old_key": report.old_key,
            "ok": not failed,
        }))
        return 1 if failed else 0
    for n, (key_id, count) in enumerate(report.keys, start=1):
        role = "first, encrypts" if n == 1 else "old, decrypts only"
        print(f"key {n} ({role}, id {key_id}): decrypts {count} secret(s)")
    print(f"no key: {report.undecryptable} secret(s) of {report.undecryptable_rows} connection(s) cannot be decrypted")
    if report.old_key:
        print(f"{report.old_key} secret(s) still need an old key: run `python -m backend secrets rotate`")
    return 1 if failed else 0


def _db_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    from backend.store.migrations import upgrade

    store = _auth_store(settings)
    try:
        before, after = upgrade(store.engine)
        store.create()  # nothing left to migrate: makes a new SQLite file the owner's alone (0600)
    finally:
        store.dispose()
    print(f"store at revision {after}" + (f" (was {before or 'empty'})" if before != after else " (already up to date)"))
    return 0
