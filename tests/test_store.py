"""The store of saved connections, run twice: on SQLite and on the suite's real PostgreSQL.

Migrations (fresh, adopted from ``create_all``, idempotent), the encrypted secrets (nothing in clear in
the database), owner scoping, names, pagination, the PATCH merge and the rebind rule, key rotation.
"""

from __future__ import annotations

import itertools
import os
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr
from sqlalchemy import inspect, text

from backend.core.saved_errors import CannotDecryptSecrets, InvalidSaved, NotFound, SavedError
from backend.saved.crypto import CannotDecrypt, KeyRing, KeyUnusable, key_file_for
from backend.saved.masking import MASK, secret_paths
from backend.saved.schemas import SavedConnectionCreate, SavedConnectionUpdate
from backend.saved.service import SavedConnections
from backend.saved.store import WouldWait
from backend.security.auth import AuthService
from backend.security.auth.store import AuthStore, make_engine
from backend.security.auth.store import metadata as auth_metadata
from backend.settings import Settings
from backend.store.calls import Watchdog
from backend.store.migrations import current, head, upgrade
from tests.conftest import DB, make_settings
from tests.helpers import raw_dump, tunnelled_body, wait_until
from tests.servers.common import LOOPBACK
from tests.servers.postgres import SUPERPASS, SUPERUSER

CANARY = "Canary-Pw-7f3a"
SSH_CANARY = "Ssh-Canary-c81d"
_databases = itertools.count()


def canary_body(**overrides: Any) -> dict[str, Any]:
    """A PostgreSQL body with a canary password and an SSH tunnel with a canary password."""
    return tunnelled_body(CANARY, SSH_CANARY, **overrides)


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A new, empty store: a SQLite file, or a database of its own on the suite's PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/store/wizard.db"
    postgres: DB = request.getfixturevalue("postgres")
    name = f"wizard_store_{os.getpid()}_{next(_databases)}"
    postgres.server.sql(f"CREATE DATABASE {name}")
    return f"postgresql+psycopg2://{SUPERUSER}:{SUPERPASS}@{LOOPBACK}:{postgres.port}/{name}"


def saved_for(url: str, tmp_path: Path, secret_key: str | None = None) -> SavedConnections:
    settings = make_settings(database_url=url, secret_key=secret_key or KEY_A)
    return SavedConnections(settings, AuthService(settings))


@pytest.fixture
def saved(store_url: str, tmp_path: Path) -> Iterator[SavedConnections]:
    service = saved_for(store_url, tmp_path)
    yield service
    service.store.engine.dispose()


def status(exc: SavedError) -> int:
    """The HTTP status the edge gives the domain exception (backend/api/errors.py)."""
    return {InvalidSaved: 422, NotFound: 404, CannotDecryptSecrets: 409}[type(exc)]


KEY_A, KEY_B, KEY_C = (Fernet.generate_key().decode() for _ in range(3))


def create(saved: SavedConnections, owner: str = "alice", name: str = "warehouse", **body: Any) -> Any:
    return saved.create(owner, SavedConnectionCreate.model_validate({"name": name, "connection": canary_body(**body)}))


def patch(saved: SavedConnections, connection_id: str, owner: str = "alice", **fields: Any) -> Any:
    return saved.update(owner, connection_id, SavedConnectionUpdate.model_validate(fields))


# --- migrations ------------------------------------------------------------------------------


def test_migrations_make_every_table_and_are_idempotent(store_url: str) -> None:
    engine = make_engine(store_url)
    try:
        assert upgrade(engine) == (None, head())
        assert upgrade(engine) == (head(), head())  # again: nothing to do
        tables = set(inspect(engine).get_table_names())
        assert {"wizard_users", "wizard_sessions", "wizard_login_failures", "wizard_saved_connections"} <= tables
        assert current(engine) == head()
    finally:
        engine.dispose()


def test_a_store_made_by_create_all_is_adopted_with_its_users(store_url: str) -> None:
    engine = make_engine(store_url)
    try:
        auth_metadata.create_all(engine)  # what the wizard did before migrations
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO wizard_users (username, password_hash, created_at) VALUES ('old', 'h', 1.0)"))
        store = AuthStore(store_url)
        assert store.user_exists("old")  # the first use migrates: stamped, then upgraded
        assert current(engine) == head()
        assert "wizard_saved_connections" in inspect(engine).get_table_names()
        store.dispose()
    finally:
        engine.dispose()


