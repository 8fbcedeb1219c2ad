"""Saved connections' logic: what the router, the capabilities engine and the command line call.

Every method here is blocking (SQL, and Fernet on each secret): the router runs it through
:meth:`SavedConnections.call`, which also turns a store that does not answer into a 503.
Refusals are the domain exceptions of :mod:`backend.core.saved_errors`; the HTTP edge maps them.

Owners: the caller's identity (``deps.current_user``: a user name, or ``oidc:<sub>`` for a bearer
token). With ``WIZARD_AUTH_ENABLED=false`` nobody is identified and every caller is the one
owner :data:`ANONYMOUS`.

Concurrent edits (docs/design.md, "Concurrent edits"): every row has a ``version``; a PATCH reads
the row, works out what changes, and writes it with ``UPDATE … WHERE version = <what it read>``.
With ``If-Match`` a lost race is a 412; without, the PATCH is worked out again on the new row
(never a 412). Whatever secrets a PATCH writes are under the first key (what it keeps is
re-encrypted in the same statement), so a PATCH and ``secrets rotate`` cannot undo each other.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from pydantic import ValidationError

from backend.connectors.base import ConnectorModel
from backend.core.saved_errors import (
    CannotDecryptSecrets,
    InvalidSaved,
    KeyRequired,
    NotFound,
    PreconditionFailed,
    SecretKeyUnusable,
)
from backend.saved.crypto import CannotDecrypt, KeyRing, KeyUnusable
from backend.saved.masking import masked, merge, unmasked
from backend.saved.schemas import LastTest, Monitor, SavedConnection, SavedConnectionCreate, SavedConnectionUpdate
from backend.settings import Settings
from backend.spec.models import parse_connector
from backend.spec.schemas import ApplicationMessage
from backend.spec.validation import validation_details
from backend.store.calls import call_store, first_line

if TYPE_CHECKING:  # SQLAlchemy loads when the store is first used, not at import
    from backend.monitor.history import HistoryStore, Transition
    from backend.saved.store import KeyCount, SavedStore, Stored
    from backend.security.auth import AuthService

log = logging.getLogger("wizard.saved")
T = TypeVar("T")

ANONYMOUS = "anonymous"
"""The one owner when authentication is off (``WIZARD_AUTH_ENABLED=false``)."""

IfMatch = Literal["*"] | frozenset[int] | None
"""An ``If-Match`` header read: None (none sent), ``*`` (any version), or the versions it names."""

ROTATE_BATCH = 100
RACE_ATTEMPTS = 50
"""How often a PATCH without ``If-Match`` is worked out again after losing a race (then 503: the row is hot)."""


def uses_shared_store(database_url: str) -> bool:
    """Whether the store is another server than SQLite (several processes may share it)."""
    return not database_url.strip().lower().startswith("sqlite")


def require_key(settings: Settings) -> None:
    """No start without ``WIZARD_SECRET_KEY`` on a shared store (docs/design.md, "The store under faults")."""
    if uses_shared_store(settings.database_url) and not any(k.get_secret_value().strip() for k in settings.secret_key):
        raise KeyRequired


def owner_of(user: str | None) -> str:
    return user if user else ANONYMOUS


def iso(ts: float) -> str:
    """ISO 8601 in UTC with milliseconds: ``2026-12-03T07:40:00.123Z``."""
    return datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Loaded:
    """A saved connection ready to test: its row and its body with the secrets decrypted."""

    stored: Stored
    model: ConnectorModel


class SavedConnections:
    """Create, read, change, delete and load saved connections, each owner's alone."""

    def __init__(self, settings: Settings, auth: AuthService) -> None:
        require_key(settings)
        self.settings = settings
        self._auth = auth
        self._store: SavedStore | None = None
        self._keys: KeyRing | None = None
        self._lock = threading.Lock()
        self._history: HistoryStore | None = None
        self.observers: list[Callable[[Transition], None]] = []
        """Told each change of state a kept test made (the alerts; backend/monitor). Called in the recording thread."""

    # --- the store and the keys, opened on first use --------------------------------------------

    @property
    def store(self) -> SavedStore:
        with self._lock:
            if self._store is None:
                from backend.saved.store import SavedStore

                auth_store = self._auth.store
                self._store = SavedStore(auth_store.engine, auth_store.create)
            return self._store

    @property
    def history(self) -> HistoryStore:
        """The kept tests and health of saved connections (backend/monitor/history.py)."""
        store = self.store
        with self._lock:
            if self._history is None:
                from backend.monitor.history import HistoryStore

                self._history = HistoryStore(store.engine, self._auth.store.create)
            return self._history

    @property
    def keys(self) -> KeyRing:
        """The key ring (KeyUnusable if ``WIZARD_SECRET_KEY`` is malformed or the key file unusable)."""
        with self._lock:
            if self._keys is None:
                self._keys = KeyRing.from_settings(self.settings.secret_key, self.settings.database_url)
            return self._keys

    def startup(self) -> None:
        """At start: read (or make) the key, migrate the store, then count over every row, in one query,
        what needs which key. Failures are logged, never fatal (a missing key on a shared store is
        refused earlier, by :func:`require_key`)."""
        from sqlalchemy.exc import SQLAlchemyError

        try:
            keys: KeyRing | None = self.keys  # read now so that a bad key is told at start
        except KeyUnusable as exc:
            log.error("saved connections are unavailable: %s", exc)
            keys = None
        try:
            self._auth.store.create()
            if keys is None:
                return
            self.fill_key_ids()
            report = self.check()
        except SQLAlchemyError as exc:
            log.error("the store cannot be migrated now: %s", first_line(exc, self.settings))
            return
        if report.undecryptable:
            log.error(
                "cannot decrypt: the key changed: %d stored secret(s) of %d connection(s) cannot be decrypted with "
                "WIZARD_SECRET_KEY (or the generated key file); their connections must be re-entered, or the old "
                "key added after the new one",
                report.undecryptable,
                report.undecryptable_rows,
            )
        if report.old_key:
            log.warning(
                "%d stored secret(s) still need a key other than the first of WIZARD_SECRET_KEY: run "
                "`python -m backend secrets rotate` before dropping it",
                report.old_key,
            )

    async def call(self, fn: Callable[[], T]) -> T:
        """Run a blocking call in a thread, within the store's deadline; an unreachable store is a 503
        (``STORE_UNAVAILABLE``), a bad key a clear 503 (``SERVICE_BUSY``)."""
        try:
            return await call_store(fn, self.settings, log, "store of saved connections")
        except KeyUnusable as exc:
            log.error("saved connections are unavailable: %s", exc)
            raise SecretKeyUnusable from None

    # --- reading -------------------------------------------------------------------------------

    @staticmethod
    def view(stored: Stored) -> SavedConnection:
        """As the API shows it: every stored secret as the mask, never its value."""
        return SavedConnection(
            id=stored.id,
            name=stored.name,
            description=stored.description,
            connector_type=stored.connector_type,
            connection=masked(stored.public, stored.secrets),
            owner=stored.owner,
            created_at=iso(stored.created_at),
            updated_at=iso(stored.updated_at),
            last_test=LastTest(**stored.last_test) if stored.last_test else None,
            version=stored.version,
            monitor=Monitor(every_minutes=stored.monitor_every_minutes) if stored.monitor_every_minutes else None,
        )

    def _get(self, owner: str, connection_id: str) -> Stored:
        stored = self.store.get(owner, connection_id)
        if stored is None:
            raise NotFound
        return stored

    def get(self, owner: str, connection_id: str) -> SavedConnection:
        return self.view(self._get(owner, connection_id))

    async def read(self, owner: str, connection_id: str) -> SavedConnection:
        """``GET {id}/``: read on the caller's thread where the store answers without waiting (a SQLite file: a
        thread hop each way cost more than the read), else through the store's threads, under their deadline."""
        from backend.saved.store import WouldWait

        try:
            stored = self.store.get_at_once(owner, connection_id)
        except WouldWait:
            return await self.call(lambda: self.get(owner, connection_id))
        if stored is None:
            raise NotFound
        return self.view(stored)

    def page(self, owner: str, search: str | None, page: int, page_size: int) -> tuple[int, list[SavedConnection]]:
        count, rows = self.store.page(owner, search, (page - 1) * page_size, page_size)
        return count, [self.view(r) for r in rows]

    # --- writing -------------------------------------------------------------------------------

    def create(self, owner: str, body: SavedConnectionCreate) -> SavedConnection:
        from backend.saved.store import DuplicateName

        result = merge(body.connection.root, None, set())  # type: ignore[attr-defined]
        if result.errors:
            raise InvalidSaved(result.errors)
        keys = self.keys
        tokens = {path: keys.encrypt(value) for path, value in result.new.items()}
        try:
            stored = self.store.create(
                owner, body.name, body.description, result.public, tokens, keys.first_id,
                monitor_every_minutes=body.monitor.every_minutes if body.monitor else None,
            )
        except DuplicateName:
            raise _duplicate(body.name) from None
        return self.view(stored)

    def update(
        self, owner: str, connection_id: str, body: SavedConnectionUpdate, if_match: IfMatch = None
    ) -> SavedConnection:
        """Apply a PATCH in one guarded write. A PATCH that changes nothing writes nothing."""
        from backend.saved.store import DuplicateName

        given = body.model_fields_set
        if "name" in given and body.name is None:
            raise InvalidSaved({"name": ["The name may not be null: leave it out to keep it."]})
        if "connection" in given and body.connection is None:
            raise InvalidSaved({"connection": ["The connection may not be null: leave it out to keep it."]})
        for _ in range(RACE_ATTEMPTS):
            stored = self._get(owner, connection_id)
            _check_version(stored, if_match)
            values = self.changes(stored, body)
            if not values:
                return self.view(stored)
            try:
                written = self.store.update(owner, connection_id, stored.version, values)
            except DuplicateName:
                raise _duplicate(body.name or "") from None
            if written:
                return self.get(owner, connection_id)
            # Lost a race: someone changed (or deleted) the row between the read and the write.
            if if_match is not None and if_match != "*":
                _check_version(self._get(owner, connection_id), if_match)
        from backend.core.saved_errors import StoreUnavailable

        raise StoreUnavailable("store of saved connections", self.settings.retry_after_s)

    def changes(self, stored: Stored, body: SavedConnectionUpdate) -> dict[str, Any]:
        """The columns a PATCH changes on ``stored`` (empty: it changes nothing). Any field added to the
        PATCH body (e.g. ``monitor``) adds its column here; the version follows whatever is non-empty."""
        from backend.saved.store import dump

        given = body.model_fields_set
        values: dict[str, Any] = {}
        if "name" in given and body.name is not None and body.name != stored.name:
            values["name"] = body.name
        if "description" in given and body.description != stored.description:
            values["description"] = body.description
        if "monitor" in given:  # null turns monitoring off
            minutes = body.monitor.every_minutes if body.monitor is not None else None
            if minutes != stored.monitor_every_minutes:
                values["monitor_every_minutes"] = minutes
        if "connection" in given and body.connection is not None:
            result = merge(body.connection.root, stored.public, set(stored.secrets), self._unreadable(stored))
            if result.errors:
                raise InvalidSaved(result.errors)
            if result.public != stored.public or self._secrets_change(stored, result.keep, result.new):
                keys = self.keys
                # What is kept is re-encrypted under the first key in the same write: a PATCH never
                # writes back a ciphertext that only an old key reads.
                tokens = {path: _current(keys, stored.secrets[path]) for path in result.keep}
                tokens.update({path: keys.encrypt(value) for path, value in result.new.items()})
                values.update(
                    connector_type=result.public["connector_type"],
                    connection=dump(result.public),
                    secrets=dump(tokens),
                    key_id=keys.first_id if tokens else None,
                    last_test=None,
                )
        return values

    def _secrets_change(self, stored: Stored, keep: set[str], new: dict[str, str]) -> bool:
        """Whether the secrets after the PATCH differ from the stored ones (a value sent again is no change)."""
        if keep | set(new) != set(stored.secrets):
            return True
        for path, value in new.items():
            try:
                if self.keys.decrypt(stored.secrets[path]) != value:
                    return True
            except CannotDecrypt:
                return True
        return False

    def _unreadable(self, stored: Stored) -> set[str]:
        """The stored secrets today's keys cannot decrypt (all of them if the key is unusable)."""
        try:
            keys = self.keys
        except KeyUnusable:
            return set(stored.secrets)
        return {path for path, token in stored.secrets.items() if not keys.readable(token)}

    def delete(self, owner: str, connection_id: str, if_match: IfMatch = None) -> None:
        if if_match is None or if_match == "*":
            if not self.store.delete(owner, connection_id):
                raise NotFound
            return
        stored = self._get(owner, connection_id)
        _check_version(stored, if_match)
        if not self.store.delete(owner, connection_id, stored.version):
            _check_version(self._get(owner, connection_id), if_match)
            raise NotFound  # pragma: no cover - changed back to a named version and deleted meanwhile

    # --- testing -------------------------------------------------------------------------------

    def load(self, owner: str, connection_id: str, trigger: str | None = None) -> Loaded:
        """The connection with its secrets decrypted, to test (NotFound, or CannotDecryptSecrets).

        With ``trigger`` (a test, not capabilities), a secret no key decrypts is kept in the history
        as a ``CANNOT_DECRYPT`` error before the refusal.
        """
        return self.load_stored(self._get(owner, connection_id), trigger)

    def load_by_name(self, owner: str, name: str, trigger: str | None = None) -> Loaded | None:
        """The same, found by name (the command line's ``--saved NAME``); None if the owner has none of that name."""
        stored = self.store.get_by_name(owner, name)
        return self.load_stored(stored, trigger) if stored is not None else None

    def load_stored(self, stored: Stored, trigger: str | None = None) -> Loaded:
        """A row read already, ready to test (see :meth:`load`)."""
        try:
            return self._loaded(stored)
        except CannotDecryptSecrets:
            if trigger is not None:
                self.keep_undecryptable(stored, trigger)
            raise

    def _loaded(self, stored: Stored) -> Loaded:
        values: dict[str, str] = {}
        failed: list[str] = []
        for path, token in stored.secrets.items():
            try:
                values[path] = self.keys.decrypt(token)
            except CannotDecrypt:
                failed.append(path)
        if failed:
            raise CannotDecryptSecrets(failed)
        try:
            model = parse_connector(unmasked(stored.public, values))
        except ValidationError as exc:
            # A body saved by an older version that this one no longer accepts: name its fields.
            found = validation_details(dict(e) for e in exc.errors(include_input=False))
            raise InvalidSaved({f"connection.{path}": texts for path, texts in found.items()}) from None
        return Loaded(stored, model)

    def record(self, loaded: Loaded, message: ApplicationMessage, trigger: str = "user", at: float | None = None) -> None:
        """Keep a verdict as the connection's ``last_test`` (unless it was changed while the test ran),
        and in its history (``trigger``: user, schedule, cli). A history that cannot be written is
        logged and changes nothing else: the test ran, its verdict stands."""
        from backend.monitor.history import Verdict

        now = datetime.now(tz=UTC).timestamp() if at is None else at
        stored = loaded.stored
        self.store.record_test(stored.owner, stored.id, stored.version, self.last_test_of(message, now))
        self._keep(stored, Verdict.of(message), trigger, now)

    @staticmethod
    def last_test_of(message: ApplicationMessage, at: float) -> dict[str, Any]:
        """A verdict as the connection's ``last_test``."""
        payload = message.payload if isinstance(message.payload, dict) else {}
        elapsed = payload.get("elapsed_ms")
        return LastTest(
            code=message.code,
            kind=message.kind.value if message.kind is not None else None,
            title=message.title,
            at=iso(at),
            elapsed_ms=int(elapsed) if isinstance(elapsed, (int, float)) else None,
        ).model_dump()

    def keep_undecryptable(self, stored: Stored, trigger: str, at: float | None = None) -> None:
        """Keep a test that could not run because no key decrypts a stored secret (``CANNOT_DECRYPT``)."""
        from backend.monitor.history import CANNOT_DECRYPT, Verdict

        verdict = Verdict(CANNOT_DECRYPT, "error", CannotDecryptSecrets.TITLE, None, [], None)
        self._keep(stored, verdict, trigger, datetime.now(tz=UTC).timestamp() if at is None else at)

    def _keep(self, stored: Stored, verdict: Any, trigger: str, at: float) -> None:
        try:
            transition = self.history.keep(stored.id, stored.owner, stored.name, verdict, trigger, at)
        except Exception as exc:  # noqa: BLE001 - the verdict stands whatever the history does
            log.error("the test of a saved connection could not be kept in its history: %s", _first(exc, self.settings))
            return
        if transition is not None:
            self.notify(transition)

    def notify(self, transition: Transition) -> None:
        """Tell the observers (the alerts) of a change of state, once it is kept."""
        for observer in list(self.observers):
            try:
                observer(transition)
            except Exception as exc:  # noqa: BLE001 - an alert never changes a verdict
                log.error("an observer of state changes failed: %s", type(exc).__name__)

    # --- the keys (start-up, ``python -m backend secrets check|rotate``) -----------------------------

    def fill_key_ids(self) -> int:
        """Name the key of rows stored before key fingerprints were (one guarded write each); how many."""
        keys = self.keys
        filled = 0
        for stored in self._rows_not_under(None):
            found = [keys.key_id_of(token) for token in stored.secrets.values()]
            if not found or None in found:
                continue  # some secret no key reads: counted as undecryptable until the right key comes
            # The oldest key any of its secrets needs: what the row still depends on.
            key_id = max(found, key=lambda k: keys.ids.index(k or ""))
            filled += self.store.rewrite_secrets(stored, stored.secrets, key_id)
        return filled

    def _rows_not_under(self, key_id: str | None) -> Iterator[Stored]:
        after = 0
        while True:
            batch = self.store.not_under(key_id, after, ROTATE_BATCH)
            if not batch:
                return
            for seq, stored in batch:
                after = seq
                yield stored

    def check(self) -> KeyReport:
        """How many secrets each configured key decrypts and how many none does: one query over every row."""
        keys = self.keys
        counts: list[KeyCount] = self.store.key_counts()
        by_key = {c.key_id: c for c in counts}
        per_key = [(key_id, by_key[key_id].secrets if key_id in by_key else 0) for key_id in keys.ids]
        none = [c for c in counts if c.key_id not in keys.ids]
        return KeyReport(
            keys=per_key,
            undecryptable=sum(c.secrets for c in none),
            undecryptable_rows=sum(c.rows for c in none),
            old_key=sum(n for _key, n in per_key[1:]),
        )

    def rotate(self) -> tuple[int, list[str]]:
        """Re-encrypt, row by row with guarded writes, every secret not under the first key.

        Returns ``(rows re-encrypted, ["owner/name", …] whose secrets no key decrypts)``. A row that a
        PATCH changes meanwhile is read again (the PATCH wrote it under the first key already, or
        rotation re-encrypts what it wrote). Running it twice changes nothing; nothing's ``version``
        or ``updated_at`` changes.
        """
        keys = self.keys
        rotated = 0
        unreadable: list[str] = []
        for first_read in self._rows_not_under(keys.first_id):
            stored: Stored | None = first_read
            while stored is not None and stored.secrets and stored.key_id != keys.first_id:
                try:
                    tokens = {path: _current(keys, token) for path, token in stored.secrets.items()}
                except CannotDecrypt:
                    unreadable.append(f"{stored.owner}/{stored.name}")
                    break
                if self.store.rewrite_secrets(stored, tokens, keys.first_id):
                    rotated += tokens != stored.secrets
                    break
                stored = self.store.get(stored.owner, stored.id)  # changed meanwhile: read it again
        return rotated, unreadable


