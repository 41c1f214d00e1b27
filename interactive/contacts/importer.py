"""Contact imports: read an uploaded file, validate every row, load it in chunks.

``run_import(import_id)`` is the whole run (the job in ``contacts.jobs`` calls it). Per
chunk of rows (50,000 by default):

1. Python parses each row once (``importer_parse``): the number with ``phones.normalise``
   (the import's region, else the ``DEFAULT_REGION`` setting), names, language, time zone,
   typed attributes and the consent statement. A row with any bad value is rejected whole
   and reported (``ImportRowError``: line, column, reason code, value). Numbers erased on
   request (their hash is on the suppression list as ERASED) are rejected too: never
   re-created. A large file is read and parsed in a child process, a chunk ahead of the
   database writes.
2. The accepted rows go to a temporary table (COPY on PostgreSQL, executemany on SQLite)
   and one ``INSERT … SELECT … ON CONFLICT (phone) DO UPDATE … WHERE <something changed>``
   writes them (``importer_sql``). An empty cell never erases what a contact has; a
   contact whose time zone was set by a person keeps it.
3. Consent statements become ledger events with the rules of ``consent.record`` (repeats
   are skipped; RET overrides ONAY) and the current states follow, set-based; the contacts
   join the chosen list (idempotent). For a large file on PostgreSQL two more connections
   record a chunk's statements once its contacts are committed, while the next chunk's
   contacts are written (``importer_sql``).
4. Counters and ``rows_done`` are committed with the chunk, so the progress page sees them
   (the consent events of a chunk recorded apart are counted with the next one), and a
   cancel request is honoured before the next chunk: committed chunks stay, with their
   consent statements.

Duplicates inside the file: the last row for a number wins; the others count as
duplicates. A number whose rows fall in different chunks is written by each in turn, so a
run keeps the file's SHA-256 and those numbers with the line of their last row
(``repeated``); a later import of the same file, with the same mapping and options, skips
their earlier rows. Re-importing a file therefore changes nothing: all its rows are
unchanged and no consent event is added.
"""

from __future__ import annotations

import hashlib
import logging
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from interactive.contacts import importer_sql, phones, readers
from interactive.contacts.importer_parse import (
    Batch,
    Plan,
    RowParser,
    fold,
    parse_boolean,
    parse_consent,
    parse_consent_time,
    parse_date,
    parse_number,
)
from interactive.contacts.importer_pipeline import ParseJob, batches
from interactive.contacts.models import (
    AttributeDefinition,
    ContactImport,
    ImportRowError,
    ImportStatus,
    RecipientType,
    Suppression,
    SuppressionReason,
)
from interactive.db import db, utcnow

__all__ = [
    "CONSENT_SOURCES",
    "Plan",
    "RowParser",
    "fold",
    "parse_boolean",
    "parse_consent",
    "parse_consent_time",
    "parse_date",
    "parse_number",
    "reason_text",
    "run_import",
]

log = logging.getLogger(__name__)

CHUNK_SIZE = 50_000
# Numbers in several chunks remembered per import at most (beyond: none are).
MAX_REPEATED = 200_000
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


def reason_text(code: str) -> str:
    """The user-facing text of a rejection reason code."""
    if code in phones.ERROR_CODES:
        return str(phones.error_message(code))
    return str(REASONS.get(code, code))


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
    record.file_sha256 = _sha256(Path(record.path))
    superseded = _superseded(session, record)
    session.commit()
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
        # A child process pays off only for files of several chunks that it can stream.
        in_process = not table.streams or (estimate or 0) <= 2 * chunk_size
        writer = importer_sql.Writer(
            session,
            list_id=options.get("list_id"),
            consent=_consent_options(record, options) if plan.consent is not None else None,
            parallel=not in_process,
        )
        job = ParseJob(
            path=Path(record.path),
            filename=record.filename,
            plan=plan,
            import_id=import_id,
            erased=_erased_hashes(session),
            secret=str(current_app.config["SECRET_KEY"]),
            consent_at=record.created_at,
            chunk_size=chunk_size,
            postgresql=writer.postgresql,
            superseded=superseded,
        )
        totals = Totals()
        repeated = dict(superseded)
        status = ImportStatus.DONE
        with closing(writer), closing(batches(job, table, in_process=in_process)) as parsed:
            for batch in parsed:
                repeated.update(batch.repeated)
                _write_batch(session, writer, batch, totals)
                _save(session, import_id, totals)
                totals.consent_events += writer.committed()
                log.info("import chunk import=%s rows_done=%d", import_id, totals.rows_done)
                if session.scalar(
                    sa.select(ContactImport.cancel_requested).where(ContactImport.id == import_id)
                ):
                    status = ImportStatus.CANCELLED
                    break
            # The statements of committed chunks are recorded, on a cancel too.
            totals.consent_events += writer.finish()
            if status == ImportStatus.DONE and len(repeated) <= MAX_REPEATED:
                record.repeated = {str(number): line for number, line in repeated.items()}
            _save(session, import_id, totals)
    return status


def _sha256(path: Path) -> str:
    with path.open("rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


def _superseded(session: Session, record: ContactImport) -> dict[int, int]:
    """What the last finished import of the same file, mapped the same way, found in more
    than one chunk (number → the line of its last row); empty when there is none."""
    earlier = session.scalars(
        sa.select(ContactImport)
        .where(
            ContactImport.file_sha256 == record.file_sha256,
            ContactImport.status == ImportStatus.DONE,
            ContactImport.repeated.is_not(None),
            ContactImport.id != record.id,
        )
        .order_by(ContactImport.id.desc())
    )
    for import_ in earlier:
        if import_.mapping == record.mapping and import_.options == record.options:
            return {int(number): int(line) for number, line in (import_.repeated or {}).items()}
    return {}


def _save(session: Session, import_id: int, totals: Totals) -> None:
    """Commit the counters (with the chunk written since the last commit)."""
    session.execute(
        sa.update(ContactImport).where(ContactImport.id == import_id).values(**totals.as_values())
    )
    session.commit()


def _write_batch(
    session: Session, writer: importer_sql.Writer, batch: Batch, totals: Totals
) -> None:
    totals.rows_done += batch.rows
    totals.rejected += len(batch.errors)
    totals.duplicates += batch.duplicates
    if batch.errors:
        session.execute(sa.insert(ImportRowError), batch.errors)
    if not batch.staged:
        return
    counts = writer.write(batch)
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
