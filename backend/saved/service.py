"""Saved connections' logic: what the router, the capabilities engine and the command line call.

Every method here is blocking (SQL, and Fernet on each secret): the router runs it through
:meth:`SavedConnections.call`, which also turns a store that does not answer into a 503.

Owners: the caller's identity (``deps.current_user``: a user name, or ``oidc:<sub>`` for a bearer
token). With ``WIZARD_AUTH_ENABLED=false`` nobody is identified and every caller is the one
owner :data:`ANONYMOUS`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import ValidationError

from backend.connectors.base import ConnectorModel
from backend.errors import APIError, invalid_parameters_error, validation_details
from backend.messages import Code
from backend.models import parse_connector
from backend.saved.crypto import CannotDecrypt, KeyRing, KeyUnusable
from backend.saved.masking import masked, merge, unmasked
from backend.saved.schemas import LastTest, Monitor, SavedConnection, SavedConnectionCreate, SavedConnectionUpdate
from backend.schemas import ApplicationMessage
from backend.settings import Settings
from backend.storecall import call_store, first_line

if TYPE_CHECKING:  # SQLAlchemy loads when the store is first used, not at import
    from backend.auth import AuthService
    from backend.monitor.history import HistoryStore, Transition
    from backend.saved.store import SavedStore, Stored

log = logging.getLogger("wizard.saved")
T = TypeVar("T")

ANONYMOUS = "anonymous"
"""The one owner when authentication is off (``WIZARD_AUTH_ENABLED=false``)."""

DECRYPT_TITLE = "Cannot decrypt: the key changed"
STARTUP_SAMPLE = 50
"""Connections whose secrets are tried at start, newest first: a changed key is told at once."""


def owner_of(user: str | None) -> str:
    return user if user else ANONYMOUS


def iso(ts: float) -> str:
    """ISO 8601 in UTC with milliseconds: ``2026-12-03T07:40:00.123Z``."""
    return datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def not_found() -> APIError:
    """The one answer for a missing id, a malformed one and another owner's (nothing tells them apart)."""
    return APIError(404, Code.NOT_FOUND, "Not found", "There is no saved connection with this id.")


def cannot_decrypt(paths: list[str]) -> APIError:
    """409: the stored secrets cannot be read with today's keys; the user must enter them again."""
    fields = ", ".join(f"connection.{p}" for p in paths)
    return APIError(
        409,
        Code.INVALID_PARAMETERS,
        DECRYPT_TITLE,
        f"The stored value of {fields} cannot be decrypted with the wizard's secret key (WIZARD_SECRET_KEY "
        "changed, or lost the key it was saved with). Enter it again: edit the connection with the new value.",
        details={f"connection.{p}": ["Cannot decrypt: the key changed. Enter this secret again."] for p in paths},
    )


def key_unusable() -> APIError:
    """503: the key is malformed or its file unusable. Why (a server path, maybe) is in the log, not the answer."""
    return APIError(
        503,
        Code.SERVICE_BUSY,
        "Saved connections are unavailable",
        "The wizard's secret key cannot be used. An administrator must fix WIZARD_SECRET_KEY (the wizard's log "
        "says what is wrong with it).",
        headers={"Retry-After": "60"},
    )


@dataclass(frozen=True)
class Loaded:
    """A saved connection ready to test: its row and its body with the secrets decrypted."""

    stored: Stored
    model: ConnectorModel


