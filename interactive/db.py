"""Database: declarative base, engines for SQLite and PostgreSQL, sessions, after-commit hooks.

Services flush, never commit; the edge (request, job, CLI command) commits once. Work that
must only happen once rows are durable (enqueueing a job, pushing an id to a stream) is
registered with :func:`after_commit` and dropped on rollback.
"""

from __future__ import annotations

import enum
import functools
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from flask import Flask, current_app
from flask.globals import _cv_app
from sqlalchemy import event
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.orm import (
    DeclarativeBase,
    QueryableAttribute,
    Session,
    scoped_session,
    sessionmaker,
)

log = logging.getLogger(__name__)

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

SQLITE_BUSY_TIMEOUT_MS = 10_000
#: A pooled server connection idle at least this long is tested before it is handed out.
PING_IDLE_S = 1.0


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(sa.TypeDecorator[datetime]):
    """Timestamps stored in UTC and always returned timezone-aware (SQLite keeps no zone)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; store timezone-aware UTC times")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


E = TypeVar("E", bound=enum.Enum)


def enum_by_value(enum_cls: type[E], name: str) -> sa.Enum:
    """An enum stored as its value in a VARCHAR with a CHECK constraint (portable)."""
    return sa.Enum(
        enum_cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        validate_strings=True,
        length=max(len(str(m.value)) for m in enum_cls),
        values_callable=lambda members: [m.value for m in members],
    )


def database_url(url: str | None, instance_path: Path) -> str:
    """The configured URL, or the embedded SQLite file; ``postgresql://`` means psycopg 3."""
    if not url:
        return f"sqlite:///{instance_path / 'interactive.db'}"
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def _configure_sqlite(engine: Engine) -> None:
    # pysqlite's own transaction handling defers BEGIN and breaks SAVEPOINT; take it over
    # (SQLAlchemy's documented recipe), and use WAL so readers never block the writer.
    # Transactions BEGIN IMMEDIATE: a deferred one that reads, then writes after another
    # process committed fails at once with SQLITE_BUSY (the busy timeout cannot help it);
    # an immediate one waits its turn for the write lock instead. Several processes (web,
    # worker, gateway) write to the embedded database. A connection that only reads may
    # ask for ``execution_options(sqlite_begin="DEFERRED")``.
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(connection: sa.Connection) -> None:
        mode = connection.get_execution_options().get("sqlite_begin", "IMMEDIATE")
        connection.exec_driver_sql("BEGIN DEFERRED" if mode == "DEFERRED" else "BEGIN IMMEDIATE")


#: Every statement planned for the values it is run with. psycopg prepares a statement run
#: five times, and the server may then keep one generic plan for it, made from the
#: table's statistics at that moment: a table that was empty then (a new database, or the
#: SMSC ids and receipts of a send that has just begun) keeps a plan that reads it whole,
#: until the next ANALYZE, for every lookup. Seen in a campaign send: the receipts' SMSC-id
#: lookup scanned 136,000 rows for each batch, 8 s a statement. A custom plan costs its
#: planning (tens of microseconds for the lookups of the hot paths, which run a statement
#: per batch) and uses the table's current size. Writers of many rows at once relax it for
#: the foreign-key checks (``generic_key_checks``).
PG_OPTIONS = "-c plan_cache_mode=force_custom_plan"


#: Rows from which bulk writes relax the plans of the key checks (``checks_for_many``,
#: ``copy_rows``): below, planning a check per row (~10 µs of server CPU a row and key)
#: costs less than the round trip to relax it.
KEY_CHECKS_GENERIC_FROM = 32


