"""İYS (İleti Yönetim Sistemi) registry layer: pure, model-independent.

What lives here: the value objects exchanged with the registry (:class:`RegistryEvent` going
out, :class:`RegistryChange` coming in), the 3-business-day registration deadline, the bulk
upload export (JSON / CSV) and the import of the registry's change reports. Nothing here does
I/O; the HTTP client is :mod:`interactive.contacts.registry_client`.

Wire shapes (all in :func:`consent_to_iys` / :data:`CSV_COLUMNS` / :func:`change_from_item`):

* Consent object, verified against the registry's developer pages (dev.iys.org.tr, "Tekil
  İzin Ekleme", "Asenkron Çoklu İzin Ekleme", "İzin Hareketi Sorgulama") and several
  independent client libraries: ``consentDate`` (``YYYY-MM-DD HH:MM:SS``, GMT+3),
  ``source``, ``recipient``, ``recipientType``, ``status``, ``type``; pulled changes add
  ``creationDate`` and ``transactionId`` and arrive as ``{"after": ..., "list": [...]}``.
* The asynchronous bulk request body is a bare JSON array of consent objects (verified).
* CSV: the registry's daily change file ("Günlük İzin Hareket Dosyası") is documented with
  the columns ``creationDate transactionId recipient recipientType type status consentDate
  source``; our export uses those names and order minus the two registry-made ones. The web
  panel's Excel upload template could NOT be verified; if it differs, change
  :data:`CSV_COLUMNS` only.
* ``HS_*`` sources are verified from client libraries, not from an official list; ``IYS_*``
  source values (changes made in the registry itself) are not enumerated anywhere we could
  check, so incoming sources are kept verbatim.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any, Literal, cast, get_args
from zoneinfo import ZoneInfo

import holidays
import phonenumbers

ISTANBUL = ZoneInfo("Europe/Istanbul")

RecipientType = Literal["BIREYSEL", "TACIR"]
Channel = Literal["MESAJ", "ARAMA", "EPOSTA"]
Status = Literal["ONAY", "RET"]
RECIPIENT_TYPES: frozenset[str] = frozenset(get_args(RecipientType))
CHANNELS: frozenset[str] = frozenset(get_args(Channel))
STATUSES: frozenset[str] = frozenset(get_args(Status))

#: Sources a brand may use when it registers a consent it collected itself. ``IYS_*``
#: sources are never valid here: the registry rejects them from a service provider.
HS_SOURCES: frozenset[str] = frozenset(
    {
        "HS_FIZIKSEL_ORTAM",
        "HS_ISLAK_IMZA",
        "HS_WEB",
        "HS_CAGRI_MERKEZI",
        "HS_SOSYAL_MEDYA",
        "HS_EPOSTA",
        "HS_MESAJ",
        "HS_MOBIL",
        "HS_EORTAM",
        "HS_ETKINLIK",
        "HS_2015",
        "HS_ATM",
        "HS_KARAR",
    }
)

CONSENT_DATE_FORMAT = "%Y-%m-%d %H:%M:%S"
#: The registry rejects consent dates before this; ``HS_2015`` must carry exactly this one.
REGISTRY_EPOCH = datetime(2015, 5, 1, tzinfo=ISTANBUL)
#: Column order of the CSV export (and the names the CSV import looks for).
CSV_COLUMNS = ("recipient", "recipientType", "type", "status", "consentDate", "source")
#: Column names the import recognises in any letter case (the daily change file adds the
#: registry-made ``creationDate`` and ``transactionId``).
_KNOWN_COLUMNS = {
    name.lower(): name for name in (*CSV_COLUMNS, "creationDate", "transactionId", "brandCode")
}
_PHONE_CHANNELS = frozenset({"MESAJ", "ARAMA"})
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _is_aware(value: datetime) -> bool:
    return value.tzinfo is not None and value.utcoffset() is not None


@dataclass(frozen=True)
class RegistryEvent:
    """A consent (ONAY) or rejection (RET) taken outside İYS, to be registered there.

    ``recipient`` is E.164 (``+90…``) for MESAJ/ARAMA and an e-mail address for EPOSTA;
    ``ref`` is our ledger row id. Construction validates everything the registry would
    reject for format reasons, so an export never carries a half-valid row.
    """

    recipient: str
    recipient_type: RecipientType
    channel: Channel
    status: Status
    source: str
    consent_at: datetime
    brand_code: str
    ref: int | None = None

    def __post_init__(self) -> None:
        if self.recipient_type not in RECIPIENT_TYPES:
            raise ValueError(f"recipient_type must be one of {sorted(RECIPIENT_TYPES)}")
        if self.channel not in CHANNELS:
            raise ValueError(f"channel must be one of {sorted(CHANNELS)}")
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {sorted(STATUSES)}")
        if self.source not in HS_SOURCES:
            raise ValueError(f"source {self.source!r} is not a service-provider (HS_*) source")
        if not self.brand_code.strip():
            raise ValueError("brand_code is empty")
        _check_recipient(self.recipient, self.channel)
        _check_consent_at(self.consent_at, self.source)


def _check_recipient(recipient: str, channel: str) -> None:
    if channel in _PHONE_CHANNELS:
        try:
            number = phonenumbers.parse(recipient, None)
        except phonenumbers.NumberParseException:
            raise ValueError("recipient is not an E.164 phone number") from None
        e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        if e164 != recipient or not phonenumbers.is_valid_number(number):
            raise ValueError("recipient is not an E.164 phone number")
        if number.country_code != 90:
            raise ValueError("İYS only holds Turkish (+90) numbers")
    elif not _EMAIL.fullmatch(recipient) or recipient.startswith(_FORMULA_START):
        # The formula check keeps the CSV export safe to open in a spreadsheet.
        raise ValueError("recipient is not an e-mail address")


def _check_consent_at(consent_at: datetime, source: str) -> None:
    if not _is_aware(consent_at):
        raise ValueError("consent_at must be timezone-aware")
    local = consent_at.astimezone(ISTANBUL).replace(microsecond=0)
    if source == "HS_2015" and local != REGISTRY_EPOCH:
        raise ValueError("HS_2015 consents must be dated 2015-05-01 00:00:00 (Turkish time)")
    if local < REGISTRY_EPOCH:
        raise ValueError("consent_at is before 2015-05-01, which İYS rejects")


@dataclass(frozen=True)
class RegistryChange:
    """A consent as the registry reports it (pulled changes or a change file).

    ``source`` is kept verbatim: ``IYS_*`` means the recipient acted in the registry
    itself, ``HS_*`` is a brand's own registration echoed back. The caller records the
    ledger row with actor "registry sync" either way.
    """

    recipient: str
    recipient_type: RecipientType
    channel: Channel
    status: Status
    source: str
    consent_at: datetime
    brand_code: str | None
    transaction_id: str | None = None
    registered_at: datetime | None = None

    @property
    def made_in_registry(self) -> bool:
        return self.source.startswith("IYS")


@dataclass(frozen=True)
class ChangeError:
    """One item of a change report that could not be used: ``line`` (CSV, 1-based) or
    ``index`` (JSON list, 0-based) and a reason that never contains the address."""

    reason: str
    line: int | None = None
    index: int | None = None

    def __str__(self) -> str:
        where = f"line {self.line}" if self.line is not None else f"item {self.index}"
        return f"{where}: {self.reason}"


# --- deadline --------------------------------------------------------------------------


@lru_cache(maxsize=32)
def _public_holidays(year: int) -> frozenset[date]:
    # Only the "public" category: the half-day eves (arife, 28 Ekim) come from the
    # "half_day" category and are deliberately left out, see registration_deadline.
    calendar = holidays.country_holidays("TR", years=year, categories=("public",))
    return frozenset(calendar.keys())


def is_business_day(day: date) -> bool:
    """Monday to Friday and not a Turkish public holiday. Half-day eves count as business
    days (see :func:`registration_deadline`)."""
    return day.weekday() < 5 and day not in _public_holidays(day.year)


def registration_deadline(taken_at: datetime, business_days: int = 3) -> datetime:
    """End of the ``business_days``-th Turkish business day after the (Istanbul) day the
    consent was taken: 23:59:59.999999 Europe/Istanbul, returned as aware UTC.

    Half-day eves (Ramazan/Kurban arife, 28 Ekim) are counted as business days: offices and
    the registry work until 13:00, and counting them gives the earlier, safe deadline.
    """
    if not _is_aware(taken_at):
        raise ValueError("taken_at must be timezone-aware")
    if business_days < 1:
        raise ValueError("business_days must be at least 1")
    day = taken_at.astimezone(ISTANBUL).date()
    remaining = business_days
    while remaining:
        day += timedelta(days=1)
        if is_business_day(day):
            remaining -= 1
    end = datetime.combine(day, time.max, tzinfo=ISTANBUL)
    return end.astimezone(UTC)


def is_overdue(taken_at: datetime, now: datetime) -> bool:
    """True once ``now`` is past the registration deadline of a consent taken at
    ``taken_at`` (both aware)."""
    if not _is_aware(now):
        raise ValueError("now must be timezone-aware")
    return now > registration_deadline(taken_at)


# --- export ----------------------------------------------------------------------------


def format_consent_date(value: datetime) -> str:
    """The registry's ``consentDate``: Turkish local time to the second."""
    return value.astimezone(ISTANBUL).strftime(CONSENT_DATE_FORMAT)


