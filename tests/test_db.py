"""The engine's settings per backend, as the processes' sessions see them."""

from __future__ import annotations

import secrets

import sqlalchemy as sa
from flask import Flask
from sqlalchemy.orm import Session

from interactive.db import analyse_grown, generic_key_checks


def test_the_engine_is_set_up_for_its_backend(ctx: Session) -> None:
    if ctx.get_bind().dialect.name == "postgresql":
        # Plans made for the values at hand: a generic plan kept from when a table was
        # empty would read the whole table for every lookup until the next ANALYZE.
        assert ctx.execute(sa.text("SHOW plan_cache_mode")).scalar() == "force_custom_plan"
    else:
        assert ctx.execute(sa.text("PRAGMA journal_mode")).scalar() == "wal"
        assert int(ctx.execute(sa.text("PRAGMA busy_timeout")).scalar() or 0) > 0


def test_generic_key_checks_last_for_a_transaction_and_a_checkout(app: Flask) -> None:
    engine: sa.Engine = app.extensions["interactive.engine"]
    if engine.dialect.name != "postgresql":
        with engine.connect() as connection:
            generic_key_checks(connection)  # nothing to relax
        return
    with engine.connect() as connection:
        raw = connection.connection.dbapi_connection
        assert raw is not None
        prepared = raw.prepare_threshold
        assert prepared is not None
        with connection.begin():
            generic_key_checks(connection)
            # The server's own key checks may keep a plan; this connection's statements are
            # no longer prepared, so they are still planned for their values.
            assert connection.exec_driver_sql("SHOW plan_cache_mode").scalar() == "auto"
            assert raw.prepare_threshold is None
        assert connection.exec_driver_sql("SHOW plan_cache_mode").scalar() == "force_custom_plan"
        connection.rollback()
    # Back in the pool, the connection prepares statements again.
    assert raw.prepare_threshold == prepared


def test_analyse_grown_follows_a_table_as_it_doubles(app: Flask) -> None:
    engine: sa.Engine = app.extensions["interactive.engine"]
    if engine.dialect.name != "postgresql":
        assert analyse_grown(engine, ["contacts"]) == []  # SQLite plans without them
        return
    table = f"analyse_probe_{secrets.token_hex(4)}"

    def add(rows: int) -> None:
        with engine.begin() as connection:
            connection.exec_driver_sql(
                f"INSERT INTO {table} SELECT n, repeat('x', 100) "  # noqa: S608 - our name
                "FROM generate_series(1, %(rows)s) n",
                {"rows": rows},
            )

    def described() -> float:
        with engine.connect() as connection:
            sql = "SELECT reltuples FROM pg_class WHERE relname = %(table)s"
            return float(connection.exec_driver_sql(sql, {"table": table}).scalar_one())

    with engine.begin() as connection:
        connection.exec_driver_sql(f"CREATE TABLE {table} (id bigint, note text)")
    try:
        add(50)
        assert analyse_grown(engine, [table]) == []  # too small to matter
        add(5_000)
        assert analyse_grown(engine, [table]) == [table]
        assert described() == 5_050
        assert analyse_grown(engine, [table]) == []  # its statistics describe it
        add(2_000)
        assert analyse_grown(engine, [table]) == []  # not yet twice the size
        add(4_000)
        assert analyse_grown(engine, [table]) == [table]
        assert described() == 11_050
    finally:
        with engine.begin() as connection:
            connection.exec_driver_sql(f"DROP TABLE {table}")
