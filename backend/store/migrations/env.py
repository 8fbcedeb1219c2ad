"""Alembic's environment: always run with a connection handed in by :func:`backend.store.migrations.upgrade`."""

from __future__ import annotations

from alembic import context

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - the wizard always hands its connection in
    raise RuntimeError("run migrations with `python -m backend db upgrade`")

context.configure(connection=connection, target_metadata=None, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
