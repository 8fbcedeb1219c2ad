"""Users, sessions and failed logins in an SQL store (SQLAlchemy Core); its schema is migrated by Alembic.

``WIZARD_DATABASE_URL`` is any SQLAlchemy URL: the default SQLite file for one process
(its folder is created, the file made readable by the owner only), PostgreSQL (or another
server) when several API processes share users, sessions and the login throttle.

Every method is blocking: call it through a thread (``run_in_threadpool``).
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Column,
    Engine,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    create_engine,
    delete,
    event,
    insert,
    select,
    update,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.pool import StaticPool

from backend.security.auth import passwords
from backend.security.auth.sessions import new_session_id, session_hash

log = logging.getLogger("wizard.auth")

metadata = MetaData()

users = Table(
    "wizard_users",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("username", String(150), nullable=False, unique=True),
    Column("password_hash", String(255), nullable=False),
    Column("created_at", Float, nullable=False),
)

sessions = Table(
    "wizard_sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),  # SHA-256 of the session id, never the id
    Column("user_id", Integer, ForeignKey("wizard_users.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False, index=True),
)

# No longer used: failed logins are counted by backend/security/auth/throttle.py (the `limits` library).
login_failures = Table(
    "wizard_login_failures",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    # SHA-256 of "user:<name>" or "addr:<ip>": a user name typed by mistake may be a password.
    Column("key", String(64), nullable=False, index=True),
    Column("at", Float, nullable=False, index=True),
)


@dataclass(frozen=True)
class Session:
    username: str
    expires_at: float


@dataclass(frozen=True)
class User:
    id: int
    username: str


def make_engine(url: str, timeout_s: float = 2.0) -> Engine:
    """An engine for ``url`` whose every wait is bounded by ``timeout_s`` (``WIZARD_STORE_TIMEOUT_S``):
    connecting, waiting for a pooled connection, each statement (see :mod:`backend.store.calls`);
    TCP keepalives on. For a SQLite file, its folder is created (owner only)."""
    from backend.store.calls import guard_engine

    parsed = make_url(url)
    # The pool pre-ping is guard_engine's checkout statement, made within the call's deadline.
    kwargs: dict[str, Any] = {"pool_pre_ping": False, "pool_timeout": timeout_s}
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": timeout_s}  # busy_timeout
        kwargs.pop("pool_timeout")
        if database in ("", ":memory:") or database.startswith("file::memory:"):
            kwargs["poolclass"] = StaticPool
        else:
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    elif parsed.get_backend_name() == "postgresql" and parsed.get_driver_name() == "psycopg2":
        kwargs["connect_args"] = {
            "connect_timeout": max(1, math.ceil(timeout_s)),  # libpq: whole seconds, client-side
            "keepalives": 1,
            "keepalives_idle": 30,
            "keepalives_interval": 10,
            "keepalives_count": 3,
        }
    engine = create_engine(parsed, **kwargs)
    guard_engine(engine, timeout_s)
    if parsed.get_backend_name() == "sqlite":

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            # Write-ahead log: readers never wait for a writer, and a commit costs no fsync of its
            # own (synchronous=NORMAL: durable at each checkpoint, never corrupted by a crash).
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

    return engine


class AuthStore:
    def __init__(self, url: str, timeout_s: float = 2.0) -> None:
        self.url = url
        self.engine = make_engine(url, timeout_s)
        self._created = False
        self._lock = threading.Lock()

    # --- schema -------------------------------------------------------------------------------

    def create(self) -> None:
        """Bring the schema up to date with the Alembic migrations, once per process.

        The tables above mirror the migrations (``backend/store/migrations/versions``) for the queries;
        the migrations alone create and change them. A store made by the old ``create_all`` is
        adopted, several processes may race (see :func:`backend.store.migrations.upgrade`).
        """
        with self._lock:
            if self._created:
                return
            from backend.store.migrations import upgrade

            upgrade(self.engine)
            self._restrict_file()
            self._created = True

    def _restrict_file(self) -> None:
        parsed = make_url(self.url)
        if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
            with contextlib.suppress(OSError):
                os.chmod(Path(parsed.database).expanduser(), 0o600)

    def dispose(self) -> None:
        self.engine.dispose()

    # --- users --------------------------------------------------------------------------------

    def ensure_user(self, username: str, password: str | None) -> str | None:
        """Make sure ``username`` exists; return the password generated for it, if one was.

        A password is generated only when the user is created here and none was given: so it
        is printed once per store, not on every start. A given password that no longer
        matches the stored one replaces it (the environment is the source of truth).
        """
        self.create()
        with self.engine.connect() as conn:
            row = conn.execute(select(users.c.id, users.c.password_hash).where(users.c.username == username)).first()
        if row is not None:
            if password is not None and not passwords.verify_password(row.password_hash, password):
                with self.engine.begin() as conn:
                    conn.execute(
                        update(users).where(users.c.id == row.id).values(password_hash=passwords.hash_password(password))
                    )
                log.info("the password of user '%s' was updated from the configuration", username)
            return None
        generated = passwords.generate_password() if password is None else None
        hashed = passwords.hash_password(password if password is not None else generated or "")
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(users).values(username=username, password_hash=hashed, created_at=time.time()))
        except IntegrityError:
            return None  # another process created it first (and printed its password)
        log.info("created user '%s'", username)
        return generated

    def authenticate(self, username: str, password: str) -> User | None:
        """The user if the password is right; the same work is done for an unknown user."""
        self.create()
        with self.engine.connect() as conn:
            row = conn.execute(
                select(users.c.id, users.c.username, users.c.password_hash).where(users.c.username == username)
            ).first()
        if not passwords.verify_password(row.password_hash if row else None, password) or row is None:
            return None
        if passwords.needs_rehash(row.password_hash):
            with self.engine.begin() as conn:
                conn.execute(update(users).where(users.c.id == row.id).values(password_hash=passwords.hash_password(password)))
        return User(row.id, row.username)

    def user_exists(self, username: str) -> bool:
        self.create()
        with self.engine.connect() as conn:
            return conn.execute(select(users.c.id).where(users.c.username == username)).first() is not None

    # --- administration (``python -m backend users …``) ----------------------------------------

    def add_user(self, username: str, password: str) -> bool:
        """Create a user; False if the name is taken."""
        self.create()
        hashed = passwords.hash_password(password)
        try:
            with self.engine.begin() as conn:
                if conn.execute(select(users.c.id).where(users.c.username == username)).first() is not None:
                    return False
                conn.execute(insert(users).values(username=username, password_hash=hashed, created_at=time.time()))
        except IntegrityError:
            return False
        return True

    def set_password(self, username: str, password: str) -> bool:
        """Replace a user's password and end every session of theirs; False if there is no such user."""
        self.create()
        hashed = passwords.hash_password(password)
        with self.engine.begin() as conn:
            row = conn.execute(select(users.c.id).where(users.c.username == username)).first()
            if row is None:
                return False
            conn.execute(update(users).where(users.c.id == row.id).values(password_hash=hashed))
            conn.execute(delete(sessions).where(sessions.c.user_id == row.id))
        return True

    def list_users(self) -> list[tuple[str, float]]:
        """``(user name, created at)`` of every local user, by name."""
        self.create()
        with self.engine.connect() as conn:
            rows = conn.execute(select(users.c.username, users.c.created_at).order_by(users.c.username)).all()
        return [(r.username, r.created_at) for r in rows]

    def remove_user(self, username: str) -> bool:
        """Remove a user and their sessions; False if there is no such user."""
        self.create()
        with self.engine.begin() as conn:
            row = conn.execute(select(users.c.id).where(users.c.username == username)).first()
            if row is None:
                return False
            conn.execute(delete(sessions).where(sessions.c.user_id == row.id))
            conn.execute(delete(users).where(users.c.id == row.id))
        return True

    # --- sessions -----------------------------------------------------------------------------

    def create_session(self, user: User, ttl_s: int) -> tuple[str, float]:
        """A new session id (returned once, stored only as a hash) and its expiry."""
        self.create()
        session_id = new_session_id()
        now = time.time()
        expires = now + ttl_s
        with self.engine.begin() as conn:
            conn.execute(delete(sessions).where(sessions.c.expires_at < now))
            conn.execute(
                insert(sessions).values(
                    token_hash=session_hash(session_id), user_id=user.id, created_at=now, expires_at=expires
                )
            )
        return session_id, expires

    def session(self, session_id: str) -> Session | None:
        """The live session of ``session_id``; an expired one is removed."""
        if not session_id or len(session_id) > 256:
            return None
        self.create()
        digest = session_hash(session_id)
        with self.engine.connect() as conn:
            row = conn.execute(
                select(users.c.username, sessions.c.expires_at)
                .select_from(sessions.join(users, users.c.id == sessions.c.user_id))
                .where(sessions.c.token_hash == digest)
            ).first()
        if row is None:
            return None
        if row.expires_at <= time.time():
            self.delete_session(session_id)
            return None
        return Session(row.username, row.expires_at)

    def delete_session(self, session_id: str) -> None:
        self.create()
        with self.engine.begin() as conn:
            conn.execute(delete(sessions).where(sessions.c.token_hash == session_hash(session_id)))
