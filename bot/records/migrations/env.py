"""Alembic environment: run by `bot.records.store.migrate` with an open connection (no alembic.ini)."""
from alembic import context

from bot.records.schema import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata,
                  render_as_batch=connection.dialect.name == "sqlite")  # SQLite alters tables by copying
with context.begin_transaction():
    context.run_migrations()
