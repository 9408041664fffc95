"""Alembic revision scripts, oldest first: r0001 is the hand-written schema's version 4."""
