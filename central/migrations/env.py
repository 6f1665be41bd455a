"""Alembic environment: run with the connection that central.db.migrate hands over."""

from __future__ import annotations

from alembic import context

from central.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `python -m central migrate`")

context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