class SavedConnections:
    """Create, read, change, delete and load saved connections, each owner's alone."""

    def __init__(self, settings: Settings, auth: AuthService) -> None:
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
        """At start: read (or make) the key, migrate the store, try the newest secrets; failures are logged, never fatal."""
        from sqlalchemy.exc import SQLAlchemyError

        try:
            keys: KeyRing | None = self.keys  # read now so that a bad key is told at start
        except KeyUnusable as exc:
            log.error("saved connections are unavailable: %s", exc)
            keys = None
        try:
            self._auth.store.create()
            tokens = self.store.newest_tokens(STARTUP_SAMPLE) if keys is not None else []
        except SQLAlchemyError as exc:
            log.error("the store cannot be migrated now: %s", first_line(exc, self.settings))
            return
        if keys is None:
            return
        unreadable = sum(1 for token in tokens if not keys.readable(token))
        if unreadable:
            log.error(
                "cannot decrypt: the key changed: %d of the %d newest stored secrets cannot be decrypted with "
                "WIZARD_SECRET_KEY (or the generated key file); their connections must be re-entered, or the old "
                "key added after the new one",
                unreadable,
                len(tokens),
            )

    async def call(self, fn: Callable[[], T]) -> T:
        """Run a blocking call in a thread; an unreachable store is a 503, a bad key a clear 503."""
        try:
            return await call_store(fn, self.settings, log, "store of saved connections")
        except KeyUnusable as exc:
            log.error("saved connections are unavailable: %s", exc)
            raise key_unusable() from None

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
            monitor=Monitor(every_minutes=stored.monitor_every_minutes) if stored.monitor_every_minutes else None,
        )

    def get(self, owner: str, connection_id: str) -> SavedConnection:
        stored = self.store.get(owner, connection_id)
        if stored is None:
            raise not_found()
        return self.view(stored)

    def page(self, owner: str, search: str | None, page: int, page_size: int) -> tuple[int, list[SavedConnection]]:
        count, rows = self.store.page(owner, search, (page - 1) * page_size, page_size)
        return count, [self.view(r) for r in rows]

    # --- writing -------------------------------------------------------------------------------

    def create(self, owner: str, body: SavedConnectionCreate) -> SavedConnection:
        from backend.saved.store import DuplicateName

        result = merge(body.connection.root, None, set())  # type: ignore[attr-defined]
        if result.errors:
            raise invalid_parameters_error(result.errors)
        tokens = {path: self.keys.encrypt(value) for path, value in result.new.items()}
        try:
            stored = self.store.create(
                owner, body.name, body.description, result.public, tokens,
                monitor_every_minutes=body.monitor.every_minutes if body.monitor else None,
            )
        except DuplicateName:
            raise invalid_parameters_error({"name": [f"You already have a saved connection named '{body.name}'."]}) from None
        return self.view(stored)

    def update(self, owner: str, connection_id: str, body: SavedConnectionUpdate) -> SavedConnection:
        from backend.saved.store import DuplicateName

        given = body.model_fields_set
        if "name" in given and body.name is None:
            raise invalid_parameters_error({"name": ["The name may not be null: leave it out to keep it."]})
        stored = self.store.get(owner, connection_id)
        if stored is None:
            raise not_found()
        public: dict[str, Any] | None = None
        tokens: dict[str, str] | None = None
        if "connection" in given and body.connection is not None:
            result = merge(body.connection.root, stored.public, set(stored.secrets), self._unreadable(stored))
            if result.errors:
                raise invalid_parameters_error(result.errors)
            public = result.public
            tokens = {path: stored.secrets[path] for path in result.keep}
            tokens.update({path: self.keys.encrypt(value) for path, value in result.new.items()})
        elif "connection" in given:
            raise invalid_parameters_error({"connection": ["The connection may not be null: leave it out to keep it."]})
        try:
            updated = self.store.update(
                owner,
                connection_id,
                name=body.name,
                description=body.description,
                set_description="description" in given,
                public=public,
                tokens=tokens,
                monitor_every_minutes=body.monitor.every_minutes if body.monitor else None,
                set_monitor="monitor" in given,
            )
        except DuplicateName:
            raise invalid_parameters_error({"name": [f"You already have a saved connection named '{body.name}'."]}) from None
        if updated is None:
            raise not_found()
        return self.view(updated)

    def _unreadable(self, stored: Stored) -> set[str]:
        """The stored secrets today's keys cannot decrypt (all of them if the key is unusable)."""
        try:
            keys = self.keys
        except KeyUnusable:
            return set(stored.secrets)
        return {path for path, token in stored.secrets.items() if not keys.readable(token)}

    def delete(self, owner: str, connection_id: str) -> None:
        if not self.store.delete(owner, connection_id):
            raise not_found()

    # --- testing -------------------------------------------------------------------------------

    def load(self, owner: str, connection_id: str, trigger: str | None = None) -> Loaded:
        """The connection with its secrets decrypted, to test (404, or 409 if the key changed).

        With ``trigger`` (a test, not capabilities), a secret no key decrypts is kept in the history
        as a ``CANNOT_DECRYPT`` error before the 409.
        """
        stored = self.store.get(owner, connection_id)
        if stored is None:
            raise not_found()
        return self.load_stored(stored, trigger)

    def load_by_name(self, owner: str, name: str, trigger: str | None = None) -> Loaded | None:
        """The same, found by name (the command line's ``--saved NAME``); None if the owner has none of that name."""
        stored = self.store.get_by_name(owner, name)
        return self.load_stored(stored, trigger) if stored is not None else None

    def load_stored(self, stored: Stored, trigger: str | None = None) -> Loaded:
        """A row read already, ready to test (see :meth:`load`)."""
        try:
            return self._loaded(stored)
        except APIError as exc:
            if trigger is not None and exc.status == 409:
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
            raise cannot_decrypt(failed)
        try:
            model = parse_connector(unmasked(stored.public, values))
        except ValidationError as exc:
            # A body saved by an older version that this one no longer accepts: name its fields.
            found = validation_details(dict(e) for e in exc.errors(include_input=False))
            raise invalid_parameters_error({f"connection.{path}": texts for path, texts in found.items()}) from None
        return Loaded(stored, model)

    def record(self, loaded: Loaded, message: ApplicationMessage, trigger: str = "user", at: float | None = None) -> None:
        """Keep a verdict as the connection's ``last_test`` (unless it was changed while the test ran),
        and in its history (``trigger``: user, schedule, cli). A history that cannot be written is
        logged and changes nothing else: the test ran, its verdict stands."""
        from backend.monitor.history import Verdict

        payload = message.payload if isinstance(message.payload, dict) else {}
        elapsed = payload.get("elapsed_ms")
        now = datetime.now(tz=UTC).timestamp() if at is None else at
        last = LastTest(
            code=message.code,
            kind=message.kind.value if message.kind is not None else None,
            title=message.title,
            at=iso(now),
            elapsed_ms=int(elapsed) if isinstance(elapsed, (int, float)) else None,
        )
        stored = loaded.stored
        self.store.record_test(stored.owner, stored.id, stored.updated_at, last.model_dump())
        self._keep(stored, Verdict.of(message), trigger, now)

    def keep_undecryptable(self, stored: Stored, trigger: str, at: float | None = None) -> None:
        """Keep a test that could not run because no key decrypts a stored secret (``CANNOT_DECRYPT``)."""
        from backend.monitor.history import CANNOT_DECRYPT, Verdict

        verdict = Verdict(CANNOT_DECRYPT, "error", DECRYPT_TITLE, None, [], None)
        self._keep(stored, verdict, trigger, datetime.now(tz=UTC).timestamp() if at is None else at)

    def _keep(self, stored: Stored, verdict: Any, trigger: str, at: float) -> None:
        try:
            transition = self.history.keep(stored.id, stored.owner, stored.name, verdict, trigger, at)
        except Exception as exc:  # noqa: BLE001 - the verdict stands whatever the history does
            log.error("the test of a saved connection could not be kept in its history: %s", _first(exc, self.settings))
            return
        if transition is not None:
            for observer in list(self.observers):
                try:
                    observer(transition)
                except Exception as exc:  # noqa: BLE001 - an alert never changes a verdict
                    log.error("an observer of state changes failed: %s", type(exc).__name__)

    # --- administration (``python -m backend secrets rotate``) --------------------------------------

    def rotate(self) -> tuple[int, list[str]]:
        """Re-encrypt every stored secret with the first key, in one transaction.

        Returns ``(rows changed, [])``; if any secret cannot be decrypted with the keys given,
        nothing is changed and ``(0, ["owner/name", …])`` names the connections concerned.
        Secrets already under the first key are left as they are: running it twice changes nothing.
        """
        keys = self.keys
        unreadable: list[str] = []

        def change(stored: Stored) -> dict[str, str] | None:
            if all(keys.is_current(t) for t in stored.secrets.values()):
                return None
            try:
                return {path: keys.rotate(token) for path, token in stored.secrets.items()}
            except CannotDecrypt:
                unreadable.append(f"{stored.owner}/{stored.name}")
                return None

        def all_read() -> None:
            if unreadable:
                raise _RotationAborted

        try:
            changed = self.store.rewrite_secrets(change, before_commit=all_read)
        except _RotationAborted:
            return 0, unreadable
        return changed, []


def _first(exc: BaseException, settings: Settings) -> str:
    from sqlalchemy.exc import SQLAlchemyError

    return first_line(exc, settings) if isinstance(exc, SQLAlchemyError) else type(exc).__name__


class _RotationAborted(Exception):
    """Some secret cannot be decrypted: the rotation's transaction is rolled back whole."""