# --- create, read, secrets at rest ----------------------------------------------------------------


def test_secrets_are_encrypted_at_rest_and_masked_on_read(saved: SavedConnections, store_url: str) -> None:
    made = create(saved)
    assert made.connection["password"] == MASK
    assert made.connection["hooks_params"]["SSHTunnel"]["password"] == MASK
    assert made.connection["hooks_params"]["SSHTunnel"]["pkey"] is None  # unset: null, not the mask
    assert made.connection["host"] == "db.example.invalid" and made.owner == "alice"
    loaded = saved.load("alice", made.id)
    assert loaded.model.password == CANARY  # type: ignore[attr-defined]
    assert loaded.model.hooks_params.SSHTunnel.password == SSH_CANARY  # type: ignore[union-attr]
    dump = raw_dump(store_url)
    assert b"db.example.invalid" in dump  # the dump really holds the row…
    assert CANARY.encode() not in dump and SSH_CANARY.encode() not in dump  # …but no secret in clear


def test_secret_paths_cover_nested_hooks() -> None:
    paths = secret_paths("PostgreSQLConnector")
    assert {"password", "hooks_params.SSHTunnel.password", "hooks_params.SSHTunnel.pkey",
            "hooks_params.SSHTunnel.pkey_password", "hooks_params.SSL.key"} <= set(paths)
    assert "token" in secret_paths("DatabricksConnector")
    assert {"storage_account_key", "storage_connection_string"} <= set(secret_paths("ADLSFSConnector"))


def test_a_mask_with_nothing_stored_is_refused_on_create(saved: SavedConnections) -> None:
    with pytest.raises(SavedError) as refused:
        create(saved, password=MASK)
    assert status(refused.value) == 422 and list(refused.value.details or {}) == ["connection.password"]
    assert saved.page("alice", None, 1, 50)[0] == 0  # nothing half-saved


def test_names_are_unique_per_owner(saved: SavedConnections) -> None:
    create(saved, owner="alice", name="same")
    create(saved, owner="bob", name="same")  # another owner may use it
    with pytest.raises(SavedError) as refused:
        create(saved, owner="alice", name="same")
    assert status(refused.value) == 422 and list(refused.value.details or {}) == ["name"]
    other = create(saved, owner="alice", name="other")
    with pytest.raises(SavedError) as renamed:
        patch(saved, other.id, name="same")
    assert list(renamed.value.details or {}) == ["name"]
    assert saved.get("alice", other.id).name == "other"


def test_owners_see_only_their_own(saved: SavedConnections) -> None:
    mine = create(saved, owner="alice")
    for call in (
        lambda: saved.get("bob", mine.id),
        lambda: saved.load("bob", mine.id),
        lambda: patch(saved, mine.id, owner="bob", name="taken"),
        lambda: saved.delete("bob", mine.id),
    ):
        with pytest.raises(SavedError) as refused:
            call()
        assert status(refused.value) == 404
    assert saved.page("bob", None, 1, 50) == (0, [])
    assert saved.get("alice", mine.id).name == "warehouse"  # untouched


def test_pages_are_newest_first_and_search_the_name(saved: SavedConnections) -> None:
    for i in range(7):
        create(saved, name=f"Conn {i}{' sales' if i % 2 else ''}")
    count, first = saved.page("alice", None, 1, 3)
    assert count == 7 and [c.name for c in first] == ["Conn 6", "Conn 5 sales", "Conn 4"]
    assert [c.name for c in saved.page("alice", None, 3, 3)[1]] == ["Conn 0"]
    count, found = saved.page("alice", "SALES", 1, 50)
    assert count == 3 and {c.name for c in found} == {"Conn 1 sales", "Conn 3 sales", "Conn 5 sales"}
    assert saved.page("alice", "%", 1, 50)[0] == 0  # a LIKE wildcard is a plain character


