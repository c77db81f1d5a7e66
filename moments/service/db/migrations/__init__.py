"""Alembic migrations for the job database."""
