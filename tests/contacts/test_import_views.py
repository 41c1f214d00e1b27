"""The import wizard through Flask's test client: upload → mapping → start → progress →
summary → error file."""

from __future__ import annotations

import csv
import io
from typing import Any

import sqlalchemy as sa
from flask import Flask
from sqlalchemy.orm import Session

from interactive.contacts.import_views import neutralise
from interactive.contacts.jobs import import_job_id, run_contact_import
from interactive.contacts.models import (
    AttributeDefinition,
    Brand,
    Contact,
    ContactImport,
    ContactList,
    ImportStatus,
)
from interactive.queue import get_queue
from interactive.web.models import Role
from tests.conftest import UserFactory
from tests.helpers import csrf_token, login

CSV = (
    "Telefon;Ad;Şehir;İzin\n"
    "0532 123 45 67;Ayşe;İzmir;ONAY\n"
    "=cmd|' /C calc'!A0;Evil;;\n"
    "+90 533 111 22 33;Ömer;Muğla;RET\n"
    "-5;Minus;;\n"
).encode("cp1254")


def upload(client: Any, data: bytes, name: str = "people.csv") -> Any:
    page = client.get("/imports/new")
    return client.post(
        "/imports/new",
        data={
            "csrf_token": csrf_token(page.get_data(as_text=True)),
            "file": (io.BytesIO(data), name),
        },
        content_type="multipart/form-data",
    )


def start(client: Any, url: str, **fields: str) -> Any:
    page = client.get(url)
    return client.post(url, data={"csrf_token": csrf_token(page.get_data(as_text=True)), **fields})


def test_wizard_end_to_end(client: Any, make_user: UserFactory, ctx: Session, app: Flask) -> None:
    brand = Brand(code="SHOP", name="Shop & Co")
    ctx.add(brand)
    ctx.commit()
    login(client, make_user(Role.MARKETER).email)

    response = upload(client, CSV)
    assert response.status_code == 302
    mapping_url = response.headers["Location"]
    page = client.get(mapping_url).get_data(as_text=True)
    assert "Ayşe" in page and "Muğla" in page  # the preview, decoded from cp1254
    assert "=cmd|&#39; /C calc&#39;!A0" in page  # escaped, shown as text
    assert "Shop &amp; Co" in page

    # A consent column without a brand is refused, with the reason.
    refused = start(client, mapping_url, col_0="phone", col_1="first_name", col_3="consent")
    assert refused.status_code == 400
    assert "choose the brand" in refused.get_data(as_text=True)

    response = start(
        client,
        mapping_url,
        col_0="phone",
        col_1="first_name",
        col_2="new",
        new_name_2="Şehir",
        new_type_2="text",
        col_3="consent",
        brand_id=str(brand.id),
        consent_source="HS_FIZIKSEL_ORTAM",
        recipient_type="BIREYSEL",
        list_id="new",
        new_list="Fair visitors",
    )
    assert response.status_code == 302
    show_url = response.headers["Location"]
    record = ctx.scalars(sa.select(ContactImport)).one()
    assert record.status == ImportStatus.QUEUED
    assert record.mapping == {
        "phone": 0,
        "first_name": 1,
        "consent": 3,
        "attributes": {"sehir": 2},
    }
    assert (
        ctx.scalar(sa.select(AttributeDefinition.label).where(AttributeDefinition.key == "sehir"))
        == "Şehir"
    )
    # Queued after commit, once, with the import's job id.
    queued = get_queue("default")
    assert queued.job_ids == [import_job_id(record.id)]

    waiting = client.get(f"/imports/{record.id}/progress").get_json()
    assert (waiting["status"], waiting["finished"]) == ("queued", False)

    assert run_contact_import(record.id) == "done"
    assert run_contact_import(record.id) is None  # a second run does nothing

    progress = client.get(f"/imports/{record.id}/progress").get_json()
    assert progress["status"] == "done"
    assert progress["finished"] is True
    assert (progress["rows_done"], progress["percent"]) == (4, 100)
    assert (progress["created"], progress["rejected"], progress["consent_events"]) == (2, 2, 2)

    summary = client.get(show_url).get_data(as_text=True)
    assert "Download errors (CSV)" in summary
    assert "This does not look like a phone number." in summary

    errors = client.get(f"/imports/{record.id}/errors.csv")
    assert errors.status_code == 200
    assert errors.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(errors.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0] == ["Line", "Column", "Reason", "Value"]
    assert rows[1] == [
        "3",
        "Telefon",
        "This does not look like a phone number.",
        "'=cmd|' /C calc'!A0",
    ]
    assert rows[2][0] == "5" and rows[2][3] == "'-5"

    ctx.expire_all()
    people = ctx.scalars(sa.select(Contact).order_by(Contact.phone)).all()
    assert [(c.phone, c.first_name, c.attributes) for c in people] == [
        ("+905321234567", "Ayşe", {"sehir": "İzmir"}),
        ("+905331112233", "Ömer", {"sehir": "Muğla"}),
    ]
    assert ctx.scalar(sa.select(ContactList.name)) == "Fair visitors"

    listing = client.get("/imports/").get_data(as_text=True)
    assert "people.csv" in listing and "done" in listing