# --- PATCH: the mask keeps, a value replaces, null clears; the rebind rule -----------------------------


def test_patch_mask_keeps_value_replaces_null_clears(saved: SavedConnections) -> None:
    made = create(saved)
    body = canary_body(password=MASK, database="otherdb")
    body["hooks_params"]["SSHTunnel"]["password"] = MASK
    kept = patch(saved, made.id, connection=body)
    assert kept.connection["database"] == "otherdb" and kept.connection["password"] == MASK
    assert saved.load("alice", made.id).model.password == CANARY  # type: ignore[attr-defined]
    body["password"] = "Replaced-Pw-1"
    patch(saved, made.id, connection=body)
    assert saved.load("alice", made.id).model.password == "Replaced-Pw-1"  # type: ignore[attr-defined]
    body["password"] = MASK
    body["hooks_params"]["SSHTunnel"]["password"] = None  # optional: null clears it
    cleared = patch(saved, made.id, connection=body)
    assert cleared.connection["hooks_params"]["SSHTunnel"]["password"] is None and cleared.connection["password"] == MASK
    loaded = saved.load("alice", made.id).model
    assert loaded.hooks_params.SSHTunnel.password is None and loaded.password == "Replaced-Pw-1"  # type: ignore[attr-defined, union-attr]


def test_patch_that_moves_a_masked_secret_is_refused(saved: SavedConnections) -> None:
    made = create(saved)
    body = canary_body(host="attacker.example.invalid", password=MASK)
    body["hooks_params"]["SSHTunnel"]["password"] = MASK
    with pytest.raises(SavedError) as refused:
        patch(saved, made.id, connection=body)
    # the DB password follows the DB host; the SSH password goes to the unchanged SSH server: kept
    assert status(refused.value) == 422 and list(refused.value.details or {}) == ["connection.password"]
    body["hooks_params"]["SSHTunnel"]["host"] = "evil-bastion.example.invalid"
    with pytest.raises(SavedError) as both:
        patch(saved, made.id, connection=body)
    assert set(both.value.details or {}) == {"connection.password", "connection.hooks_params.SSHTunnel.password"}
    assert saved.get("alice", made.id).connection["host"] == "db.example.invalid"  # nothing half-saved
    body["password"] = CANARY
    body["hooks_params"]["SSHTunnel"]["password"] = SSH_CANARY
    moved = patch(saved, made.id, connection=body)  # re-entered: allowed
    assert moved.connection["host"] == "attacker.example.invalid"


@pytest.mark.parametrize("field,value", [("port", 6543), ("protocol", "postgresql+pg8000")])
def test_every_target_field_counts_for_the_rebind_rule(saved: SavedConnections, field: str, value: Any) -> None:
    made = create(saved)
    body = canary_body(password=MASK, **{field: value})
    body["hooks_params"]["SSHTunnel"]["password"] = MASK
    with pytest.raises(SavedError) as refused:
        patch(saved, made.id, connection=body)
    assert list(refused.value.details or {}) == ["connection.password"]


@pytest.mark.parametrize(
    "body,moved,secret",
    [
        ({"connector_type": "S3FSConnector", "bucket": "exports", "region": "eu-west-1", "remote_path": "out/",
          "aws_access_key_id": "AKIAEXAMPLE", "aws_secret_access_key": CANARY}, {"bucket": "elsewhere"},
         "aws_secret_access_key"),
        ({"connector_type": "S3FSConnector", "bucket": "exports", "region": "eu-west-1", "remote_path": "out/",
          "aws_access_key_id": "AKIAEXAMPLE", "aws_secret_access_key": CANARY}, {"region": "us-east-1"},
         "aws_secret_access_key"),
        ({"connector_type": "ADLSFSConnector", "storage_container_name": "c", "storage_account_name": "acct",
          "storage_account_key": CANARY, "remote_path": "out/"}, {"storage_account_name": "evil"}, "storage_account_key"),
    ],
)
def test_object_stores_follow_the_rebind_rule(
    saved: SavedConnections, body: dict[str, Any], moved: dict[str, Any], secret: str
) -> None:
    made = saved.create("alice", SavedConnectionCreate.model_validate({"name": "store", "connection": body}))
    assert made.connection[secret] == MASK
    with pytest.raises(SavedError) as refused:
        patch(saved, made.id, connection={**body, secret: MASK, **moved})
    assert list(refused.value.details or {}) == [f"connection.{secret}"]
    kept = patch(saved, made.id, connection={**body, secret: MASK, "remote_path": "elsewhere/"})  # not a target
    assert kept.connection["remote_path"] == "elsewhere/"