def generic_key_checks(connection: sa.Connection) -> None:
    """Let PostgreSQL keep one plan for its foreign-key checks for the rest of this
    transaction, for a statement that inserts many rows into a table with foreign keys
    (no-op elsewhere).

    The server checks a foreign key with a query per inserted row, prepared once per
    session; under ``force_custom_plan`` (``PG_OPTIONS``) it is planned again for every
    row: a third of the database's CPU in a 1M-row contact import. The check is a lookup by
    the referenced primary key, whose plan is that index whatever the table's size, so a
    generic plan is safe for it. The transaction's own statements stay planned for their
    values: the driver stops preparing statements on this connection until it goes back
    to the pool (an unprepared statement is always planned for its parameters)."""
    if connection.dialect.name != "postgresql":
        return
    raw = connection.connection.dbapi_connection
    if raw is None:
        return
    if raw.prepare_threshold is not None:
        connection.connection.info.setdefault("prepare_threshold", raw.prepare_threshold)
        raw.prepare_threshold = None
    connection.exec_driver_sql("SET LOCAL plan_cache_mode = auto")


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine with the settings each backend needs (WAL and busy timeout for SQLite;
    custom plans on PostgreSQL, ``PG_OPTIONS``)."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[1] if "///" in url else ""
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, **kwargs)
        _configure_sqlite(engine)
        return engine
    if url.startswith("postgresql"):
        connect_args = dict(kwargs.pop("connect_args", None) or {})
        given = connect_args.get("options")
        connect_args["options"] = f"{given} {PG_OPTIONS}" if given else PG_OPTIONS
        kwargs["connect_args"] = connect_args
    engine = sa.create_engine(url, **kwargs)
    if url.startswith("postgresql"):
        _restore_preparing(engine)
    if not kwargs.get("pool_pre_ping"):
        _ping_when_idle(engine, PING_IDLE_S)
    return engine


def checks_for_many(session: Session, rows: int) -> None:
    """``generic_key_checks`` for a statement about to insert ``rows`` rows into a table
    with foreign keys, from ``KEY_CHECKS_GENERIC_FROM`` rows."""
    if rows >= KEY_CHECKS_GENERIC_FROM and session.get_bind().dialect.name == "postgresql":
        generic_key_checks(session.connection())


def _restore_preparing(engine: Engine) -> None:
    """A connection back in the pool prepares statements again (``generic_key_checks``)."""

    @event.listens_for(engine, "checkin")
    def on_checkin(dbapi_connection: Any, record: Any) -> None:
        threshold = record.info.pop("prepare_threshold", None)
        if threshold is not None and dbapi_connection is not None:
            dbapi_connection.prepare_threshold = threshold


def _ping_when_idle(engine: Engine, idle_s: float) -> None:
    """Test a pooled connection before use only when it sat idle for ``idle_s``.

    A connection dropped while idle (server restart, failover, a firewall's idle timeout)
    is replaced before anyone uses it, as ``pool_pre_ping`` would; but a connection in
    steady use is not tested on every checkout: the router and the gateway check one out
    per batch, hundreds of times a second, and the ping is a round trip each time.
    Raising ``DisconnectionError`` here makes the pool discard the connection and hand
    out a fresh one."""

    @event.listens_for(engine, "checkin")
    def on_checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get("idle_since")
        if since is None or time.monotonic() - since < idle_s:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as exc:
            raise sa.exc.DisconnectionError("pooled connection lost while idle") from exc


