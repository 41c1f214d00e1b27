"""The import pipeline (``contacts.importer``) on the test database, SQLite or PostgreSQL."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy.orm import Session

from interactive.contacts import consent, importer_sql, suppression
from interactive.contacts.importer import run_import
from interactive.contacts.models import (
    AttributeDefinition,
    AttributeType,
    Brand,
    ConsentEvent,
    ConsentState,
    ConsentStatus,
    Contact,
    ContactImport,
    ContactList,
    ImportRowError,
    ImportStatus,
    ListMember,
    Registration,
    SuppressionReason,
)
from interactive.db import db
from tests.contacts.xlsx import write_xlsx

HEADER = "phone,first,last,city,birth,consent\n"


@pytest.fixture
def setup(ctx: Session) -> dict[str, Any]:
    brand = Brand(code="SHOP", name="Shop")
    ctx.add_all(
        [
            brand,
            AttributeDefinition(key="city", label="City", type=AttributeType.TEXT),
            AttributeDefinition(key="birth", label="Birth", type=AttributeType.DATE),
            AttributeDefinition(key="points", label="Points", type=AttributeType.NUMBER),
            AttributeDefinition(key="vip", label="VIP", type=AttributeType.BOOLEAN),
        ]
    )
    ctx.commit()
    return {"brand_id": brand.id}


MAPPING = {
    "phone": 0,
    "first_name": 1,
    "last_name": 2,
    "consent": 5,
    "attributes": {"city": 3, "birth": 4},
}


def queue(
    session: Session,
    path: Path,
    mapping: dict[str, Any] | None = None,
    **options: Any,
) -> ContactImport:
    record = ContactImport(
        filename=path.name,
        path=str(path),
        status=ImportStatus.QUEUED,
        mapping=mapping if mapping is not None else MAPPING,
        options=options,
    )
    session.add(record)
    session.commit()
    return record


def run(session: Session, path: Path, **options: Any) -> ContactImport:
    mapping = options.pop("mapping", None)
    chunk = options.pop("chunk_size", 1000)
    record = queue(session, path, mapping, **options)
    run_import(record.id, chunk_size=chunk)
    session.expire_all()
    result = session.get(ContactImport, record.id)
    assert result is not None
    assert result.status == ImportStatus.DONE, result.error
    return result


def contact(session: Session, phone: str) -> Contact:
    found = session.scalar(sa.select(Contact).where(Contact.phone == phone))
    assert found is not None, phone
    return found


def errors(session: Session, record: ContactImport) -> list[tuple[int, str, str, str]]:
    rows = session.execute(
        sa.select(
            ImportRowError.line, ImportRowError.column, ImportRowError.reason, ImportRowError.value
        )
        .where(ImportRowError.import_id == record.id)
        .order_by(ImportRowError.line)
    )
    return [tuple(row) for row in rows]  # type: ignore[misc]


def counts(record: ContactImport) -> dict[str, int]:
    names = ("created", "updated", "unchanged", "rejected", "duplicates", "consent_events")
    return {name: getattr(record, name) for name in names}


def test_numbers_as_people_write_them_and_typed_values(
    ctx: Session, setup: dict[str, Any], tmp_path: Path
) -> None:
    path = tmp_path / "a.csv"
    path.write_text(
        HEADER + "0532 123 45 67,Ayşe,Yılmaz,İzmir,01.02.1990,ONAY\n"
        "+90 533 111 22 33,Ömer,,Muğla,1985-12-31,\n"
        "905341112233,Şükrü,Çelik,,15/06/2001,RET\n"
        "5351112233,Gül,Ak,, ,hayır\n",
        encoding="utf-8",
    )
    record = run(ctx, path, brand_id=setup["brand_id"])
    assert counts(record) == {
        "created": 4,
        "updated": 0,
        "unchanged": 0,
        "rejected": 0,
        "duplicates": 0,
        "consent_events": 3,
    }
    assert record.rows_done == 4
    ayse = contact(ctx, "+905321234567")
    assert (ayse.first_name, ayse.last_name) == ("Ayşe", "Yılmaz")
    assert ayse.attributes == {"city": "İzmir", "birth": "1990-02-01"}
    assert ayse.time_zone == "Europe/Istanbul"
    assert ayse.country == "TR"
    assert contact(ctx, "+905331112233").attributes == {"city": "Muğla", "birth": "1985-12-31"}
    assert contact(ctx, "+905341112233").attributes == {"birth": "2001-06-15"}
    assert contact(ctx, "+905351112233").last_name == "Ak"
    query = sa.select(Contact.phone, ConsentState.status).join(
        ConsentState, ConsentState.contact_id == Contact.id
    )
    states = {phone: status for phone, status in ctx.execute(query)}
    assert states == {
        "+905321234567": ConsentStatus.ONAY,
        "+905341112233": ConsentStatus.RET,
        "+905351112233": ConsentStatus.RET,
    }
    events = ctx.scalars(sa.select(ConsentEvent).order_by(ConsentEvent.recipient)).all()
    assert {e.actor.value for e in events} == {"import"}
    assert {e.source for e in events} == {"HS_WEB"}
    assert [e.registration for e in events] == [
        Registration.PENDING,
        Registration.NOT_REQUIRED,  # a first RET is not registered
        Registration.NOT_REQUIRED,
    ]
    assert events[0].consent_at == record.created_at
    assert events[0].registry_deadline is not None


@pytest.mark.parametrize(
    ("encoding", "delimiter"),
    [("utf-8-sig", ","), ("cp1254", ";"), ("iso-8859-9", "\t"), ("utf-8", ";")],
)
def test_encodings_and_delimiters(
    ctx: Session, setup: dict[str, Any], tmp_path: Path, encoding: str, delimiter: str
) -> None:
    path = tmp_path / "turkish.csv"
    lines = [["Telefon", "Ad", "Soyad", "Şehir", "Doğum", "İzin"]]
    lines.append(["0532 123 45 67", "Çağlar", "Işık", "Eskişehir", "", "evet"])
    path.write_bytes("\r\n".join(delimiter.join(line) for line in lines).encode(encoding) + b"\r\n")
    record = run(ctx, path, brand_id=setup["brand_id"])
    assert record.created == 1
    found = contact(ctx, "+905321234567")
    assert (found.first_name, found.last_name) == ("Çağlar", "Işık")
    assert found.attributes == {"city": "Eskişehir"}


def test_bad_rows_are_reported_with_their_lines(
    ctx: Session, setup: dict[str, Any], tmp_path: Path
) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(
        HEADER + '0532 123 45 67,"Ali\nVeli",Kaya,,,\n'  # lines 2-3
        ",Nobody,,,,\n"  # line 4: missing number
        "0532 123,Short,,,,\n"  # line 5
        "0533 111 22 33,Bad,Date,,31.02.2020,\n"  # line 6
        "0534 111 22 33,Bad,Consent,,,belki\n"  # line 7
        '=HYPERLINK("http://x"),Evil,,,,\n'  # line 8
        "5.32E+09,Sci,,,,\n",  # line 9
        encoding="utf-8",
    )
    record = run(ctx, path, brand_id=setup["brand_id"])
    assert record.created == 1
    assert record.rejected == 6
    assert contact(ctx, "+905321234567").first_name == "Ali\nVeli"
    assert errors(ctx, record) == [
        (4, "phone", "empty", ""),
        (5, "phone", "invalid_number", "0532 123"),
        (6, "birth", "bad_date", "31.02.2020"),
        (7, "consent", "bad_consent", "belki"),
        (8, "phone", "not_a_number", '=HYPERLINK("http://x")'),
        (9, "phone", "excel_scientific", "5.32E+09"),
    ]


def test_duplicates_in_the_file_last_row_wins(
    ctx: Session, setup: dict[str, Any], tmp_path: Path
) -> None:
    path = tmp_path / "dup.csv"
    path.write_text(
        HEADER + "0532 123 45 67,First,,,,\n+905321234567,Second,,,,\n905321234567,Third,,,,\n",
        encoding="utf-8",
    )
    record = run(ctx, path, brand_id=setup["brand_id"])
    assert (record.created, record.duplicates) == (1, 2)
    assert contact(ctx, "+905321234567").first_name == "Third"


def test_reimport_changes_nothing_and_an_update_updates(
    ctx: Session, setup: dict[str, Any], tmp_path: Path
) -> None:
    path = tmp_path / "list.csv"
    body = "".join(f"0532 000 00 {n:02d},Name{n},Last,City,01.01.1990,ONAY\n" for n in range(30))
    path.write_text(HEADER + body, encoding="utf-8")
    first = run(ctx, path, brand_id=setup["brand_id"], chunk_size=7)
    assert (first.created, first.consent_events) == (30, 30)
    again = run(ctx, path, brand_id=setup["brand_id"], chunk_size=7)
    assert counts(again) == {
        "created": 0,
        "updated": 0,
        "unchanged": 30,
        "rejected": 0,
        "duplicates": 0,
        "consent_events": 0,
    }
    assert ctx.scalar(sa.select(sa.func.count()).select_from(ConsentEvent)) == 30
    changed = tmp_path / "changed.csv"
    changed.write_text(
        HEADER + "0532 000 00 03,Renamed,Last,City,01.01.1990,RET\n"
        "0532 000 00 04,,,,,\n",  # empty cells erase nothing
        encoding="utf-8",
    )
    third = run(ctx, changed, brand_id=setup["brand_id"])
    assert (third.updated, third.unchanged, third.consent_events) == (1, 1, 1)
    renamed = contact(ctx, "+905320000003")
    assert renamed.first_name == "Renamed"
    kept = contact(ctx, "+905320000004")
    assert (kept.first_name, kept.attributes["city"]) == ("Name4", "City")


@pytest.mark.parametrize("chunk_size", [4, 100], ids=["chunks", "one chunk"])
def test_a_number_in_several_chunks_is_not_rewritten_by_a_reimport(
    ctx: Session, setup: dict[str, Any], tmp_path: Path, chunk_size: int
) -> None:
    rows = [f"0532 300 {n:04d},N{n},L,City,,ONAY\n" for n in range(12)]
    rows[1] = "0532 399 0000,Early,L,Ankara,,ONAY\n"  # chunk 1 …
    rows[10] = "0532 399 0000,Late,L,İzmir,,RET\n"  # … and chunk 3: the last row wins
    path = tmp_path / "repeated.csv"
    path.write_text(HEADER + "".join(rows), encoding="utf-8")
    first = run(ctx, path, brand_id=setup["brand_id"], chunk_size=chunk_size)
    assert (first.created, first.duplicates) == (11, 1)
    repeated = contact(ctx, "+905323990000")
    assert (repeated.first_name, repeated.attributes["city"]) == ("Late", "İzmir")
    events = ctx.scalar(sa.select(sa.func.count()).select_from(ConsentEvent))
    for _ in range(2):  # and a third time: what the second run used is kept
        again = run(ctx, path, brand_id=setup["brand_id"], chunk_size=chunk_size)
        assert counts(again) == {
            "created": 0,
            "updated": 0,
            "unchanged": 11,
            "rejected": 0,
            "duplicates": 1,
            "consent_events": 0,
        }
        assert ctx.scalar(sa.select(sa.func.count()).select_from(ConsentEvent)) == events
        assert contact(ctx, "+905323990000").first_name == "Late"
    if chunk_size == 4:
        assert again.repeated == {"905323990000": 12}  # its line in the file
    # Another file with the same rows in another order is a file of its own.
    rows[1], rows[10] = rows[10], rows[1]
    other = tmp_path / "other.csv"
    other.write_text(HEADER + "".join(rows), encoding="utf-8")
    swapped = run(ctx, other, brand_id=setup["brand_id"], chunk_size=chunk_size)
    assert contact(ctx, "+905323990000").first_name == "Early"
    assert swapped.file_sha256 != again.file_sha256


def test_manual_time_zone_is_kept(ctx: Session, setup: dict[str, Any], tmp_path: Path) -> None:
    ctx.add(Contact(phone="+905321234567", time_zone="Europe/Berlin", time_zone_manual=True))
    ctx.commit()
    path = tmp_path / "tz.csv"
    path.write_text("phone,name\n05321234567,Ali\n", encoding="utf-8")
    record = run(ctx, path, mapping={"phone": 0, "first_name": 1})
    assert record.updated == 1
    found = contact(ctx, "+905321234567")
    assert (found.first_name, found.time_zone) == ("Ali", "Europe/Berlin")


def test_erased_number_is_never_recreated(
    ctx: Session, setup: dict[str, Any], tmp_path: Path
) -> None:
    suppression.add(ctx, ["+905321234567"], SuppressionReason.ERASED)
    ctx.commit()
    path = tmp_path / "erased.csv"
    path.write_text("phone\n0532 123 45 67\n0533 123 45 67\n", encoding="utf-8")
    record = run(ctx, path, mapping={"phone": 0})
    assert (record.created, record.rejected) == (1, 1)
    assert errors(ctx, record) == [(2, "phone", "erased", "0532 123 45 67")]
    assert ctx.scalar(sa.select(Contact).where(Contact.phone == "+905321234567")) is None


def test_excel_numbers_dates_and_a_list(
    ctx: Session, setup: dict[str, Any], tmp_path: Path
) -> None:
    people = ContactList(name="Fair 2026")
    ctx.add(people)
    ctx.commit()
    path = write_xlsx(
        tmp_path / "book.xlsx",
        [
            ["Phone", "Name", "Points", "VIP", "Birth"],
            [5321234567.0, "Ayşe", 12.5, True, dt.date(1990, 2, 1)],
            [905331112233, "Ömer", 3, "hayır", "01.03.1980"],
            [5341112233, "Bad", "many", "yes", None],
        ],
    )
    mapping = {"phone": 0, "first_name": 1, "attributes": {"points": 2, "vip": 3, "birth": 4}}
    record = run(ctx, path, mapping=mapping, list_id=people.id)
    assert (record.created, record.rejected) == (2, 1)
    assert contact(ctx, "+905321234567").attributes == {
        "points": 12.5,
        "vip": True,
        "birth": "1990-02-01",
    }
    assert contact(ctx, "+905331112233").attributes == {
        "points": 3,
        "vip": False,
        "birth": "1980-03-01",
    }
    assert errors(ctx, record) == [(4, "Points", "bad_number", "many")]
    members = ctx.scalar(
        sa.select(sa.func.count()).select_from(ListMember).where(ListMember.list_id == people.id)
    )
    assert members == 2
    again = run(ctx, path, mapping=mapping, list_id=people.id)
    assert again.unchanged == 2
    assert ctx.scalar(sa.select(sa.func.count()).select_from(ListMember)) == 2


def test_consent_time_column(ctx: Session, setup: dict[str, Any], tmp_path: Path) -> None:
    path = tmp_path / "times.csv"
    path.write_text(
        "phone,consent,when\n05321234567,ONAY,2026-03-01 10:00\n05331234567,ONAY,yesterday\n",
        encoding="utf-8",
    )
    mapping = {"phone": 0, "consent": 1, "consent_at": 2}
    record = run(
        ctx, path, mapping=mapping, brand_id=setup["brand_id"], consent_source="HS_FIZIKSEL_ORTAM"
    )
    assert (record.consent_events, record.rejected) == (1, 1)
    event = ctx.scalars(sa.select(ConsentEvent)).one()
    assert event.source == "HS_FIZIKSEL_ORTAM"
    assert event.consent_at == dt.datetime(2026, 3, 1, 7, 0, tzinfo=dt.UTC)  # 10:00 Istanbul


def test_cancel_between_chunks(ctx: Session, setup: dict[str, Any], tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    path.write_text("phone\n" + "".join(f"0532 000 {n:04d}\n" for n in range(50)), encoding="utf-8")
    record = queue(ctx, path, {"phone": 0})
    ctx.execute(
        sa.update(ContactImport).where(ContactImport.id == record.id).values(cancel_requested=True)
    )
    ctx.commit()
    assert run_import(record.id, chunk_size=10) == ImportStatus.CANCELLED
    ctx.expire_all()
    assert (record.status, record.rows_done, record.created) == (ImportStatus.CANCELLED, 10, 10)
    assert ctx.scalar(sa.select(sa.func.count()).select_from(Contact)) == 10
    assert run_import(record.id) is None  # not queued: a second job does nothing


def test_unreadable_file_fails_with_the_reason(ctx: Session, tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    record = queue(ctx, path, {"phone": 0})
    assert run_import(record.id) == ImportStatus.FAILED
    ctx.expire_all()
    assert record.status == ImportStatus.FAILED
    assert record.error is not None and "empty" in record.error


def test_values_with_tabs_backslashes_and_line_breaks_are_kept(
    ctx: Session, setup: dict[str, Any], tmp_path: Path
) -> None:
    path = tmp_path / "odd.csv"
    path.write_text(
        HEADER + '0532 123 45 67,"Ay\\şe\tN","Yıl\nmaz",C:\\Şehir\\N,,ONAY\n', encoding="utf-8"
    )
    record = run(ctx, path, brand_id=setup["brand_id"])
    assert (record.created, record.rejected) == (1, 0)
    found = contact(ctx, "+905321234567")
    assert (found.first_name, found.last_name) == ("Ay\\şe\tN", "Yıl\nmaz")
    assert found.attributes == {"city": "C:\\Şehir\\N"}


def test_a_number_repeated_across_chunks_counts_each_extra_row_once(
    ctx: Session, setup: dict[str, Any], tmp_path: Path
) -> None:
    rows = [f"0532 000 00 {n:02d},Name{n},,,,ONAY\n" for n in range(12)]
    rows[7] = "0532 000 00 01,Again,,,,\n"
    rows[9] = "0532 000 00 01,Last,,,,RET\n"
    path = tmp_path / "repeats.csv"
    path.write_text(HEADER + "".join(rows), encoding="utf-8")
    record = run(ctx, path, brand_id=setup["brand_id"], chunk_size=5)  # read by a child
    assert (record.created, record.duplicates, record.unchanged, record.updated) == (10, 2, 0, 0)
    assert contact(ctx, "+905320000001").first_name == "Last"
    states = dict(ctx.execute(sa.select(ConsentState.contact_id, ConsentState.status)).all())
    assert states[contact(ctx, "+905320000001").id] == ConsentStatus.RET
    assert ctx.scalar(sa.select(sa.func.count()).select_from(ConsentEvent)) == 11


def test_large_file_read_by_a_child_matches_the_file(
    ctx: Session, setup: dict[str, Any], tmp_path: Path
) -> None:
    body = "".join(
        f"0532 100 {n:04d},N{n},L{n},City{n % 3},0{1 + n % 9}.01.1990,"
        + ("RET\n" if n % 4 else "ONAY\n")
        for n in range(40)
    )
    path = tmp_path / "many.csv"
    path.write_text(HEADER + body + "12,Bad,,,,\n", encoding="utf-8")
    record = run(ctx, path, brand_id=setup["brand_id"], chunk_size=6)
    assert counts(record) == {
        "created": 40,
        "updated": 0,
        "unchanged": 0,
        "rejected": 1,
        "duplicates": 0,
        "consent_events": 40,
    }
    assert errors(ctx, record) == [(42, "phone", "too_short", "12")]
    found = contact(ctx, "+905321000007")
    assert (found.first_name, found.attributes) == ("N7", {"birth": "1990-01-08", "city": "City1"})
    pending = ctx.scalar(
        sa.select(sa.func.count())
        .select_from(ConsentEvent)
        .where(ConsentEvent.registration == Registration.PENDING)
    )
    assert pending == 10  # the ONAY ones; a first RET needs no registration
    again = run(ctx, path, brand_id=setup["brand_id"], chunk_size=6)
    assert (again.unchanged, again.consent_events) == (40, 0)


def _bulk_file(tmp_path: Path, *, repeat: bool = True) -> Path:
    """60 lines in chunks of 10, one bad; with ``repeat`` the number of the first line
    says ONAY there and RET again in chunk 6."""
    rows = [
        f"0532 200 {n:04d},N{n},L{n},City{n % 3},,{'RET' if n % 5 == 0 else 'ONAY'}\n"
        for n in range(60)
    ]
    rows[0] = "0532 200 0000,First,,,,ONAY\n"
    if repeat:
        rows[55] = "0532 200 0000,Again,,,,RET\n"
    rows[20] = "12,Bad,,,,ONAY\n"
    path = tmp_path / ("repeats.csv" if repeat else "bulk.csv")
    path.write_text(HEADER + "".join(rows), encoding="utf-8")
    return path


def _states(session: Session) -> set[tuple[int, str, int]]:
    query = sa.select(ConsentState.contact_id, ConsentState.status, ConsentState.event_id)
    return {
        (contact_id, status.value, event_id)
        for contact_id, status, event_id in session.execute(query)
    }


def test_a_large_import_with_real_commits_records_every_statement_once(
    app: Flask, live_db: None, tmp_path: Path
) -> None:
    """With real commits a large import on PostgreSQL records a chunk's consent on a second
    connection while the next chunk's contacts are written: the outcome is still exact."""
    with app.app_context():
        session = db.session()
        brand = Brand(code="BULK", name="Bulk")
        session.add_all(
            [brand, AttributeDefinition(key="city", label="City", type=AttributeType.TEXT)]
        )
        session.commit()
        mapping = {
            "phone": 0,
            "first_name": 1,
            "last_name": 2,
            "consent": 5,
            "attributes": {"city": 3},
        }
        path = _bulk_file(tmp_path)
        record = run(session, path, mapping=mapping, brand_id=brand.id, chunk_size=10)
        assert counts(record) == {
            "created": 58,
            "updated": 0,
            "unchanged": 0,
            "rejected": 1,
            "duplicates": 1,
            "consent_events": 59,  # 58 numbers, and the later RET of the repeated one
        }
        assert errors(session, record) == [(22, "phone", "too_short", "12")]
        repeated = contact(session, "+905322000000")
        assert repeated.first_name == "Again"
        assert consent.current(session, repeated.id, brand.id) == ConsentStatus.RET
        states = _states(session)
        assert len(states) == 58
        consent.rebuild_states(session)
        session.commit()
        assert _states(session) == states  # the projection is the ledger's
        other = _bulk_file(tmp_path, repeat=False)
        first = run(session, other, mapping=mapping, brand_id=brand.id, chunk_size=10)
        assert (first.created, first.updated, first.unchanged) == (1, 1, 57)
        events = session.scalar(sa.select(sa.func.count()).select_from(ConsentEvent))
        again = run(session, other, mapping=mapping, brand_id=brand.id, chunk_size=10)
        assert counts(again) == {
            "created": 0,
            "updated": 0,
            "unchanged": 59,
            "rejected": 1,
            "duplicates": 0,
            "consent_events": 0,
        }
        assert session.scalar(sa.select(sa.func.count()).select_from(ConsentEvent)) == events


