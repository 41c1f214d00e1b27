"""A database of its own for a benchmark run: a SQLite file in the run's folder, or a fresh
database on a PostgreSQL server, dropped at the end."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa

from interactive.db import make_engine


def scratch_database(server: str | None, folder: Path) -> tuple[str, Callable[[], None]]:
    """(URL, drop): without ``server`` a SQLite file in ``folder`` (drop does nothing)."""
    if not server:
        return f"sqlite:///{folder / 'bench.db'}", lambda: None
    base = sa.engine.make_url(server)
    name = f"interactive_bench_{secrets.token_hex(3)}"
    admin = make_engine(base.render_as_string(hide_password=False), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()

    return base.set(database=name).render_as_string(hide_password=False), drop
