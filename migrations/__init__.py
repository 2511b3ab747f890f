"""Alembic migrations. Triggers and views are created here, never by create_all()."""
