"""The import wizard: upload → preview and column mapping → progress → summary, and the
list of recent imports. The run itself is the job ``contacts.jobs.run_contact_import``."""

from __future__ import annotations

import csv
import io
import logging
import re
import shutil
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from rq.exceptions import NoSuchJobError
from rq.job import Job
from werkzeug.utils import secure_filename

from interactive.contacts import importer, jobs, readers
from interactive.contacts.models import (
    AttributeDefinition,
    AttributeType,
    Brand,
    ContactImport,
    ContactList,
    ImportRowError,
    ImportStatus,
    RecipientType,
)
from interactive.db import db, utcnow
from interactive.redis_store import get_redis
from interactive.web.auth import require
from interactive.web.csv_safe import neutralise
from interactive.web.models import Permission

log = logging.getLogger(__name__)

bp = Blueprint("imports", __name__, template_folder="templates")

PREVIEW_ROWS = 20
ACTIVE = (ImportStatus.QUEUED, ImportStatus.RUNNING)
READ_ERRORS = {
    "empty_file": _l("The file is empty: it has no header row."),
    "unsupported_type": _l(
        "This type of file cannot be imported. Upload a CSV or text file (.csv, .txt, .tsv) "
        "or a spreadsheet (.xlsx, .xlsm, .xls, .ods)."
    ),
    "unreadable_spreadsheet": _l(
        "The spreadsheet could not be read. Open it in Excel or LibreOffice, save it again "
        "as .xlsx or .csv and upload that file."
    ),
    "password_protected": _l(
        "The spreadsheet is protected with a password. Remove the password, save it and "
        "upload it again."
    ),
    "sheet_not_found": _l("The spreadsheet does not have the sheet asked for."),
    "no_visible_sheet": _l("The spreadsheet has no visible sheet."),
    "malformed_csv": _l(
        'A line could not be read: a value is too long, probably because a quote (") is not closed.'
    ),
}
FIELDS = {
    "phone": _l("Phone number"),
    "first_name": _l("First name"),
    "last_name": _l("Last name"),
    "language": _l("Language"),
    "time_zone": _l("Time zone"),
    "consent": _l("Consent (ONAY/RET)"),
    "consent_at": _l("Consent time"),
}
TYPES = {
    AttributeType.TEXT: _l("text"),
    AttributeType.NUMBER: _l("number"),
    AttributeType.DATE: _l("date"),
    AttributeType.BOOLEAN: _l("yes/no"),
}
_KEY = re.compile(r"[^a-z0-9_]+")


_ASCII = str.maketrans("şçğöüıâîû", "scgouiaiu")


def attribute_key(name: str) -> str:
    """A key for an attribute named by a person: "Doğum tarihi" → "dogum_tarihi"."""
    return _KEY.sub("_", importer.fold(name).translate(_ASCII)).strip("_")[:64]


def read_error_text(error: readers.ReadError) -> str:
    return str(READ_ERRORS.get(error.code, _("The file could not be read.")))


def _get(import_id: int) -> ContactImport:
    record = db.session().get(ContactImport, import_id)
    if record is None:
        abort(404)
    return record


@bp.route("/")
@require(Permission.AUDIENCES)
def index() -> ResponseReturnValue:
    session = db.session()
    records = session.scalars(
        sa.select(ContactImport).order_by(ContactImport.id.desc()).limit(50)
    ).all()
    for record in records:
        _check_stale(record)
    session.commit()
    return render_template("imports/index.html", records=records, status_text=STATUS_TEXT)


@bp.route("/new", methods=["GET", "POST"])
@require(Permission.AUDIENCES)
def upload() -> ResponseReturnValue:
    error = None
    if request.method == "POST":
        upload = request.files.get("file")
        if upload is None or not upload.filename:
            error = _("Choose a file to upload.")
        else:
            record, error = _store(upload.filename, upload.stream)
            if record is not None:
                return redirect(url_for("imports.mapping", import_id=record.id))
    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    return render_template("imports/upload.html", error=error, limit=limit), (400 if error else 200)