def test_changing_the_connector_type_refuses_every_mask(saved: SavedConnections) -> None:
    made = create(saved)
    body = canary_body(connector_type="MySQLMariaDBConnector", port=3306, password=MASK, protocol="mysql+pymysql")
    body["hooks_params"]["SSHTunnel"]["password"] = MASK
    with pytest.raises(SavedError) as refused:
        patch(saved, made.id, connection=body)
    assert set(refused.value.details or {}) == {"connection.password", "connection.hooks_params.SSHTunnel.password"}


def test_patch_name_or_description_alone_keeps_the_connection(saved: SavedConnections) -> None:
    made = create(saved)
    changed = patch(saved, made.id, name="renamed", description="kept for the team")
    assert changed.name == "renamed" and changed.description == "kept for the team"
    assert patch(saved, made.id, description=None).description is None  # null clears the description
    assert saved.load("alice", made.id).model.password == CANARY  # type: ignore[attr-defined]


# --- keys ----------------------------------------------------------------------------------------


def test_rotation_re_encrypts_with_the_first_key_and_is_idempotent(store_url: str, tmp_path: Path) -> None:
    with_a = saved_for(store_url, tmp_path, KEY_A)
    made = create(with_a)
    create(with_a, owner="bob", name="b")
    both = saved_for(store_url, tmp_path, f"{KEY_B},{KEY_A}")
    assert both.rotate() == (2, [])
    assert both.rotate() == (0, [])  # already under B: nothing changes
    only_b = saved_for(store_url, tmp_path, KEY_B)
    assert only_b.load("alice", made.id).model.password == CANARY  # type: ignore[attr-defined]
    only_c = saved_for(store_url, tmp_path, KEY_C)
    with pytest.raises(SavedError) as refused:
        only_c.load("alice", made.id)
    assert status(refused.value) == 409 and "cannot decrypt" in refused.value.title.lower()
    assert set(refused.value.details or {}) == {"connection.password", "connection.hooks_params.SSHTunnel.password"}
    assert only_c.get("alice", made.id).connection["password"] == MASK  # still listed, same shape
    assert only_c.rotate() == (0, ["alice/warehouse", "bob/b"])  # nothing changed
    assert only_b.load("bob", only_b.page("bob", None, 1, 1)[1][0].id).model.password == CANARY  # type: ignore[attr-defined]
    for service in (with_a, both, only_b, only_c):
        service.store.engine.dispose()


def test_a_changed_key_refuses_the_mask_but_takes_a_new_value(store_url: str, tmp_path: Path) -> None:
    made = create(saved_for(store_url, tmp_path, KEY_A))
    with_c = saved_for(store_url, tmp_path, KEY_C)
    body = canary_body(password=MASK)
    body["hooks_params"]["SSHTunnel"]["password"] = MASK
    with pytest.raises(SavedError) as refused:
        patch(with_c, made.id, connection=body)
    assert "cannot decrypt" in " ".join(refused.value.details["connection.password"]).lower()  # type: ignore[index]
    body["password"] = "Re-Entered-1"
    body["hooks_params"]["SSHTunnel"]["password"] = "Re-Entered-2"
    patch(with_c, made.id, connection=body)
    assert with_c.load("alice", made.id).model.password == "Re-Entered-1"  # type: ignore[attr-defined]


def test_search_folds_case_on_both_stores(saved: SavedConnections) -> None:
    for name in ("ünïcødé", "ÜNÏCØDÉ 2", "Straße", "a_b", "a%b", "axb"):
        create(saved, name=name)
    assert {c.name for c in saved.page("alice", "Ünïcødé", 1, 50)[1]} == {"ünïcødé", "ÜNÏCØDÉ 2"}
    assert {c.name for c in saved.page("alice", "STRASSE", 1, 50)[1]} == {"Straße"}
    assert {c.name for c in saved.page("alice", "a_b", 1, 50)[1]} == {"a_b"}
    assert {c.name for c in saved.page("alice", "a%", 1, 50)[1]} == {"a%b"}