def bulk_update(
    session: Session,
    table: sa.Table,
    rows: Sequence[dict[str, Any]],
    *,
    keep: Iterable[str] = (),
    unless_equal: str | None = None,
) -> None:
    """Update rows by their ``id`` (flushes). Every row has the same keys. Columns in
    ``keep`` are set only where they are NULL; with ``unless_equal`` a row whose column
    already has the new value is left alone.

    On PostgreSQL one ``UPDATE … FROM unnest(arrays)`` statement: one round trip and one
    statement for the server whatever the number of rows, and the same text every time, so
    nothing is compiled again (an executemany costs the server a statement per row, and a
    VALUES list is compiled anew for each row count). Elsewhere an executemany."""
    if not rows:
        return
    names = [name for name in rows[0] if name != "id"]
    kept = frozenset(keep)
    connection = session.connection()
    dialect = connection.dialect
    if dialect.name == "postgresql":
        sql = _unnest_update(dialect, table, ("id", *names), kept, unless_equal)
        params = {}
        for name in ("id", *names):
            process = table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
            values = [row[name] for row in rows]
            values = [process(v) for v in values] if process else values
            params[f"p_{name}"] = array_literal(values) or values
        connection.exec_driver_sql(sql, params)
        return
    bound = {name: sa.bindparam(f"p_{name}", type_=table.c[name].type) for name in ["id", *names]}
    statement = sa.update(table).where(table.c.id == bound["id"])
    if unless_equal is not None:
        statement = statement.where(table.c[unless_equal] != bound[unless_equal])
    statement = statement.values(
        {
            name: sa.func.coalesce(table.c[name], bound[name]) if name in kept else bound[name]
            for name in names
        }
    )
    session.execute(statement, [{f"p_{k}": v for k, v in row.items()} for row in rows])


def column_type(column: sa.ColumnElement[Any]) -> sa.types.TypeEngine[Any]:
    """A column's type; for a foreign key declared without one, the referenced column's."""
    if isinstance(column.type, sa.types.NullType) and isinstance(column, sa.Column):
        for key in column.foreign_keys:
            return key.column.type
    return column.type


def in_values(
    column: sa.ColumnElement[Any] | QueryableAttribute[Any], name: str, dialect: str
) -> sa.ColumnElement[bool]:
    """``column IN`` the list bound as ``name``. On PostgreSQL ``column = ANY(:name)``, one
    array parameter: the statement text is the same for any number of values, so the
    driver converts it once and the server prepares it once (psycopg converts anew each
    statement with more than 50 parameters). Elsewhere an expanding IN.

    Meant for lookups by a key: the server may keep one generic plan for the prepared
    statement, which for a key is its index whatever the values, but for a range over a
    table without statistics yet can be a scan (see ``routing_sql.sent_query``)."""
    if dialect == "postgresql":
        element = column.expression if isinstance(column, QueryableAttribute) else column
        array = postgresql.ARRAY(column_type(element))
        return column == sa.any_(sa.bindparam(name, type_=array))
    return column.in_(sa.bindparam(name, expanding=True))


def unnest_rows(
    table: sa.Table,
    names: Sequence[str],
    *,
    ordinality: str | None = None,
    prefix: str = "p_",
    alias: str = "v",
    extra: Mapping[str, sa.types.TypeEngine[Any]] | None = None,
) -> sa.TableValuedAlias:
    """``unnest(:p_a, :p_b, …) AS v(a, b, …)`` on PostgreSQL: the rows of an
    ``INSERT … SELECT``, one array parameter per column (``array_params``), instead of a
    multi-row VALUES list whose text (and parsing, on both sides) changes with the number
    of rows. ``ordinality`` names a column numbering the rows from 1; ``extra`` adds
    columns that are not the table's (name → type); ``prefix`` and ``alias`` tell two
    such row sets of one statement apart."""
    types = {name: column_type(table.c[name]) for name in names} | dict(extra or {})
    arrays = [
        sa.bindparam(f"{prefix}{name}", type_=postgresql.ARRAY(type_))
        for name, type_ in types.items()
    ]
    values = sa.func.unnest(*arrays).table_valued(*types, with_ordinality=ordinality)
    return values.render_derived(name=alias)


def array_params(
    rows: Sequence[dict[str, Any]], names: Sequence[str], *, prefix: str = "p_"
) -> dict[str, list[Any]]:
    """The parameters of ``unnest_rows``: one list per column."""
    return {f"{prefix}{name}": [row[name] for row in rows] for name in names}


