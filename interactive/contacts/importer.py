"""Contact imports: read an uploaded file, validate every row, load it in chunks.

``run_import(import_id)`` is the whole run (the job in ``contacts.jobs`` calls it). Per
chunk of rows (50,000 by default):

1. Python parses each row once: the number with ``phones.normalise`` (the import's region,
   else the ``DEFAULT_REGION`` setting), names, language, time zone, typed attributes and
   the consent statement. A row with any bad value is rejected whole and reported
   (``ImportRowError``: line, column, reason code, value). Numbers erased on request (their
   hash is on the suppression list as ERASED) are rejected too: never re-created.
2. The accepted rows go to a temporary table (COPY on PostgreSQL, executemany on SQLite)
   and one ``INSERT … SELECT … ON CONFLICT (phone) DO UPDATE … WHERE <something changed>``
   writes them (``importer_sql``). An empty cell never erases what a contact has; a
   contact whose time zone was set by a person keeps it.
3. Consent statements become ledger events (``consent.record``, which skips repeats); the
   contacts join the chosen list (idempotent).
4. Counters and ``rows_done`` are committed with the chunk, so the progress page sees them,
   and a cancel request is honoured before the next chunk (committed chunks stay).

Duplicates inside the file: the last row for a number wins; the others count as
duplicates. Re-importing a file therefore changes nothing: all its rows are unchanged and
no consent event is added.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import lru_cache
from itertools import islice
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

import sqlalchemy as sa
from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from interactive.contacts import importer_sql, phones, readers, registry
from interactive.contacts.models import (
    AttributeDefinition,
    AttributeType,
    ConsentStatus,
    ContactImport,
    ImportRowError,
    ImportStatus,
    RecipientType,
    Suppression,
    SuppressionReason,
)
from interactive.db import db, utcnow

log = logging.getLogger(__name__)

CHUNK_SIZE = 50_000
ISTANBUL = ZoneInfo("Europe/Istanbul")
VALUE_LENGTH = 200
CONSENT_SOURCES = (
    "HS_WEB",
    "HS_MESAJ",
    "HS_FIZIKSEL_ORTAM",
    "HS_ISLAK_IMZA",
    "HS_CAGRI_MERKEZI",
    "HS_EPOSTA",
    "HS_SOSYAL_MEDYA",
    "HS_ETKINLIK",
)

# Reason codes of rejected rows, with the text of the error file; the phone codes come
# from ``phones``.
REASONS: dict[str, Any] = {
    "erased": _l("This number was erased on request and may not be imported again."),
    "bad_date": _l("Not a date (use YYYY-MM-DD, DD.MM.YYYY or DD/MM/YYYY)."),
    "bad_number": _l("Not a number."),
    "bad_boolean": _l("Not yes or no (use true/false, 1/0, evet/hayır, yes/no)."),
    "bad_consent": _l("Not a consent statement (use ONAY or RET, evet/hayır, yes/no, 1/0)."),
    "bad_consent_time": _l("Not a date and time for the consent."),
    "bad_language": _l("Not a language code (like tr or en)."),
    "bad_time_zone": _l("Not a time zone (like Europe/Istanbul)."),
    "too_long": _l("The value is too long."),
}

_TRUE = frozenset({"true", "1", "evet", "yes", "e", "y", "doğru", "dogru"})
_FALSE = frozenset({"false", "0", "hayır", "hayir", "no", "h", "n", "yanlış", "yanlis"})
_ONAY = frozenset({"onay", "evet", "yes", "1", "true", "e", "y"})
_RET = frozenset({"ret", "hayır", "hayir", "no", "0", "false", "h", "n"})
_ZONES = frozenset(available_timezones())


def reason_text(code: str) -> str:
    """The user-facing text of a rejection reason code."""
    if code in phones.ERROR_CODES:
        return str(phones.error_message(code))
    return str(REASONS.get(code, code))


def fold(text: str) -> str:
    """Lower case that folds Turkish İ/I/ı/i together."""
    return text.strip().replace("İ", "i").replace("I", "i").lower().replace("ı", "i")


# --- Value parsers: return the value, or raise ValueError -------------------------------


def parse_boolean(text: str) -> bool:
    value = fold(text)
    if value in _TRUE:
        return True
    if value in _FALSE or value.replace("i", "ı") in _FALSE:
        return False
    raise ValueError(text)


def parse_number(text: str) -> int | float:
    value = text.strip().replace(" ", "")
    if "," in value and "." not in value:
        value = value.replace(",", ".")  # Turkish decimal comma
    number = float(value)
    if number != number or number in (float("inf"), float("-inf")):
        raise ValueError(text)
    return int(number) if number.is_integer() and abs(number) < 2**53 else number


def parse_date(text: str) -> str:
    """ISO 8601 (a spreadsheet's dates come so), DD.MM.YYYY or DD/MM/YYYY → "YYYY-MM-DD"."""
    value = text.strip()
    if len(value) >= 10 and value[4] == "-":
        return date.fromisoformat(value[:10]).isoformat()
    for separator in (".", "/"):
        parts = value.split(separator)
        if len(parts) == 3 and len(parts[2]) == 4:
            return date(int(parts[2]), int(parts[1]), int(parts[0])).isoformat()
    raise ValueError(text)


def parse_consent_time(text: str) -> datetime:
    """A consent date-time; without a zone it is Turkish time (the registry's)."""
    value = text.strip()
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        day, _, clock = value.partition(" ")
        moment = datetime.fromisoformat(f"{parse_date(day)}T{clock or '00:00'}")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ISTANBUL)
    return moment.astimezone(UTC)