def test_the_key_of_every_row_is_counted_in_one_query(store_url: str, tmp_path: Path) -> None:
    with_a = saved_for(store_url, tmp_path, KEY_A)
    create(with_a)  # two secrets: the password and the SSH password
    create(with_a, name="second")
    with_b = saved_for(store_url, tmp_path, f"{KEY_B},{KEY_A}")
    create(with_b, name="third")
    report = with_b.check()
    assert report.keys == [(with_b.keys.ids[0], 2), (with_b.keys.ids[1], 4)]
    assert report.old_key == 4 and report.undecryptable == 0
    only_c = saved_for(store_url, tmp_path, KEY_C)
    assert only_c.check().undecryptable == 6 and only_c.check().undecryptable_rows == 3
    assert with_b.rotate() == (2, [])
    assert with_b.check().old_key == 0
    for service in (with_a, with_b, only_c):
        service.store.engine.dispose()


def test_a_patch_writes_only_first_key_ciphertext_and_a_stale_rotation_loses(store_url: str, tmp_path: Path) -> None:
    made = create(saved_for(store_url, tmp_path, KEY_A))
    both = saved_for(store_url, tmp_path, f"{KEY_B},{KEY_A}")
    stale = both.store.get("alice", made.id)  # what a rotation read, before the PATCH below
    assert stale is not None and stale.key_id == both.keys.ids[1]
    body = canary_body(password=MASK, database="otherdb")
    body["hooks_params"]["SSHTunnel"]["password"] = MASK
    patched = patch(both, made.id, connection=body)
    assert patched.version == 2
    row = both.store.get("alice", made.id)
    assert row is not None and row.key_id == both.keys.first_id
    assert all(both.keys.is_current(token) for token in row.secrets.values())  # kept secrets re-encrypted
    # The rotation's guarded write of what it read before the PATCH changes nothing…
    rotated = {path: both.keys.rotate(token) for path, token in stale.secrets.items()}
    assert both.store.rewrite_secrets(stale, rotated, both.keys.first_id) is False
    assert both.store.get("alice", made.id) == row
    # …and the old key can go: everything decrypts with the new one alone.
    only_b = saved_for(store_url, tmp_path, KEY_B)
    loaded = only_b.load("alice", made.id).model
    assert loaded.password == CANARY and loaded.database == "otherdb"  # type: ignore[attr-defined]
    assert only_b.get("alice", made.id).version == 2  # rotation and tests are not edits
    for service in (both, only_b):
        service.store.engine.dispose()


def test_a_shared_store_without_a_secret_key_refuses_to_start() -> None:
    settings = make_settings(database_url="postgresql+psycopg2://u:p@127.0.0.1:1/db", secret_key=None)
    with pytest.raises(SystemExit) as refused:
        SavedConnections(settings, AuthService(settings))
    assert "WIZARD_SECRET_KEY" in str(refused.value.code) and "\n" not in str(refused.value.code)


def test_key_ring_and_key_file(tmp_path: Path) -> None:
    with pytest.raises(KeyUnusable):
        KeyRing.from_settings((SecretStr("not-a-fernet-key"),), "sqlite://")
    url = f"sqlite:///{tmp_path}/data/wizard.db"
    path = key_file_for(url)
    assert path == tmp_path / "data/wizard.db.key"
    first = KeyRing.from_settings((), url)
    assert path.stat().st_mode & 0o777 == 0o600
    token = first.encrypt("x")
    assert KeyRing.from_settings((), url).decrypt(token) == "x"  # the same key, read back
    with pytest.raises(CannotDecrypt):
        KeyRing([KEY_C]).decrypt(token)
    assert key_file_for("postgresql+psycopg2://u:p@127.0.0.1/db") == Path(".wizard/secret.key")


def test_settings_name_the_secret_key_variable() -> None:
    assert "secret_key" in Settings.model_fields and "rate_limit_storage_url" in Settings.model_fields


