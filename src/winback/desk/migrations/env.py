"""Alembic environment: winback passes the connection in (see winback.desk.db.migrate)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from winback.desk.models import Base

config = context.config
connection = config.attributes.get("connection")

if connection is None:
    # Run as `alembic -x url=... upgrade head` or autogenerate from a developer's shell.
    url = context.get_x_argument(as_dictionary=True).get("url", "sqlite:///desk-dev.sqlite3")
    with create_engine(url).begin() as connection:
        context.configure(connection=connection, target_metadata=Base.metadata)
        context.run_migrations()
else:
    context.configure(connection=connection, target_metadata=Base.metadata)
    context.run_migrations()