def parse_consent(text: str) -> ConsentStatus:
    value = fold(text)
    if value in _ONAY:
        return ConsentStatus.ONAY
    if value in _RET or value.replace("i", "ı") in _RET:
        return ConsentStatus.RET
    raise ValueError(text)


_ATTRIBUTE_PARSERS = {
    AttributeType.NUMBER: (parse_number, "bad_number"),
    AttributeType.DATE: (parse_date, "bad_date"),
    AttributeType.BOOLEAN: (parse_boolean, "bad_boolean"),
}


# --- The plan of one run -------------------------------------------------------------------


@dataclass
class Plan:
    """The mapping resolved against the file's header and the attribute definitions."""

    header: list[str]
    phone: int
    first_name: int | None = None
    last_name: int | None = None
    language: int | None = None
    time_zone: int | None = None
    consent: int | None = None
    consent_at: int | None = None
    attributes: list[tuple[str, int, AttributeType]] = field(default_factory=list)
    region: str = "TR"

    @classmethod
    def build(
        cls,
        mapping: dict[str, Any],
        header: list[str],
        types: dict[str, AttributeType],
        region: str,
    ) -> Plan:
        def column(name: str) -> int | None:
            index = mapping.get(name)
            if index is None:
                return None
            if not isinstance(index, int) or not 0 <= index < len(header):
                raise ValueError(f"mapping {name!r} points outside the header")
            return index

        phone = column("phone")
        if phone is None:
            raise ValueError("no phone column is mapped")
        attributes = []
        for key, index in (mapping.get("attributes") or {}).items():
            if key not in types:
                raise ValueError(f"unknown attribute {key!r}")
            if not isinstance(index, int) or not 0 <= index < len(header):
                raise ValueError(f"attribute {key!r} points outside the header")
            attributes.append((key, index, types[key]))
        return cls(
            header=header,
            phone=phone,
            first_name=column("first_name"),
            last_name=column("last_name"),
            language=column("language"),
            time_zone=column("time_zone"),
            consent=column("consent"),
            consent_at=column("consent_at"),
            attributes=attributes,
            region=region,
        )


@dataclass
class Chunk:
    """What one chunk of rows turned into."""

    rows: int = 0
    # phone → staged tuple (``importer_sql.STAGE_COLUMNS``)
    staged: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    errors: list[dict[str, Any]] = field(default_factory=list)
    duplicates: int = 0