# --- the store's watchdog (backend/store/calls.py) ---------------------------------------------------------


class _Connection:
    """A DB-API connection as the watchdog sees one: it interrupts it (as sqlite3) when its call's deadline passed."""

    def __init__(self) -> None:
        self.cut_at: float | None = None

    def interrupt(self) -> None:
        self.cut_at = time.monotonic()


def test_the_watchdog_cuts_each_call_at_its_deadline_without_being_woken_for_every_call() -> None:
    watchdog = Watchdog()
    watchdog.idle_wait_s = 3600.0  # asleep with nothing to watch: only a wake-up makes it look sooner
    first, later, earlier = _Connection(), _Connection(), _Connection()
    now = time.monotonic()
    watchdog.watch(1, first, now + 1.0)  # starts its thread, which plans to wake at this deadline
    planned = wait_until(lambda: watchdog._waking_at, what="the watchdog's plan")
    watchdog.watch(2, later, now + 1.5)  # after the planned wake-up: no wake-up needed
    assert watchdog._waking_at == planned
    wait_until(lambda: first.cut_at and later.cut_at, what="both calls cut")
    assert first.cut_at is not None and first.cut_at >= now + 1.0  # never before the deadline
    assert later.cut_at is not None and later.cut_at >= now + 1.5
    # Nothing watched now: the thread sleeps an hour; a deadline before that wakes it.
    wait_until(lambda: watchdog._waking_at > time.monotonic() + 60, what="the watchdog asleep")
    at = time.monotonic() + 0.05
    watchdog.watch(3, earlier, at)
    wait_until(lambda: earlier.cut_at, what="the call cut")
    assert earlier.cut_at is not None and earlier.cut_at >= at


# --- GET {id}/ at once (backend/saved/store.py, get_at_once) ----------------------------------------------


def test_a_saved_connection_is_read_at_once_on_sqlite_and_through_the_threads_elsewhere(
        saved: SavedConnections, store_url: str) -> None:
    made = create(saved)
    store = saved.store
    if store_url.startswith("postgresql"):
        with pytest.raises(WouldWait):  # a server's store is always read through the threads, under their deadline
            store.get_at_once("alice", made.id)
        return
    assert store.get_at_once("alice", made.id) == store.get("alice", made.id)
    assert store.get_at_once("bob", made.id) is None  # another owner's: as missing
    assert store.get_at_once("alice", "no-such-id") is None
    patch(saved, made.id, description="changed through the threads")
    again = store.get_at_once("alice", made.id)
    assert again is not None and again.description == "changed through the threads"  # no stale snapshot
    with store._at_once().connect() as conn:  # type: ignore[union-attr]
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 0  # never waits for a lock
        assert conn.exec_driver_sql("PRAGMA query_only").scalar() == 1


def test_a_locked_sqlite_store_is_read_through_the_threads_not_waited_for_on_the_loop(tmp_path: Path) -> None:
    saved = saved_for(f"sqlite:///{tmp_path}/store/wizard.db", tmp_path)
    made = create(saved)
    saved.store.engine.dispose()  # the exclusive lock below needs no other connection open
    holder = sqlite3.connect(tmp_path / "store" / "wizard.db")
    try:
        holder.execute("PRAGMA locking_mode = EXCLUSIVE")
        holder.execute("BEGIN EXCLUSIVE")  # no other connection may read now, not even in WAL mode
        with pytest.raises(WouldWait):
            saved.store.get_at_once("alice", made.id)
    finally:
        holder.close()
    assert saved.store.get_at_once("alice", made.id) is not None
    saved.store.engine.dispose()


def test_an_in_memory_store_and_a_store_without_its_schema_are_read_through_the_threads(tmp_path: Path) -> None:
    memory = saved_for("sqlite://", tmp_path)
    memory.store._ensure()
    with pytest.raises(WouldWait):
        memory.store.get_at_once("alice", "some-id")
    fresh = saved_for(f"sqlite:///{tmp_path}/fresh/wizard.db", tmp_path)
    with pytest.raises(WouldWait):  # the migrations run in the store's threads first
        fresh.store.get_at_once("alice", "some-id")