def test_unreadable_upload_is_explained(client: Any, make_user: UserFactory, ctx: Session) -> None:
    login(client, make_user(Role.MARKETER).email)
    response = upload(client, b"", "empty.csv")
    assert response.status_code == 400
    assert "The file is empty: it has no header row." in response.get_data(as_text=True)
    response = upload(client, b"%PDF-1.4 \x00\x01\x02\x03" * 50, "scan.pdf")
    assert "This type of file cannot be imported." in response.get_data(as_text=True)
    assert ctx.scalar(sa.select(sa.func.count()).select_from(ContactImport)) == 0


def test_cancel_and_stale_job(client: Any, make_user: UserFactory, ctx: Session) -> None:
    login(client, make_user(Role.ADMIN).email)
    response = upload(client, b"phone\n05321234567\n")
    mapping_url = response.headers["Location"]
    show_url = start(client, mapping_url, col_0="phone").headers["Location"]
    record = ctx.scalars(sa.select(ContactImport)).one()

    # The job vanished (Redis flushed, worker killed): the page says failed, not running.
    get_queue("default").empty()
    ctx.execute(
        sa.update(ContactImport)
        .where(ContactImport.id == record.id)
        .values(status=ImportStatus.RUNNING)
    )
    ctx.commit()
    progress = client.get(f"/imports/{record.id}/progress").get_json()
    assert progress["status"] == "failed"
    assert "stopped unexpectedly" in progress["error"]

    # A queued import is cancelled at once.
    response = upload(client, b"phone\n05321234567\n")
    mapping_url = response.headers["Location"]
    show_url = start(client, mapping_url, col_0="phone").headers["Location"]
    page = client.get(show_url).get_data(as_text=True)
    cancelled = client.post(show_url + "/cancel", data={"csrf_token": csrf_token(page)})
    assert cancelled.status_code == 302
    shown = client.get(show_url).get_data(as_text=True)
    assert "The import was cancelled. The rows written before that stay imported." in shown
    new_id = int(show_url.rsplit("/", 1)[1])
    assert run_contact_import(new_id) is None
    assert ctx.scalar(sa.select(sa.func.count()).select_from(Contact)) == 0


def test_desk_user_may_not_import(client: Any, make_user: UserFactory) -> None:
    login(client, make_user(Role.DESK).email)
    assert client.get("/imports/new").status_code == 403


def test_neutralise_keeps_phone_numbers_readable() -> None:
    assert neutralise("+905321234567") == "+905321234567"
    assert neutralise("+90 532") == "'+90 532"
    assert neutralise("=1+2") == "'=1+2"
    assert neutralise("@SUM(A1)") == "'@SUM(A1)"
    assert neutralise("\tx") == "'\tx"
    assert neutralise("Ali") == "Ali"