class RowParser:
    """Turns rows into staged tuples; keeps the numbers seen in earlier chunks."""

    def __init__(
        self,
        plan: Plan,
        import_id: int,
        erased: set[str],
        secret: str,
        consent_at: datetime,
    ) -> None:
        self.plan = plan
        self.consent_at = consent_at
        self.import_id = import_id
        self.erased = erased
        self.key = secret.encode()
        self.seen: set[str] = set()

    def parse(self, rows: list[readers.Row]) -> Chunk:
        plan, chunk = self.plan, Chunk(rows=len(rows))
        normalise, region = phones.normalise, plan.region
        zone_of, country_of = phones.timezone_for, phones.country_of
        staged, seen, default_at = chunk.staged, self.seen, self.consent_at
        p, fn, ln = plan.phone, plan.first_name, plan.last_name
        for line, values, _width in rows:
            raw = values[p]
            e164, code = normalise(raw, region)
            if e164 is None:
                self._reject(chunk, line, p, code or "invalid_number", raw)
                continue
            if self.erased and self._erased(e164):
                self._reject(chunk, line, p, "erased", raw)
                continue
            first = values[fn].strip() or None if fn is not None else None
            last = values[ln].strip() or None if ln is not None else None
            try:
                extra = self._extra(values, line) if self._has_extra else None
            except _Rejected as rejected:
                chunk.errors.append(rejected.row)
                continue
            if (first and len(first) > 100) or (last and len(last) > 100):
                self._reject(chunk, line, fn if first and len(first) > 100 else ln, "too_long", "")
                continue
            language, zone, attributes, statement = extra or (None, None, "{}", None)
            if e164 in staged:
                chunk.duplicates += 1
                del staged[e164]  # the last row wins; keep file order for the rest
            dup = e164 in seen
            if dup:
                chunk.duplicates += 1
            if statement is None:
                status = at = deadline = None
            else:
                status, at = statement[0].value, statement[1] or default_at
                deadline = _deadline(at)
            staged[e164] = (
                e164,
                first,
                last,
                language,
                country_of(e164),
                zone or zone_of(e164),
                attributes,
                dup,
                status,
                at,
                deadline,
            )
        seen.update(staged)
        return chunk

    @property
    def _has_extra(self) -> bool:
        plan = self.plan
        return bool(
            plan.attributes
            or plan.language is not None
            or plan.time_zone is not None
            or plan.consent is not None
        )

    def _extra(
        self, values: list[str], line: int
    ) -> tuple[str | None, str | None, str, tuple[ConsentStatus, datetime | None] | None]:
        plan = self.plan
        language = zone = None
        if plan.language is not None and (text := values[plan.language].strip()):
            language = text.lower().replace("_", "-")
            if len(language) > 8 or not language.replace("-", "").isalpha():
                raise _Rejected(self._error(line, plan.language, "bad_language", text))
        if plan.time_zone is not None and (text := values[plan.time_zone].strip()):
            if text not in _ZONES:
                raise _Rejected(self._error(line, plan.time_zone, "bad_time_zone", text))
            zone = text
        attributes: dict[str, Any] = {}
        for key, index, kind in plan.attributes:
            text = values[index]
            if not text.strip():
                continue
            if kind == AttributeType.TEXT:
                attributes[key] = text.strip()
                continue
            parser, code = _ATTRIBUTE_PARSERS[kind]
            try:
                attributes[key] = parser(text)
            except (ValueError, IndexError):
                raise _Rejected(self._error(line, index, code, text)) from None
        statement = None
        if plan.consent is not None and (text := values[plan.consent]).strip():
            try:
                status = parse_consent(text)
            except ValueError:
                raise _Rejected(self._error(line, plan.consent, "bad_consent", text)) from None
            at = None
            if plan.consent_at is not None and (when := values[plan.consent_at]).strip():
                try:
                    at = parse_consent_time(when)
                except (ValueError, IndexError):
                    raise _Rejected(
                        self._error(line, plan.consent_at, "bad_consent_time", when)
                    ) from None
            statement = (status, at)
        encoded = json.dumps(attributes, ensure_ascii=False, sort_keys=True) if attributes else "{}"
        return language, zone, encoded, statement

    def _erased(self, e164: str) -> bool:
        digest = hmac.new(self.key, e164.encode(), hashlib.sha256).hexdigest()
        return digest in self.erased

    def _error(self, line: int, column: int | None, code: str, value: str) -> dict[str, Any]:
        header = self.plan.header[column] if column is not None else ""
        return {
            "import_id": self.import_id,
            "line": line,
            "column": header[:120],
            "reason": code,
            "value": value[:VALUE_LENGTH],
        }

    def _reject(self, chunk: Chunk, line: int, column: int | None, code: str, value: str) -> None:
        chunk.errors.append(self._error(line, column, code, value))


@lru_cache(maxsize=4096)
def _deadline(at: datetime) -> datetime:
    return registry.registration_deadline(at)


class _Rejected(Exception):
    def __init__(self, row: dict[str, Any]) -> None:
        super().__init__(row["reason"])
        self.row = row


# --- The run ------------------------------------------------------------------------------


@dataclass
class Totals:
    rows_done: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    duplicates: int = 0
    consent_events: int = 0

    def as_values(self) -> dict[str, int]:
        return dict(self.__dict__)