@dataclass(frozen=True)
class KeyReport:
    """What ``secrets check`` says."""

    keys: list[tuple[str, int]]
    """Each configured key's fingerprint, in order, and how many stored secrets it encrypted."""
    undecryptable: int
    """Secrets that no configured key decrypts."""
    undecryptable_rows: int
    old_key: int
    """Secrets that need a key other than the first (``--strict`` fails on them)."""


def _current(keys: KeyRing, token: str) -> str:
    """``token`` under the first key (as it is when it already is; CannotDecrypt if no key reads it)."""
    return token if keys.is_current(token) else keys.rotate(token)


def _duplicate(name: str) -> InvalidSaved:
    return InvalidSaved({"name": [f"You already have a saved connection named '{name}'."]})


def parse_if_match(header: str | None) -> IfMatch:
    """``If-Match``: ``"3"``, ``W/"3"``, ``*``, or a comma-separated list of them (None: no header).
    An entity tag that is not a version matches nothing (a 412, never a 500)."""
    if header is None:
        return None
    versions: set[int] = set()
    for part in header.split(","):
        tag = part.strip()
        if tag == "*":
            return "*"
        if tag.startswith("W/"):
            tag = tag[2:]
        tag = tag.strip('"')
        if tag.isdigit() and len(tag) < 19:
            versions.add(int(tag))
    return frozenset(versions)


def _check_version(stored: Stored, if_match: IfMatch) -> None:
    if if_match is None or if_match == "*":
        return
    if stored.version not in if_match:
        raise PreconditionFailed(stored.version)


def _first(exc: BaseException, settings: Settings) -> str:
    from sqlalchemy.exc import SQLAlchemyError

    return first_line(exc, settings) if isinstance(exc, SQLAlchemyError) else type(exc).__name__

