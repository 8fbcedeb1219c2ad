"""The migrations and the table metadata describe the same schema.

A fresh SQLite store in ``tmp_path`` is upgraded by the migrations exactly as at start, then
Alembic's autogenerate compares it with every table the code declares: no difference may remain
(a column added to a ``Table`` without a migration, or a migration the tables do not know of).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Column, Integer, MetaData, Table, create_engine

import backend.monitor.tables  # noqa: F401  - declares the health tables on the saved store's metadata
from backend.saved import store as saved_store
from backend.security.auth import store as auth_store
from backend.store import migrations

DECLARED: tuple[MetaData, ...] = (auth_store.metadata, saved_store.metadata)
"""Every ``MetaData`` of the store's tables (a module that declares tables of its own adds its own here)."""


def every_table(extra: MetaData | None = None) -> MetaData:
    combined = MetaData()
    for metadata in (*DECLARED, *([extra] if extra is not None else [])):
        for table in metadata.tables.values():
            table.to_metadata(combined)
    return combined


def differences(tmp_path: Path, target: MetaData) -> list[Any]:
    engine = create_engine(f"sqlite:///{tmp_path}/drift.db")
    try:
        migrations.upgrade(engine)
        with engine.connect() as conn:
            return list(compare_metadata(MigrationContext.configure(conn), target))
    finally:
        engine.dispose()


def test_the_migrations_build_exactly_the_declared_tables(tmp_path: Path) -> None:
    assert every_table().tables, "no table declared: the comparison would be empty"
    assert differences(tmp_path, every_table()) == []


def test_a_table_without_a_migration_is_seen(tmp_path: Path) -> None:
    extra = MetaData()
    Table("wizard_not_migrated", extra, Column("id", Integer, primary_key=True))
    found = differences(tmp_path, every_table(extra))
    assert [d[0] for d in found] == ["add_table"] and found[0][1].name == "wizard_not_migrated"


@pytest.mark.parametrize("metadata", DECLARED)
def test_the_declared_tables_are_all_migrated(metadata: MetaData, tmp_path: Path) -> None:
    assert not [d for d in differences(tmp_path, every_table()) if d[0] == "add_table"], metadata
