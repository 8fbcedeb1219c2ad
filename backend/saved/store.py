"""The saved-connections table (SQLAlchemy Core), in the store of ``WIZARD_DATABASE_URL``.

A row holds the connection body with every secret set to null (``connection``, JSON) and the
secrets apart (``secrets``, JSON ``{path: Fernet token}``): the clear values never reach the
database. Every query names the owner: another owner's row is never read, changed or counted.
The schema is made by the Alembic migrations (``backend/store/migrations``); the table below mirrors
revisions ``0002_saved_connections`` and ``0003_saved_versions`` for the queries.

Every write that depends on what was read is one guarded statement (``UPDATE … WHERE version =
:seen``): two writers cannot both win, and nothing is read, changed and written back in between.

Every method is blocking: call it through a thread.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    Engine,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    bindparam,
    create_engine,
    delete,
    event,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.pool import StaticPool

metadata = MetaData()

saved_connections = Table(
    "wizard_saved_connections",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("id", String(32), nullable=False, unique=True),
    Column("owner", String(300), nullable=False),
    Column("name", String(100), nullable=False),
    Column("description", Text, nullable=True),
    Column("connector_type", String(64), nullable=False),
    Column("connection", Text, nullable=False),
    Column("secrets", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("last_test", Text, nullable=True),
    Column("version", Integer, nullable=False, server_default="1"),
    Column("name_folded", String(400), nullable=False, server_default=""),
    Column("key_id", String(16), nullable=True),
    Column("secret_count", Integer, nullable=False, server_default="0"),
    Column("monitor_every_minutes", Integer, nullable=True),  # revision 0004_monitoring (backend/monitor)
    UniqueConstraint("owner", "name", name="uq_wizard_saved_connections_owner_name"),
    Index("ix_wizard_saved_connections_owner_created", "owner", "created_at"),  # as migration 0002 made it
    Index("ix_wizard_saved_connections_key_id", "key_id"),  # as migration 0003 made it
)

ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,32}")

_RECORD_TEST = (
    update(saved_connections)
    .where(saved_connections.c.owner == bindparam("o"), saved_connections.c.id == bindparam("i"),
           saved_connections.c.version == bindparam("v"))
    .values(last_test=bindparam("t"))
)

_GET_ONE = select(saved_connections).where(saved_connections.c.owner == bindparam("o"), saved_connections.c.id == bindparam("i"))
"""``GET {id}/``'s read, built once: building a statement (each column and comparison made and checked) cost
more than running it."""


def fold(text: str) -> str:
    """What ``?search=`` compares: NFC-normalised, ``casefold()``ed (``Ünïcødé`` and ``ünïcødé`` alike)."""
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", text).casefold())


class WouldWait(Exception):
    """The store cannot answer this read without waiting (see :meth:`SavedStore.get_at_once`)."""


def _read_only(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA query_only = ON")
    cursor.close()


class DuplicateName(Exception):
    """The owner already has a connection of this name."""


@dataclass(frozen=True)
class Stored:
    """One row, decoded (secrets still encrypted)."""

    id: str
    owner: str
    name: str
    description: str | None
    connector_type: str
    public: dict[str, Any]
    """The body with every secret null."""
    secrets: dict[str, str]
    """Secret path → Fernet token."""
    created_at: float
    updated_at: float
    last_test: dict[str, Any] | None
    version: int = 1
    key_id: str | None = None
    """The fingerprint of the key that encrypted ``secrets`` (None: not known yet, or no secret)."""
    secrets_text: str = "{}"
    """``secrets`` as stored: what a guarded rewrite of the secrets compares."""
    monitor_every_minutes: int | None = None
    """``monitor.every_minutes`` (null: not monitored)."""

    @classmethod
    def of(cls, row: Row[Any]) -> Stored:
        return cls(
            id=row.id,
            owner=row.owner,
            name=row.name,
            description=row.description,
            connector_type=row.connector_type,
            public=json.loads(row.connection),
            secrets=json.loads(row.secrets),
            created_at=row.created_at,
            updated_at=row.updated_at,
            last_test=json.loads(row.last_test) if row.last_test else None,
            version=row.version,
            key_id=row.key_id,
            secrets_text=row.secrets,
            monitor_every_minutes=row.monitor_every_minutes,
        )


@dataclass(frozen=True)
class KeyCount:
    """``secrets check``: how many rows and secrets the key ``key_id`` encrypted (None: not known yet)."""

    key_id: str | None
    rows: int
    secrets: int


def new_id() -> str:
    """An opaque id: 22 random URL-safe characters (nothing to guess, nothing to count)."""
    return secrets.token_urlsafe(16)


def dump(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


class SavedStore:
    """The owner-scoped queries. ``ensure_schema`` runs the migrations before the first query."""

    def __init__(self, engine: Engine, ensure_schema: Callable[[], None]) -> None:
        self.engine = engine
        self._ensure_schema = ensure_schema
        self._schema_ready = False
        self._at_once_engine: Engine | None = None
        self._at_once_lock = threading.Lock()
        self._at_once_in_use = threading.Lock()

    def _ensure(self) -> None:
        self._ensure_schema()
        self._schema_ready = True

    def _owned(self, owner: str, connection_id: str) -> Any:
        return (saved_connections.c.owner == owner) & (saved_connections.c.id == connection_id)

    def create(
        self,
        owner: str,
        name: str,
        description: str | None,
        public: dict[str, Any],
        tokens: dict[str, str],
        key_id: str | None,
        monitor_every_minutes: int | None = None,
    ) -> Stored:
        self._ensure()
        now = time.time()
        values = {
            "id": new_id(),
            "owner": owner,
            "name": name,
            "name_folded": fold(name),
            "description": description,
            "connector_type": public["connector_type"],
            "connection": dump(public),
            "secrets": dump(tokens),
            "created_at": now,
            "updated_at": now,
            "last_test": None,
            "version": 1,
            "key_id": key_id if tokens else None,
            "secret_count": len(tokens),
            "monitor_every_minutes": monitor_every_minutes,
        }
        try:
            with self.engine.begin() as conn:
                self._check_name(conn, owner, name, None)
                conn.execute(insert(saved_connections).values(**values))
        except IntegrityError:
            raise DuplicateName(name) from None  # a race with the check: the constraint decides
        return Stored(id=values["id"], owner=owner, name=name, description=description,
                      connector_type=public["connector_type"], public=public, secrets=tokens,
                      created_at=now, updated_at=now, last_test=None, version=1,
                      key_id=values["key_id"], secrets_text=values["secrets"],
                      monitor_every_minutes=monitor_every_minutes)

    def _check_name(self, conn: Connection, owner: str, name: str, except_id: str | None) -> None:
        """Refuse a duplicate before the constraint does (an IntegrityError aborts a PostgreSQL transaction)."""
        query = select(saved_connections.c.id).where(saved_connections.c.owner == owner, saved_connections.c.name == name)
        if except_id is not None:
            query = query.where(saved_connections.c.id != except_id)
        if conn.execute(query).first() is not None:
            raise DuplicateName(name)

    def get(self, owner: str, connection_id: str) -> Stored | None:
        if not ID_PATTERN.fullmatch(connection_id):
            return None
        self._ensure()
        with self.engine.connect() as conn:
            row = conn.execute(_GET_ONE, {"o": owner, "i": connection_id}).first()
        return Stored.of(row) if row is not None else None

    def get_at_once(self, owner: str, connection_id: str) -> Stored | None:
        """:meth:`get` for a caller that must not wait, the event loop: on a SQLite file whose schema is made, a
        read on a connection of its own that never waits for a lock (in write-ahead-log mode a reader needs none)
        nor for a pooled connection. :class:`WouldWait` where it would (another store, a lock held all the same,
        the schema not made yet): the caller reads through the store's threads, under their deadline."""
        if not ID_PATTERN.fullmatch(connection_id):
            return None
        engine = self._at_once()
        if engine is None or not self._at_once_in_use.acquire(blocking=False):  # one connection, one reader at once
            raise WouldWait
        try:
            with engine.connect() as conn:
                row = conn.execute(_GET_ONE, {"o": owner, "i": connection_id}).first()
        except SQLAlchemyError:  # "database is locked" at once (no busy wait), or anything else: told by the threads
            raise WouldWait from None
        finally:
            self._at_once_in_use.release()
        return Stored.of(row) if row is not None else None

    def _at_once(self) -> Engine | None:
        """The engine of :meth:`get_at_once`: one connection, no busy timeout, read only (None: not a SQLite file)."""
        if self._at_once_engine is not None or not self._schema_ready:
            return self._at_once_engine
        url, database = self.engine.url, self.engine.url.database or ""
        if url.get_backend_name() != "sqlite" or database in ("", ":memory:") or database.startswith("file::memory:"):
            return None
        with self._at_once_lock:
            if self._at_once_engine is None:
                engine = create_engine(url, poolclass=StaticPool, connect_args={"check_same_thread": False, "timeout": 0})
                event.listen(engine, "connect", _read_only)
                self._at_once_engine = engine
            return self._at_once_engine

    def get_by_name(self, owner: str, name: str) -> Stored | None:
        self._ensure()
        with self.engine.connect() as conn:
            row = conn.execute(
                select(saved_connections).where(saved_connections.c.owner == owner, saved_connections.c.name == name)
            ).first()
        return Stored.of(row) if row is not None else None

    def page(self, owner: str, search: str | None, offset: int, limit: int) -> tuple[int, list[Stored]]:
        """``(how many match, the rows of this page)``, newest first; ``search`` folded (``%`` and ``_`` plain)."""
        self._ensure()
        where = saved_connections.c.owner == owner
        if search:
            where = where & saved_connections.c.name_folded.contains(fold(search), autoescape=True)
        newest_first = (saved_connections.c.created_at.desc(), saved_connections.c.seq.desc())
        # A deferred join: the page is chosen on the narrow columns alone, then only its rows are read whole.
        # Ordering the full rows made PostgreSQL sort every row of the owner (a sort spilled to disk at 10,000).
        chosen = select(saved_connections.c.seq).where(where).order_by(*newest_first).offset(offset).limit(limit)
        keys = chosen.subquery()
        with self.engine.connect() as conn:
            count = conn.execute(select(func.count()).select_from(saved_connections).where(where)).scalar_one()
            rows = conn.execute(
                select(saved_connections)
                .join(keys, saved_connections.c.seq == keys.c.seq)
                .order_by(*newest_first)
            ).all()
        return int(count), [Stored.of(r) for r in rows]

    def update(self, owner: str, connection_id: str, seen_version: int, values: dict[str, Any]) -> bool:
        """Apply ``values`` if the row is still at ``seen_version``, in ONE guarded statement: ``version``
        +1, ``updated_at`` now. False: the row changed (or went) since it was read; nothing was written."""
        if not ID_PATTERN.fullmatch(connection_id):
            return False
        self._ensure()
        values = {**values, "updated_at": time.time(), "version": seen_version + 1}
        if "name" in values:
            values["name_folded"] = fold(values["name"])
        if "secrets" in values:
            values["secret_count"] = len(json.loads(values["secrets"]))
        try:
            with self.engine.begin() as conn:
                if "name" in values:
                    self._check_name(conn, owner, values["name"], connection_id)
                changed = conn.execute(
                    update(saved_connections)
                    .where(self._owned(owner, connection_id), saved_connections.c.version == seen_version)
                    .values(**values)
                ).rowcount
        except IntegrityError:
            raise DuplicateName(str(values.get("name", ""))) from None
        return bool(changed)

    def get_many(self, connection_ids: list[str]) -> dict[str, Stored]:
        """The rows of these ids (whoever owns them), in ONE query: the scheduler's claimed tests."""
        self._ensure()
        with self.engine.connect() as conn:
            rows = conn.execute(select(saved_connections).where(saved_connections.c.id.in_(connection_ids))).all()
        return {row.id: Stored.of(row) for row in rows}

    def record_test(self, owner: str, connection_id: str, seen_version: int, last_test: dict[str, Any]) -> None:
        """Keep a verdict as ``last_test``, unless the connection changed (or went) while it ran.
        Neither ``version`` nor ``updated_at`` changes: a test is not an edit."""
        self._ensure()
        with self.engine.begin() as conn:
            self.record_test_in(conn, owner, connection_id, seen_version, last_test)

    @staticmethod
    def record_test_in(conn: Connection, owner: str, connection_id: str, seen_version: int, last_test: dict[str, Any]) -> None:
        """:meth:`record_test` within the caller's transaction (one prepared statement, cached)."""
        conn.execute(_RECORD_TEST, {"o": owner, "i": connection_id, "v": seen_version, "t": dump(last_test)})

    def delete(self, owner: str, connection_id: str, seen_version: int | None = None) -> bool:
        """Delete the row (only at ``seen_version`` when given); False: nothing was deleted."""
        if not ID_PATTERN.fullmatch(connection_id):
            return False
        self._ensure()
        where = self._owned(owner, connection_id)
        if seen_version is not None:
            where = where & (saved_connections.c.version == seen_version)
        with self.engine.begin() as conn:
            return bool(conn.execute(delete(saved_connections).where(where)).rowcount)

    def delete_owner(self, owner: str) -> int:
        """Delete every connection of ``owner`` (a removed user's: a later user of the same name must not inherit them)."""
        self._ensure()
        with self.engine.begin() as conn:
            return int(conn.execute(delete(saved_connections).where(saved_connections.c.owner == owner)).rowcount)

    # --- the keys of the secrets (start-up check, ``secrets check``, ``secrets rotate``) -------------

    def key_counts(self) -> list[KeyCount]:
        """Per key fingerprint, the rows and secrets it encrypted: over every row, in one query."""
        self._ensure()
        c = saved_connections.c
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(c.key_id, func.count(), func.sum(c.secret_count)).where(c.secret_count > 0).group_by(c.key_id)
            ).all()
        return [KeyCount(r[0], int(r[1]), int(r[2] or 0)) for r in rows]

    def not_under(self, key_id: str | None, after_seq: int, limit: int) -> list[tuple[int, Stored]]:
        """Rows with secrets not (known to be) under ``key_id`` (None: whose key is not known yet), by
        ``seq`` after ``after_seq``: one batch."""
        self._ensure()
        c = saved_connections.c
        which = c.key_id.is_(None) if key_id is None else (c.key_id.is_(None)) | (c.key_id != key_id)
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(saved_connections)
                .where(c.secret_count > 0, which, c.seq > after_seq)
                .order_by(c.seq)
                .limit(limit)
            ).all()
        return [(row.seq, Stored.of(row)) for row in rows]

    def rewrite_secrets(self, stored: Stored, tokens: dict[str, str], key_id: str | None) -> bool:
        """Store ``tokens`` (the same secrets, re-encrypted) if the row still holds exactly what was read:
        one guarded statement. ``version`` and ``updated_at`` stay: re-encrypting is not an edit.
        False: a PATCH (or another rotation) changed the row in between; read it again."""
        self._ensure()
        c = saved_connections.c
        with self.engine.begin() as conn:
            changed = conn.execute(
                update(saved_connections)
                .where(c.id == stored.id, c.version == stored.version, c.secrets == stored.secrets_text)
                .values(secrets=dump(tokens), key_id=key_id)
            ).rowcount
        return bool(changed)