def test_a_cancelled_large_import_keeps_the_consent_of_its_committed_chunks(
    app: Flask, live_db: None, tmp_path: Path
) -> None:
    with app.app_context():
        session = db.session()
        brand = Brand(code="BULK", name="Bulk")
        session.add(brand)
        session.commit()
        mapping = {"phone": 0, "consent": 5}
        record = queue(session, _bulk_file(tmp_path), mapping, brand_id=brand.id)
        session.execute(
            sa.update(ContactImport)
            .where(ContactImport.id == record.id)
            .values(cancel_requested=True)
        )
        session.commit()
        assert run_import(record.id, chunk_size=10) == ImportStatus.CANCELLED
        session.expire_all()
        assert (record.rows_done, record.created, record.consent_events) == (10, 10, 10)
        assert session.scalar(sa.select(sa.func.count()).select_from(ConsentState)) == 10


def test_a_file_of_many_chunks_records_each_numbers_statements_in_file_order(
    app: Flask, live_db: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file of more than two chunks is read by a child process; on PostgreSQL each
    chunk's consent statements are recorded by two more connections, in parts by number,
    while the contacts of the chunks after it are written."""
    apart: list[int] = []
    record_apart = importer_sql.Writer._record_apart

    def spy(writer: importer_sql.Writer, index: int, copy: bytes) -> int:
        apart.append(index)
        return record_apart(writer, index, copy)

    monkeypatch.setattr(importer_sql.Writer, "_record_apart", spy)
    rows = [f"0532 400 {n:04d},N{n},ONAY\n" for n in range(60)]
    rows[41] = "0532 400 0001,N1,RET\n"  # ONAY in the first chunk, RET in the ninth
    rows[2] = "0532 400 0042,N42,RET\n"  # RET first: a later ONAY of the same moment waits
    path = tmp_path / "many.csv"
    path.write_text("phone,first,consent\n" + "".join(rows), encoding="utf-8")
    with app.app_context():
        session = db.session()
        brand = Brand(code="SHOP", name="Shop")
        session.add(brand)
        session.commit()
        mapping = {"phone": 0, "first_name": 1, "consent": 2}
        record = run(session, path, mapping=mapping, brand_id=brand.id, chunk_size=5)
        assert (record.created, record.consent_events) == (58, 59)
        statuses = session.execute(
            sa.select(Contact.phone, ConsentEvent.status)
            .join(ConsentEvent, ConsentEvent.contact_id == Contact.id)
            .where(Contact.phone.in_(["+905324000001", "+905324000042"]))
            .order_by(ConsentEvent.id)
        ).all()
        assert [status for phone, status in statuses if phone.endswith("01")] == [
            ConsentStatus.ONAY,
            ConsentStatus.RET,
        ]
        assert [status for phone, status in statuses if phone.endswith("42")] == [ConsentStatus.RET]
        states = dict(
            session.execute(
                sa.select(Contact.phone, ConsentState.status).join(
                    ConsentState, ConsentState.contact_id == Contact.id
                )
            ).all()
        )
        assert len(states) == 58
        assert states["+905324000001"] == states["+905324000042"] == ConsentStatus.RET
        session.close()
    postgresql = app.extensions["interactive.engine"].dialect.name == "postgresql"
    assert sorted(set(apart)) == ([0, 1] if postgresql else [])
    assert len(apart) == (24 if postgresql else 0)


def test_a_state_added_by_another_transaction_meanwhile_is_updated_not_duplicated(
    ctx: Session, setup: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On PostgreSQL a contact without a state for the brand gets one by a plain INSERT; if
    another transaction added one after the statement's snapshot (here: every state is
    taken for new), the key stops the INSERT and the chunk is recorded with the upsert."""
    path = tmp_path / "first.csv"
    path.write_text(HEADER + "0532 500 0001,A,L,City,,ONAY\n0532 500 0002,B,L,City,,ONAY\n")
    run(ctx, path, brand_id=setup["brand_id"])
    monkeypatch.setattr(
        importer_sql,
        "_PG_CONSENT",
        importer_sql._PG_CONSENT.replace("st.status IS NULL AS fresh", "true AS fresh"),
    )
    changed = tmp_path / "changed.csv"
    changed.write_text(HEADER + "0532 500 0001,A,L,City,,RET\n0532 500 0003,C,L,City,,ONAY\n")
    again = run(ctx, changed, brand_id=setup["brand_id"])
    assert (again.created, again.consent_events) == (1, 2)
    states = dict(
        ctx.execute(
            sa.select(Contact.phone, ConsentState.status).join(
                ConsentState, ConsentState.contact_id == Contact.id
            )
        ).all()
    )
    assert states == {
        "+905325000001": ConsentStatus.RET,
        "+905325000002": ConsentStatus.ONAY,
        "+905325000003": ConsentStatus.ONAY,
    }
