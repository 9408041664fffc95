"""Alembic migrations of the store (scripts shipped in the wheel; run at open by ``store.migrate``)."""