def allocate_ids(session: Session, table: sa.Table, count: int) -> list[int] | None:
    """On PostgreSQL, ``count`` new ids from the sequence of ``table.id`` (one round
    trip), so rows can be written with COPY and referenced before they exist; None on
    other databases (insert with RETURNING there)."""
    connection = session.connection()
    if connection.dialect.name != "postgresql" or count <= 0:
        return None
    result = connection.exec_driver_sql(
        "SELECT nextval(pg_get_serial_sequence(%(table)s, 'id')) FROM generate_series(1, %(n)s)",
        {"table": table.name, "n": count},
    )
    return [int(value) for (value,) in result]


def copy_rows(session: Session, table: sa.Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert many rows with the same keys (flushes): COPY on PostgreSQL (no statement to
    build or parse, whatever the number of rows), an executemany elsewhere. From
    ``KEY_CHECKS_GENERIC_FROM`` rows into a table with foreign keys, the server keeps one
    plan for their checks (``generic_key_checks``)."""
    if not rows:
        return
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        session.execute(sa.insert(table), list(rows))
        return
    if table.foreign_keys and len(rows) >= KEY_CHECKS_GENERIC_FROM:
        generic_key_checks(connection)
    dialect = connection.dialect
    names = list(rows[0])
    processors = [
        table.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in names
    ]
    columns = ", ".join(dialect.identifier_preparer.quote(name) for name in names)
    target = dialect.identifier_preparer.format_table(table)
    raw = connection.connection.driver_connection
    with raw.cursor() as cursor, cursor.copy(f"COPY {target} ({columns}) FROM STDIN") as copy:  # type: ignore[union-attr]
        for row in rows:
            copy.write_row(
                [
                    process(row[name]) if process and row[name] is not None else row[name]
                    for name, process in zip(names, processors, strict=True)
                ]
            )


# Bulk writers fill a table faster than autovacuum analyses it, and a server may run
# without autovacuum: planned from statistics that describe a table as empty or small, a
# look-up by key reads the whole table (the gateway's parts by message took 124 ms a batch
# in 1.8 million parts, 0.5 ms by the index).
ANALYSE_FROM_PAGES = 16
_GROWN = sa.text(
    "SELECT relname FROM pg_class WHERE oid = ANY(CAST(:tables AS regclass[])) "
    "AND pg_relation_size(oid) / current_setting('block_size')::int >= :least "
    "AND pg_relation_size(oid) / current_setting('block_size')::int > 2 * relpages"
)


def analyse_grown(engine: Engine, tables: Sequence[str]) -> list[str]:
    """PostgreSQL: ANALYZE those of ``tables`` that have more than twice the pages their
    statistics were taken on (and at least ``ANALYSE_FROM_PAGES``), skipping one that
    another session is analysing. A table that grows is analysed at sizes that double, so
    the work stays a small share of the writes (about fifteen times on the way to a million
    rows), and a table that does not grow costs one catalogue query. Returns the tables
    analysed; nothing on other databases."""
    if engine.dialect.name != "postgresql":
        return []
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        params = {"tables": list(tables), "least": ANALYSE_FROM_PAGES}
        grown = list(connection.execute(_GROWN, params).scalars())
        if grown:
            quote = connection.dialect.identifier_preparer.quote
            connection.exec_driver_sql(
                f"ANALYZE (SKIP_LOCKED) {', '.join(quote(name) for name in grown)}"
            )
    return grown


def array_literal(values: Sequence[Any]) -> str | None:
    """``values`` as the text of a PostgreSQL array (``{1,NULL,"a \\"b\\""}``) when each is
    an int, a str, a datetime or None; None otherwise. The statement casts it to the
    column's array type. psycopg builds an array parameter element by element in Python, a
    tenth of the gateway's time for the parts it updates; this is one join."""
    items = []
    moment, moment_text = None, ""  # a batch's rows mostly share one timestamp object
    for value in values:
        kind = type(value)
        if kind is int:
            items.append(str(value))
        elif kind is str:
            items.append('"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"')
        elif value is None:
            items.append("NULL")
        elif kind is datetime:
            if value is not moment:
                moment, moment_text = value, '"' + value.isoformat() + '"'
            items.append(moment_text)
        else:
            return None
    return "{" + ",".join(items) + "}"


@functools.lru_cache(maxsize=64)
def _unnest_update(
    dialect: Dialect,
    table: sa.Table,
    names: tuple[str, ...],
    keep: frozenset[str],
    unless_equal: str | None,
) -> str:
    quote = dialect.identifier_preparer.quote
    arrays = ", ".join(
        f"%(p_{name})s::{table.c[name].type.compile(dialect=dialect)}[]" for name in names
    )
    sets = ", ".join(
        f"{quote(name)} = COALESCE(t.{quote(name)}, v.{quote(name)})"
        if name in keep
        else f"{quote(name)} = v.{quote(name)}"
        for name in names[1:]
    )
    where = "t.id = v.id"
    if unless_equal is not None:
        where += f" AND t.{quote(unless_equal)} IS DISTINCT FROM v.{quote(unless_equal)}"
    columns = ", ".join(quote(name) for name in names)
    # Only the table's own column names, quoted; every value is a bound parameter.
    return (
        f"UPDATE {quote(table.name)} AS t SET {sets} "  # noqa: S608
        f"FROM unnest({arrays}) AS v({columns}) WHERE {where}"
    )


def after_commit(session: Session, callback: Callable[[], object]) -> None:
    """Run ``callback`` once the session's current transaction commits; drop it on rollback."""
    if not session.in_transaction():
        # Tie the callback to a transaction, so that a rollback drops it.
        session.begin()
    session.info.setdefault("after_commit", []).append(callback)


@event.listens_for(Session, "after_commit")
def _run_after_commit(session: Session) -> None:
    callbacks = session.info.pop("after_commit", [])
    for callback in callbacks:
        try:
            callback()
        except Exception:
            # The rows are committed; the sweeper re-sends what a failed side effect missed.
            log.exception("after-commit side effect failed")


@event.listens_for(Session, "after_soft_rollback")
def _drop_after_commit(session: Session, _previous: Any) -> None:
    session.info.pop("after_commit", None)


def _app_context_id() -> int:
    return id(_cv_app.get())


class Database:
    """Engine and sessions of one Flask app; ``db.session`` is scoped to the app context."""

    def __init__(self) -> None:
        # scoped_session calls any session factory; its annotation asks for a sessionmaker.
        self.session: scoped_session[Session] = scoped_session(
            self._new_session,  # type: ignore[arg-type]
            scopefunc=_app_context_id,
        )

    def init_app(self, app: Flask) -> None:
        url = database_url(app.config.get("DATABASE_URL"), Path(app.instance_path))
        app.config["SQLALCHEMY_URL"] = url
        engine = make_engine(url)
        app.extensions["interactive.engine"] = engine
        app.extensions["interactive.sessionmaker"] = sessionmaker(
            bind=engine, expire_on_commit=False
        )
        app.teardown_appcontext(self._teardown)

    def _new_session(self) -> Session:
        factory: sessionmaker[Session] = current_app.extensions["interactive.sessionmaker"]
        return factory()

    def _teardown(self, _exc: BaseException | None) -> None:
        self.session.remove()

    @property
    def engine(self) -> Engine:
        engine: Engine = current_app.extensions["interactive.engine"]
        return engine

    def autocommit_engine(self) -> Engine | None:
        """PostgreSQL: the engine with each statement committing as it runs (a write that
        is one statement is durable in one round trip, no BEGIN and COMMIT); None on other
        databases. Callers keep it: each call makes a new option engine."""
        engine = self.engine
        if engine.dialect.name != "postgresql":
            return None
        return engine.execution_options(isolation_level="AUTOCOMMIT")

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """The edge for jobs and commands: commit on success, roll back on error, then
        remove the session."""
        session = self.session()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            self.session.remove()


db = Database()
