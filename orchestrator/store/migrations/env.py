"""Alembic environment: the store hands over its open connection (already in a write transaction)."""

from __future__ import annotations

from alembic import context

connection = context.config.attributes["connection"]
# one transaction for the whole upgrade (the store's), DDL included: SQLite's DDL is transactional too
context.configure(connection=connection, target_metadata=None, transactional_ddl=True)
with context.begin_transaction():
    context.run_migrations()