def _store(filename: str, stream: Any) -> tuple[ContactImport | None, str | None]:
    """Save an upload under instance/imports/<id>/ and check that it reads as a table."""
    session = db.session()
    name = secure_filename(filename) or "upload"
    record = ContactImport(
        filename=filename[:255], path="", status=ImportStatus.UPLOADED, created_by=current_user.id
    )
    session.add(record)
    session.flush()
    folder = Path(current_app.instance_path) / "imports" / str(record.id)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    with path.open("wb") as handle:
        shutil.copyfileobj(stream, handle, 1024 * 1024)
    try:
        with readers.open_table(path, filename) as table:
            record.total_estimate = table.total_estimate()
    except readers.ReadError as exc:
        session.rollback()
        shutil.rmtree(folder, ignore_errors=True)
        return None, read_error_text(exc)
    record.path = str(path)
    session.commit()
    log.info("import uploaded import=%s", record.id)
    return record, None


@bp.route("/<int:import_id>/mapping", methods=["GET", "POST"])
@require(Permission.AUDIENCES)
def mapping(import_id: int) -> ResponseReturnValue:
    record = _get(import_id)
    if record.status != ImportStatus.UPLOADED:
        return redirect(url_for("imports.show", import_id=record.id))
    session = db.session()
    try:
        with readers.open_table(Path(record.path), record.filename) as table:
            header, preview = table.header, table.preview(PREVIEW_ROWS)
            details = {"encoding": table.encoding, "delimiter": table.delimiter}
    except readers.ReadError as exc:
        flash(read_error_text(exc), "error")
        return redirect(url_for("imports.upload"))
    attributes = session.scalars(sa.select(AttributeDefinition).order_by("key")).all()
    brands = session.scalars(sa.select(Brand).order_by(Brand.name)).all()
    lists = session.scalars(sa.select(ContactList).order_by(ContactList.name)).all()
    errors: list[str] = []
    form = request.form
    if request.method == "POST":
        errors = _apply_mapping(record, header, form, {a.key for a in attributes})
        if not errors:
            jobs.start_import(session, record.id)
            session.commit()
            return redirect(url_for("imports.show", import_id=record.id))
        session.rollback()
    return render_template(
        "imports/mapping.html",
        record=record,
        header=header,
        preview=preview,
        details=details,
        attributes=attributes,
        brands=brands,
        lists=lists,
        fields=FIELDS,
        types=TYPES,
        sources=importer.CONSENT_SOURCES,
        recipient_types=list(RecipientType),
        guesses=[_guess(name) for name in header],
        form=form,
        errors=errors,
    ), (400 if errors else 200)


def _guess(name: str) -> str:
    """A first choice for a column, from its header."""
    folded = importer.fold(name)
    guesses = {
        "phone": ("telefon", "phone", "gsm", "cep", "mobile", "numara", "msisdn", "tel"),
        "first_name": ("ad", "adi", "first", "isim", "first name", "first_name"),
        "last_name": ("soyad", "soyadi", "last", "surname", "last name", "last_name"),
        "consent": ("izin", "onay", "consent", "iys"),
    }
    for target, words in guesses.items():
        if folded in words:
            return target
    return ""


