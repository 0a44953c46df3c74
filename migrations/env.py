"""Alembic environment: runs on the engine given by registry.migrate (never a URL in a file)."""

from alembic import context

from registry import models  # noqa: F401 - registers the tables
from registry.db import Base

engine = context.config.attributes["engine"]

with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=Base.metadata, compare_type=True,
                      render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()