def run_import(import_id: int, *, chunk_size: int = CHUNK_SIZE) -> ImportStatus | None:
    """Load import ``import_id`` (status QUEUED) into contacts. Commits after every chunk
    and at the end; the import ends DONE, CANCELLED (on request, between chunks) or FAILED
    (with the error text). An import in any other status is left alone (returns None), so
    a duplicate job does nothing. Returns the final status."""
    session = db.session()
    claimed = session.execute(
        sa.update(ContactImport)
        .where(ContactImport.id == import_id, ContactImport.status == ImportStatus.QUEUED)
        .values(status=ImportStatus.RUNNING, started_at=utcnow(), error=None)
    )
    session.commit()
    if not getattr(claimed, "rowcount", 0):
        log.info("import not queued; nothing to do import=%s", import_id)
        return None
    try:
        status = _run(session, import_id, chunk_size)
    except Exception as exc:
        session.rollback()
        log.exception("import failed import=%s", import_id)
        _finish(session, import_id, ImportStatus.FAILED, error=_error_text(exc))
        return ImportStatus.FAILED
    _finish(session, import_id, status)
    return status


def _error_text(exc: Exception) -> str:
    if isinstance(exc, readers.ReadError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"[:2000]


def _finish(
    session: Session, import_id: int, status: ImportStatus, error: str | None = None
) -> None:
    session.execute(
        sa.update(ContactImport)
        .where(ContactImport.id == import_id)
        .values(status=status, finished_at=utcnow(), error=error)
    )
    session.commit()
    log.info("import finished import=%s status=%s", import_id, status.value)


def _run(session: Session, import_id: int, chunk_size: int) -> ImportStatus:
    record = session.get(ContactImport, import_id)
    assert record is not None
    options = dict(record.options or {})
    region = str(options.get("region") or current_app.config.get("DEFAULT_REGION", "TR"))
    types = dict(
        session.execute(sa.select(AttributeDefinition.key, AttributeDefinition.type)).all()
    )
    with readers.open_table(Path(record.path), record.filename) as table:
        plan = Plan.build(dict(record.mapping or {}), table.header, types, region)
        if plan.consent is not None and not options.get("brand_id"):
            raise ValueError("a consent column is mapped but no brand is chosen")
        estimate = table.total_estimate()
        session.execute(
            sa.update(ContactImport)
            .where(ContactImport.id == import_id)
            .values(total_estimate=estimate)
        )
        session.commit()
        parser = RowParser(
            plan,
            import_id,
            _erased_hashes(session),
            str(current_app.config["SECRET_KEY"]),
            record.created_at,
        )
        writer = importer_sql.Writer(
            session,
            list_id=options.get("list_id"),
            consent=_consent_options(record, options) if plan.consent is not None else None,
        )
        totals = Totals()
        for rows in _chunks(table.rows(), chunk_size):
            chunk = parser.parse(rows)
            _write_chunk(session, writer, chunk, totals)
            session.execute(
                sa.update(ContactImport)
                .where(ContactImport.id == import_id)
                .values(**totals.as_values())
            )
            session.commit()
            log.info("import chunk import=%s rows_done=%d", import_id, totals.rows_done)
            if session.scalar(
                sa.select(ContactImport.cancel_requested).where(ContactImport.id == import_id)
            ):
                return ImportStatus.CANCELLED
    return ImportStatus.DONE


def _chunks(rows: Iterator[readers.Row], size: int) -> Iterator[list[readers.Row]]:
    while batch := list(islice(rows, size)):
        yield batch


def _write_chunk(
    session: Session, writer: importer_sql.Writer, chunk: Chunk, totals: Totals
) -> None:
    totals.rows_done += chunk.rows
    totals.rejected += len(chunk.errors)
    totals.duplicates += chunk.duplicates
    if chunk.errors:
        session.execute(sa.insert(ImportRowError), chunk.errors)
    if not chunk.staged:
        return
    counts = writer.write(list(chunk.staged.values()))
    totals.created += counts.created
    totals.updated += counts.updated
    totals.unchanged += counts.unchanged
    totals.consent_events += counts.consent_events


def _consent_options(record: ContactImport, options: dict[str, Any]) -> importer_sql.ConsentOptions:
    """Statements are recorded with actor IMPORT, the chosen source and recipient type."""
    return importer_sql.ConsentOptions(
        import_id=record.id,
        brand_id=int(options["brand_id"]),
        source=str(options.get("consent_source") or "HS_WEB"),
        recipient_type=RecipientType(options.get("recipient_type") or "BIREYSEL").value,
        label=f"import {record.id}: {record.filename}"[:200],
    )


def _erased_hashes(session: Session) -> set[str]:
    return set(
        session.scalars(
            sa.select(Suppression.phone_hash).where(Suppression.reason == SuppressionReason.ERASED)
        )
    )