def consent_to_iys(event: RegistryEvent) -> dict[str, str]:
    """One consent object as the registry's single and bulk add endpoints take it."""
    return {
        "consentDate": format_consent_date(event.consent_at),
        "source": event.source,
        "recipient": event.recipient,
        "recipientType": event.recipient_type,
        "status": event.status,
        "type": event.channel,
    }


def export_json(events: Iterable[RegistryEvent]) -> bytes:
    """The bulk request body: a JSON array of consent objects, UTF-8."""
    body = [consent_to_iys(event) for event in events]
    return json.dumps(body, ensure_ascii=False, indent=1).encode("utf-8")


def _csv_cell(column: str, value: str, channel: str) -> str:
    # Phone numbers legitimately start with "+" and must stay readable; every other cell
    # is an enum or a validated address, so this only guards against future changes.
    phone = column == "recipient" and channel in _PHONE_CHANNELS
    if not phone and value.startswith(_FORMULA_START):
        raise ValueError(f"{column} would be read as a spreadsheet formula")
    return value


def export_csv(events: Iterable[RegistryEvent]) -> bytes:
    """Semicolon-separated CSV, UTF-8 with BOM (Excel in a Turkish locale opens it as is),
    CRLF line ends, header :data:`CSV_COLUMNS`."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for event in events:
        item = consent_to_iys(event)
        writer.writerow([_csv_cell(col, item[col], event.channel) for col in CSV_COLUMNS])
    return out.getvalue().encode("utf-8-sig")


# --- import ----------------------------------------------------------------------------


def parse_registry_time(value: str) -> datetime:
    """A registry date-time (Turkish time unless it carries an offset) as aware UTC.
    Also takes ISO ``T`` forms and the ``dd.mm.yyyy`` form a spreadsheet may save."""
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        parsed = _parse_turkish_date(text)
    if not _is_aware(parsed):
        parsed = parsed.replace(tzinfo=ISTANBUL)
    return parsed.astimezone(UTC)


def _parse_turkish_date(text: str) -> datetime:
    for fmt in ("%d.%m.%Y %H:%M:%S", "%d.%m.%Y %H:%M"):
        try:
            return datetime.strptime(text, fmt)  # noqa: DTZ007 (zone added by the caller)
        except ValueError:
            continue
    raise ValueError("date is not YYYY-MM-DD HH:MM:SS")


def _field(item: Mapping[str, Any], key: str) -> str | None:
    value = item.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError(f"{key} is not text")
    return str(value).strip() or None


def _enum(item: Mapping[str, Any], key: str, allowed: frozenset[str]) -> str:
    value = (_field(item, key) or "").upper()
    if value not in allowed:
        raise ValueError(f"{key} must be one of {'/'.join(sorted(allowed))}")
    return value


def normalise_recipient(raw: str, channel: str) -> str:
    """E.164 for phone channels (a lost "+" or a national 0-prefix is repaired), the
    trimmed address for EPOSTA. Raises ``ValueError`` without echoing the value."""
    if channel in _PHONE_CHANNELS:
        try:
            number = phonenumbers.parse(raw, "TR")
        except phonenumbers.NumberParseException:
            raise ValueError("recipient is not a phone number") from None
        if not phonenumbers.is_valid_number(number):
            raise ValueError("recipient is not a valid phone number")
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    address = raw.strip()
    if not _EMAIL.fullmatch(address):
        raise ValueError("recipient is not an e-mail address")
    return address


def change_from_item(item: Mapping[str, Any], brand_code: str | None = None) -> RegistryChange:
    """One registry consent object (API or CSV row) as a :class:`RegistryChange`.

    A TACIR consent may lack ``consentDate``/``source`` (the registry does not require
    them); the registration time then stands in for the consent time. Raises ``ValueError``.
    """
    channel = _enum(item, "type", CHANNELS)
    status = _enum(item, "status", STATUSES)
    recipient_type = _enum(item, "recipientType", RECIPIENT_TYPES)
    raw_recipient = _field(item, "recipient")
    if raw_recipient is None:
        raise ValueError("recipient is missing")
    recipient = normalise_recipient(raw_recipient, channel)
    created = _field(item, "creationDate")
    registered_at = parse_registry_time(created) if created else None
    consent_text = _field(item, "consentDate")
    if consent_text:
        consent_at = parse_registry_time(consent_text)
    elif recipient_type == "TACIR" and registered_at is not None:
        consent_at = registered_at
    else:
        raise ValueError("consentDate is missing")
    source = _field(item, "source")
    if source is None and recipient_type != "TACIR":
        raise ValueError("source is missing")
    return RegistryChange(
        recipient=recipient,
        recipient_type=cast(RecipientType, recipient_type),
        channel=cast(Channel, channel),
        status=cast(Status, status),
        source=source or "",
        consent_at=consent_at,
        brand_code=_field(item, "brandCode") or brand_code,
        transaction_id=_field(item, "transactionId"),
        registered_at=registered_at,
    )


def parse_changes(
    data: bytes, filename: str, *, brand_code: str | None = None
) -> tuple[list[RegistryChange], list[ChangeError]]:
    """Read a registry change report: the API's JSON (a list, or ``{"list": [...]}``) or a
    CSV with the same column names (UTF-8 with or without BOM, ``;`` or ``,``).

    Every unusable item becomes a :class:`ChangeError`; nothing here raises for bad input.
    ``brand_code`` fills in items that do not name their brand (the API never does).
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return [], [ChangeError("file is not UTF-8", line=1)]
    name = filename.lower()
    looks_json = text.lstrip()[:1] in ("[", "{")
    if name.endswith(".json") or (not name.endswith(".csv") and looks_json):
        return _parse_json_changes(text, brand_code)
    return _parse_csv_changes(text, brand_code)