def _apply_mapping(
    record: ContactImport, header: list[str], form: Any, known: set[str]
) -> list[str]:
    """Validate the posted mapping; on success set mapping and options, create the new
    attributes and list, and mark the import QUEUED (flushes). Returns error texts."""
    session = db.session()
    errors: list[str] = []
    mapping: dict[str, Any] = {"attributes": {}}
    new_attributes: list[AttributeDefinition] = []
    for index, name in enumerate(header):
        target = form.get(f"col_{index}", "")
        if not target:
            continue
        if target in FIELDS:
            if target in mapping:
                errors.append(
                    _("“%(field)s” is chosen for more than one column.", field=FIELDS[target])
                )
            mapping[target] = index
        elif target.startswith("attr:") and target[5:] in known:
            mapping["attributes"][target[5:]] = index
        elif target == "new":
            key = attribute_key(form.get(f"new_name_{index}") or name)
            kind = form.get(f"new_type_{index}", "text")
            if not key or kind not in set(AttributeType):
                errors.append(_("Column “%(column)s”: give the new attribute a name.", column=name))
                continue
            if key in known or key in mapping["attributes"]:
                errors.append(_("The attribute “%(key)s” exists already.", key=key))
                continue
            mapping["attributes"][key] = index
            new_attributes.append(
                AttributeDefinition(key=key[:64], label=name[:120], type=AttributeType(kind))
            )
    if "phone" not in mapping:
        errors.append(_("Choose the column that holds the phone numbers."))
    options: dict[str, Any] = {
        "consent_source": form.get("consent_source") or "HS_WEB",
        "recipient_type": form.get("recipient_type") or RecipientType.BIREYSEL.value,
        "region": current_app.config.get("DEFAULT_REGION", "TR"),
    }
    if options["consent_source"] not in importer.CONSENT_SOURCES:
        errors.append(_("Choose a consent source."))
    if options["recipient_type"] not in set(RecipientType):
        errors.append(_("Choose a recipient type."))
    brand_id = form.get("brand_id", type=int)
    if "consent" in mapping:
        if brand_id is None or session.get(Brand, brand_id) is None:
            errors.append(_("A consent column is mapped: choose the brand the consent is for."))
        options["brand_id"] = brand_id
    if errors:
        return errors
    session.add_all(new_attributes)
    list_id = form.get("list_id", "")
    new_list = (form.get("new_list") or "").strip()[:120]
    if list_id == "new" and new_list:
        existing = session.scalar(sa.select(ContactList).where(ContactList.name == new_list))
        target = existing or ContactList(name=new_list)
        session.add(target)
        session.flush()
        options["list_id"] = target.id
    elif list_id.isdigit() and session.get(ContactList, int(list_id)) is not None:
        options["list_id"] = int(list_id)
    record.mapping = mapping
    record.options = options
    record.status = ImportStatus.QUEUED
    session.flush()
    return []


@bp.route("/<int:import_id>")
@require(Permission.AUDIENCES)
def show(import_id: int) -> ResponseReturnValue:
    record = _get(import_id)
    if record.status == ImportStatus.UPLOADED:
        return redirect(url_for("imports.mapping", import_id=record.id))
    _check_stale(record)
    db.session().commit()
    reasons = (
        db.session()
        .execute(
            sa.select(ImportRowError.reason, sa.func.count())
            .where(ImportRowError.import_id == record.id)
            .group_by(ImportRowError.reason)
            .order_by(sa.func.count().desc())
        )
        .all()
    )
    return render_template(
        "imports/show.html",
        record=record,
        progress=progress_of(record),
        reasons=[(importer.reason_text(code), count) for code, count in reasons],
    )


@bp.route("/<int:import_id>/progress")
@require(Permission.AUDIENCES)
def progress(import_id: int) -> ResponseReturnValue:
    record = _get(import_id)
    _check_stale(record)
    db.session().commit()
    return jsonify(progress_of(record))


def progress_of(record: ContactImport, now: datetime | None = None) -> dict[str, Any]:
    """Counters, rate (rows/s) and ETA (s) of an import, for the page and its poll."""
    now = now or utcnow()
    rate = eta = None
    total = record.total_estimate
    if record.started_at is not None and record.rows_done:
        end = record.finished_at or now
        seconds = max((end - record.started_at).total_seconds(), 0.001)
        rate = record.rows_done / seconds
        if record.status == ImportStatus.RUNNING and total:
            eta = max(total - record.rows_done, 0) / rate
    percent = None
    if record.status == ImportStatus.DONE:
        percent = 100
    elif total:
        percent = min(100, round(100 * record.rows_done / total))
    return {
        "status": record.status.value,
        "status_text": str(STATUS_TEXT[record.status]),
        "finished": record.status not in ACTIVE,
        "rows_done": record.rows_done,
        "total": total,
        "percent": percent,
        "rate": round(rate) if rate is not None else None,
        "eta": round(eta) if eta is not None else None,
        "created": record.created,
        "updated": record.updated,
        "unchanged": record.unchanged,
        "rejected": record.rejected,
        "duplicates": record.duplicates,
        "consent_events": record.consent_events,
        "error": record.error,
        "cancel_requested": record.cancel_requested,
    }


