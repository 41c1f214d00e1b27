"""Alembic environment: the URL comes from ``interactive.migrate`` (settings), the target
metadata from the models of every feature package."""

from __future__ import annotations

from alembic import context

from interactive.db import Base, UTCDateTime, make_engine
from interactive.models import load_all_models

load_all_models()
config = context.config
target_metadata = Base.metadata


def render_item(type_: str, obj: object, _autogen_context: object) -> str | bool:
    """Render our column types with plain SQLAlchemy ones so migrations import nothing
    of the app (a migration must keep working when the models change)."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def run_migrations_offline() -> None:
    context.configure(
        url=config.attributes["url"],
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(config.attributes["url"])
    try:
        with engine.connect() as conn:
            _run(conn)
    finally:
        engine.dispose()


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things: batch mode copies the table.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        render_item=render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
