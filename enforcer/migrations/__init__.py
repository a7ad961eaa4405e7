"""Alembic migrations of the store's schema, run by :func:`enforcer.migrate.migrate` at every start-up."""
