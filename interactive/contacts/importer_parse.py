"""The row half of contact imports: a file's rows → validated, staged batches.

``RowParser`` turns rows into one ``Batch`` per chunk: the rejected rows (line, column,
reason, value), the counts, and the accepted rows encoded for the writer, sorted by number,
which makes the database's unique index on the number cheaper to maintain: for PostgreSQL
two COPY texts, the contacts (``importer_sql.CONTACT_COLUMNS``) and, apart, the consent
statements (``importer_sql.CONSENT_COLUMNS``), which may be written by another connection;
for SQLite tuples (``importer_sql.STAGE_COLUMNS``). A PostgreSQL line is built as the row
is parsed, so a row is not turned into a tuple and walked a second time.

``importer_pipeline`` runs a parser over a whole file, in a child process for a large one.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

from interactive.contacts import phones, readers, registry
from interactive.contacts.models import AttributeType, ConsentStatus

ISTANBUL = ZoneInfo("Europe/Istanbul")
# A chunk's consent statements are split in this many parts by the number's last digit, so
# that as many connections can record them at once; a number is always in the same part,
# so its statements in successive chunks are recorded in file order.
CONSENT_PARTS = 2
VALUE_LENGTH = 200
# Distinct values remembered per column (dates, booleans, consent words repeat a lot).
_CACHE_SIZE = 100_000

_TRUE = frozenset({"true", "1", "evet", "yes", "e", "y", "doğru", "dogru"})
_FALSE = frozenset({"false", "0", "hayır", "hayir", "no", "h", "n", "yanlış", "yanlis"})
_ONAY = frozenset({"onay", "evet", "yes", "1", "true", "e", "y"})
_RET = frozenset({"ret", "hayır", "hayir", "no", "0", "false", "h", "n"})
_ZONES = frozenset(available_timezones())


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


_ATTRIBUTE_PARSERS: dict[AttributeType, tuple[Callable[[str], Any], str]] = {
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
class Batch:
    """What one chunk of rows turned into, ready for ``importer_sql.Writer``."""

    rows: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    duplicates: int = 0
    # Numbers (E.164 digits) accepted in an earlier chunk too → the line of their last row
    # in this one.
    repeated: dict[int, int] = field(default_factory=dict)
    staged: int = 0  # accepted rows, one per number
    fresh: int = 0  # of them, numbers not written by an earlier chunk of this file
    statements: int = 0  # of them, rows with a consent statement
    copy: bytes | None = None  # PostgreSQL: the COPY text of the staged contacts
    # PostgreSQL: the COPY text of their statements, in ``CONSENT_PARTS`` parts by number.
    consent_copy: list[bytes] = field(default_factory=list)
    tuples: list[tuple[Any, ...]] | None = None  # SQLite: the staged rows


# Characters COPY's text format escapes; NUL cannot be stored in PostgreSQL text at all.
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r", "\0": ""})
_ENCODE_STRING: Callable[[str], str] = json.encoder.encode_basestring
_MISSING = object()


def _copy_text(value: str) -> str:
    if value.isprintable() and "\\" not in value:
        return value
    return value.translate(_COPY_ESCAPES)


def _copy_lines(lines: list[str]) -> bytes:
    return ("\n".join(lines) + "\n").encode() if lines else b""


def _json_value(value: Any) -> str:
    if value.__class__ is str:
        return str(_ENCODE_STRING(value))
    if value is True or value is False:
        return "true" if value else "false"
    return repr(value)  # int or a finite float: what json.dumps writes


class RowParser:
    """Turns rows into batches; keeps the numbers seen in earlier chunks."""

    def __init__(
        self,
        plan: Plan,
        import_id: int,
        erased: set[str],
        secret: str,
        consent_at: datetime,
        superseded: dict[int, int] | None = None,
    ) -> None:
        self.plan = plan
        # From an earlier import of the same file: numbers whose rows are in several chunks
        # → the line of their last row. The rows before it are duplicates: written, they
        # would first put back what that row replaced.
        self.superseded = superseded or {}
        self.consent_at = consent_at
        self.import_id = import_id
        self.erased = erased
        self.key = secret.encode()
        # Numbers written by earlier chunks, as integers: a third of the memory of strings.
        self.seen: set[int] = set()
        self._has_extra = bool(
            plan.attributes
            or plan.language is not None
            or plan.time_zone is not None
            or plan.consent is not None
        )
        # Sorted by key with json.dumps' separators: the text json.dumps(sort_keys=True) gives.
        self._attributes: list[tuple[str, int, AttributeType, dict[str, str]]] = [
            (json.dumps(key, ensure_ascii=False) + ": ", index, kind, {})
            for key, index, kind in sorted(plan.attributes)
        ]
        self._consents: dict[str, ConsentStatus | object] = {}
        # The COPY text of a consent time and its registration deadline, per time.
        self._stamps: dict[datetime, str] = {}
        self._default_stamp = _stamp(consent_at)

    def parse(
        self, rows: list[readers.Row], postgresql: bool
    ) -> tuple[Batch, dict[str, tuple[Any, ...]]]:
        """The batch of ``rows`` (without its encoded rows) and the staged rows by number:
        ``(dup, contact, statement)`` — for PostgreSQL the contact's COPY line and the
        statement's (or None), for SQLite the row in ``STAGE_COLUMNS`` order and None."""
        plan, batch = self.plan, Batch(rows=len(rows))
        normalise, region = phones.normalise, plan.region
        zone_of, country_of = phones.timezone_for, phones.country_of
        staged: dict[str, tuple[Any, ...]] = {}
        seen, default_at, erased = self.seen, self.consent_at, self.erased
        superseded = self.superseded
        p, fn, ln = plan.phone, plan.first_name, plan.last_name
        default_deadline = _deadline(default_at)
        has_extra = self._has_extra
        stamps = self._stamps
        for line, values, _width in rows:
            raw = values[p]
            e164, code = normalise(raw, region)
            if e164 is None:
                self._reject(batch, line, p, code or "invalid_number", raw)
                continue
            if erased and self._erased(e164):
                self._reject(batch, line, p, "erased", raw)
                continue
            first = values[fn].strip() or None if fn is not None else None
            last = values[ln].strip() or None if ln is not None else None
            if has_extra:
                try:
                    language, zone, attributes, statement = self._extra(values, line)
                except _Rejected as rejected:
                    batch.errors.append(rejected.row)
                    continue
            else:
                language, zone, attributes, statement = None, None, "{}", None
            if (first and len(first) > 100) or (last and len(last) > 100):
                self._reject(batch, line, fn if first and len(first) > 100 else ln, "too_long", "")
                continue
            number = int(e164[1:])
            if superseded and superseded.get(number, 0) > line:
                batch.duplicates += 1
                continue
            previous = staged.pop(e164, None)  # the last row wins; keep file order for the rest
            if previous is not None:
                batch.duplicates += 1
                dup = previous[0]
            else:
                dup = number in seen
                if dup:
                    batch.duplicates += 1
            if dup:
                batch.repeated[number] = line
            zone = zone or zone_of(e164)
            if postgresql:
                contact = "\t".join(
                    (
                        e164,
                        "\\N" if first is None else _copy_text(first),
                        "\\N" if last is None else _copy_text(last),
                        "\\N" if language is None else language,
                        country_of(e164) or "\\N",
                        "\\N" if zone is None else zone,
                        _copy_text(attributes),
                        "t" if dup else "f",
                    )
                )
                said = None
                if statement is not None:
                    word, when = statement
                    stamp = self._default_stamp if when is None else stamps.get(when)
                    if stamp is None and when is not None:
                        stamp = _stamp(when)
                        if len(stamps) < _CACHE_SIZE:
                            stamps[when] = stamp
                    said = f"{e164}\t{word}\t{stamp}"
                staged[e164] = (dup, contact, said)
                continue
            if statement is None:
                status = at = deadline = None
            else:
                status, at = statement
                if at is None:
                    at, deadline = default_at, default_deadline
                else:
                    deadline = _deadline(at)
            row = (e164, first, last, language, country_of(e164), zone, attributes, dup)
            staged[e164] = (dup, (*row, status, at, deadline), None)
        seen.update(int(phone[1:]) for phone in staged)
        batch.staged = len(staged)
        batch.fresh = sum(1 for row in staged.values() if not row[0])
        return batch, staged

    def batch(self, rows: list[readers.Row], postgresql: bool) -> Batch:
        """Parse ``rows`` and encode the accepted ones for the backend's writer."""
        batch, staged = self.parse(rows, postgresql)
        numbers = sorted(staged)
        ordered = [staged[phone] for phone in numbers]
        if postgresql:
            batch.copy = _copy_lines([row[1] for row in ordered])
            parts: list[list[str]] = [[] for _ in range(CONSENT_PARTS)]
            for phone, row in zip(numbers, ordered, strict=True):
                if (said := row[2]) is not None:
                    parts[int(phone[-1]) % CONSENT_PARTS].append(said)
            batch.statements = sum(map(len, parts))
            batch.consent_copy = [_copy_lines(part) for part in parts]
        else:
            batch.tuples = [
                (*row[:9], _sqlite_time(row[9]), _sqlite_time(row[10]))
                for row in (entry[1] for entry in ordered)
            ]
            batch.statements = sum(1 for row in batch.tuples if row[8] is not None)
        return batch

    def _extra(
        self, values: list[str], line: int
    ) -> tuple[str | None, str | None, str, tuple[str, datetime | None] | None]:
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
        parts = []
        for prefix, index, kind, cache in self._attributes:
            text = values[index]
            if not text.strip():
                continue
            if kind == AttributeType.TEXT:
                parts.append(prefix + _ENCODE_STRING(text.strip()))
                continue
            encoded = cache.get(text)
            if encoded is None:
                parser, code = _ATTRIBUTE_PARSERS[kind]
                try:
                    encoded = prefix + _json_value(parser(text))
                except (ValueError, IndexError):
                    raise _Rejected(self._error(line, index, code, text)) from None
                if len(cache) < _CACHE_SIZE:
                    cache[text] = encoded
            parts.append(encoded)
        statement = None
        if plan.consent is not None and (text := values[plan.consent]).strip():
            status = self._consents.get(text, _MISSING)
            if status is _MISSING:
                try:
                    status = parse_consent(text).value
                except ValueError:
                    status = None
                if len(self._consents) < _CACHE_SIZE:
                    self._consents[text] = status
            if status is None:
                raise _Rejected(self._error(line, plan.consent, "bad_consent", text))
            at = None
            if plan.consent_at is not None and (when := values[plan.consent_at]).strip():
                try:
                    at = parse_consent_time(when)
                except (ValueError, IndexError):
                    raise _Rejected(
                        self._error(line, plan.consent_at, "bad_consent_time", when)
                    ) from None
            statement = (str(status), at)
        encoded_attributes = "{" + ", ".join(parts) + "}" if parts else "{}"
        return language, zone, encoded_attributes, statement

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

    def _reject(self, batch: Batch, line: int, column: int | None, code: str, value: str) -> None:
        batch.errors.append(self._error(line, column, code, value))


@lru_cache(maxsize=4096)
def _deadline(at: datetime) -> datetime:
    return registry.registration_deadline(at)


def _stamp(at: datetime) -> str:
    """A consent time and its registration deadline as COPY text."""
    return f"{at.isoformat()}\t{_deadline(at).isoformat()}"


def _sqlite_time(value: datetime | None) -> str | None:
    """The text SQLAlchemy stores for a UTC datetime in SQLite (so comparisons hold)."""
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


class _Rejected(Exception):
    def __init__(self, row: dict[str, Any]) -> None:
        super().__init__(row["reason"])
        self.row = row