def _parse_json_changes(
    text: str, brand_code: str | None
) -> tuple[list[RegistryChange], list[ChangeError]]:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        return [], [ChangeError(f"not valid JSON ({exc.msg})", line=exc.lineno)]
    except RecursionError:
        return [], [ChangeError("not valid JSON (nested too deeply)", line=1)]
    items = document.get("list") if isinstance(document, dict) else document
    if not isinstance(items, list):
        return [], [ChangeError('expected a list or {"list": [...]}', line=1)]
    return _collect(enumerate(items), brand_code, json_index=True)


def _parse_csv_changes(
    text: str, brand_code: str | None
) -> tuple[list[RegistryChange], list[ChangeError]]:
    header = text.split("\n", 1)[0]
    delimiter = ";" if header.count(";") >= header.count(",") else ","
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    columns = {name.strip().lower() for name in reader.fieldnames or []}
    missing = [
        c for c in ("recipient", "recipientType", "type", "status") if c.lower() not in columns
    ]
    if missing:
        return [], [ChangeError(f"missing column(s): {', '.join(missing)}", line=1)]
    rows = []
    for row in reader:
        if not any((value or "").strip() for value in row.values() if isinstance(value, str)):
            continue
        canonical = {key.strip(): value for key, value in row.items() if key is not None}
        rows.append((reader.line_num, _by_canonical_name(canonical)))
    return _collect(rows, brand_code, json_index=False)


def _by_canonical_name(row: Mapping[str, Any]) -> dict[str, Any]:
    return {_KNOWN_COLUMNS.get(key.lower(), key): value for key, value in row.items()}


def _collect(
    items: Iterable[tuple[int, Any]], brand_code: str | None, *, json_index: bool
) -> tuple[list[RegistryChange], list[ChangeError]]:
    changes: list[RegistryChange] = []
    errors: list[ChangeError] = []
    for position, item in items:
        index, line = (position, None) if json_index else (None, position)
        if not isinstance(item, Mapping):
            errors.append(ChangeError("item is not an object", line=line, index=index))
            continue
        try:
            changes.append(change_from_item(item, brand_code))
        except ValueError as exc:
            errors.append(ChangeError(str(exc), line=line, index=index))
    return changes, errors