STATUS_TEXT = {
    ImportStatus.UPLOADED: _l("waiting for the column mapping"),
    ImportStatus.QUEUED: _l("waiting to start"),
    ImportStatus.RUNNING: _l("running"),
    ImportStatus.DONE: _l("done"),
    ImportStatus.FAILED: _l("failed"),
    ImportStatus.CANCELLED: _l("cancelled"),
}


def _check_stale(record: ContactImport) -> None:
    """An import whose job is gone (worker killed, Redis flushed) is marked FAILED rather
    than left running for ever (the caller commits)."""
    if record.status not in ACTIVE:
        return
    try:
        job = Job.fetch(jobs.import_job_id(record.id), connection=get_redis())
        lost = job.is_failed or job.is_stopped or job.is_canceled
    except NoSuchJobError:
        lost = True
    if lost:
        record.status = ImportStatus.FAILED
        record.error = "The import job stopped unexpectedly; the rows imported so far stay."
        record.finished_at = utcnow()
        log.warning("import job lost import=%s", record.id)


@bp.route("/<int:import_id>/cancel", methods=["POST"])
@require(Permission.AUDIENCES)
def cancel(import_id: int) -> ResponseReturnValue:
    record = _get(import_id)
    session = db.session()
    if record.status in (ImportStatus.UPLOADED, ImportStatus.QUEUED):
        record.status = ImportStatus.CANCELLED
        record.finished_at = utcnow()
        record.cancel_requested = True
    elif record.status == ImportStatus.RUNNING:
        session.execute(
            sa.update(ContactImport)
            .where(ContactImport.id == record.id)
            .values(cancel_requested=True)
        )
    session.commit()
    flash(_("The import stops after the rows it is writing now; those rows stay imported."), "info")
    return redirect(url_for("imports.show", import_id=record.id))


@bp.route("/<int:import_id>/errors.csv")
@require(Permission.AUDIENCES)
def errors_file(import_id: int) -> ResponseReturnValue:
    record = _get(import_id)
    texts: dict[str, str] = {}

    def generate() -> Any:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        buffer.write("\ufeff")  # Excel opens UTF-8 only with a BOM
        writer.writerow([_("Line"), _("Column"), _("Reason"), _("Value")])
        for line, column, reason, value in _error_rows(record.id):
            text = texts.get(reason) or texts.setdefault(reason, importer.reason_text(reason))
            writer.writerow([line, neutralise(column), text, neutralise(value)])
            if buffer.tell() > 64 * 1024:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue()

    name = f"import-{record.id}-errors.csv"
    return Response(
        stream_with_context(generate()),
        mimetype="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def _error_rows(import_id: int, page: int = 5000) -> Any:
    """The rejected rows in file order (rows are written in order, so by id), read page by
    page: a streamed response must not hold a server-side cursor across yields."""
    last = 0
    while True:
        rows = (
            db.session()
            .execute(
                sa.select(
                    ImportRowError.id,
                    ImportRowError.line,
                    ImportRowError.column,
                    ImportRowError.reason,
                    ImportRowError.value,
                )
                .where(ImportRowError.import_id == import_id, ImportRowError.id > last)
                .order_by(ImportRowError.id)
                .limit(page)
            )
            .all()
        )
        for row in rows:
            yield row[1:]
        if len(rows) < page:
            return
        last = rows[-1][0]
