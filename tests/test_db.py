"""The engine's settings per backend, as the processes' sessions see them."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

import sqlalchemy as sa
from flask import Flask
from sqlalchemy.orm import Session

from interactive.db import (
    UTCDateTime,
    analyse_grown,
    array_literal,
    bulk_update,
    generic_key_checks,
)


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


def test_bulk_update_writes_every_value_as_given(ctx: Session) -> None:
    """On PostgreSQL the columns travel as array texts (``array_literal``): quotes,
    backslashes, separators, NULLs and time stamps must come back as they were; a type it
    does not write (a boolean) takes the driver's arrays."""
    metadata = sa.MetaData()
    table = sa.Table(
        f"bulk_{secrets.token_hex(3)}",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("note", sa.Text),
        sa.Column("at", UTCDateTime),
        sa.Column("n", sa.BigInteger),
        sa.Column("flag", sa.Boolean),
    )
    connection = ctx.connection()
    metadata.create_all(connection)
    notes = ['say "hi"', "back\\slash", "a,b}{", "", "NULL", "İ ş\ttab", None]
    ctx.execute(sa.insert(table), [{"id": i, "flag": False} for i in range(len(notes))])
    moment = datetime(2026, 11, 24, 21, 30, 1, 123456, tzinfo=UTC)
    rows = [
        {"id": i, "note": note, "at": moment if i % 2 else None, "n": -(2**40) + i}
        for i, note in enumerate(notes)
    ]
    bulk_update(ctx, table, rows)
    bulk_update(ctx, table, [{"id": 1, "flag": True}])
    stored = ctx.execute(sa.select(table).order_by(table.c.id)).all()
    assert [tuple(row) for row in stored] == [
        (row["id"], row["note"], row["at"], row["n"], row["id"] == 1) for row in rows
    ]
    table.drop(connection)


def test_array_literal_takes_only_the_types_it_spells() -> None:
    assert array_literal([1, None, 'a"b']) == '{1,NULL,"a\\"b"}'
    assert array_literal([]) == "{}"
    assert array_literal([True]) is None  # a bool is an int subclass, written by the driver
    assert array_literal([1.5]) is None
