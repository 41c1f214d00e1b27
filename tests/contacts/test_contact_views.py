"""Audience pages through the test client: list, search, contact page, edit, lists,
attributes, segment builder count, export, erasure, permissions."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from flask import Flask
from sqlalchemy.orm import Session

from interactive.contacts import service
from interactive.contacts.models import AttributeType, Contact, ContactList, Segment
from interactive.contacts.service import ContactInput
from interactive.db import db
from interactive.keywords.models import InboundMessage
from interactive.web.models import Role
from tests.helpers import csrf_token, login, post_form


def seed(app: Flask) -> dict[str, int]:
    with app.app_context():
        session = db.session()
        service.create_attribute(session, "city", "City", AttributeType.TEXT)
        ayse = service.create_contact(
            session,
            ContactInput(
                phone="05321234567",
                first_name="Ayşe",
                last_name="<b>Yılmaz</b>",
                attributes={"city": "İzmir"},
            ),
        )
        ali = service.create_contact(session, ContactInput(phone="05331234567", first_name="Ali"))
        vip = service.create_list(session, "VIP")
        service.add_members(session, vip.id, [ayse.id])
        session.add(
            InboundMessage(
                connection="c",
                source="905321234567",
                destination="4664",
                text="<script>x</script>",
                raw=b"x",
                data_coding=0,
                dedup_key="k1",
            )
        )
        session.commit()
        return {"ayse": ayse.id, "ali": ali.id, "vip": vip.id}


def signed_in(client: Any, make_user: Any, role: Role = Role.MARKETER) -> None:
    user = make_user(role)
    login(client, user.email)


def test_list_search_and_pages(client: Any, app: Flask, make_user: Any) -> None:
    ids = seed(app)
    signed_in(client, make_user)
    page = client.get("/contacts/").get_data(as_text=True)
    assert "+905321234567" in page and "+905331234567" in page and "2 shown" in page
    assert "&lt;b&gt;Yılmaz&lt;/b&gt;" in page  # escaped
    page = client.get("/contacts/?q=0533").get_data(as_text=True)
    assert "+905331234567" in page and "+905321234567" not in page
    page = client.get("/contacts/?q=ayş").get_data(as_text=True)
    assert "+905321234567" in page and "+905331234567" not in page
    page = client.get(f"/contacts/?list={ids['vip']}").get_data(as_text=True)
    assert "+905321234567" in page and "+905331234567" not in page
    page = client.get(f"/contacts/?after={ids['ayse'] + 1}").get_data(as_text=True)
    assert "+905321234567" in page and "+905331234567" not in page and 'rel="prev"' in page


def test_contact_page_edit_and_lists(
    client: Any, app: Flask, make_user: Any, db_session: Session
) -> None:
    ids = seed(app)
    signed_in(client, make_user)
    url = f"/contacts/{ids['ayse']}"
    page = client.get(url).get_data(as_text=True)
    assert "İzmir" in page and "VIP" in page
    assert "&lt;script&gt;x&lt;/script&gt;" in page and "<script>x" not in page  # timeline reply
    response = post_form(
        client,
        url,
        phone="+90 532 123 45 67",
        first_name="Ayşe",
        last_name="Kaya",
        language="tr",
        time_zone="",
        attr_city="Bursa",
    )
    assert response.status_code == 302
    contact = db_session.get(Contact, ids["ayse"])
    assert contact is not None
    db_session.refresh(contact)
    assert (contact.last_name, contact.attributes) == ("Kaya", {"city": "Bursa"})
    response = post_form(client, url, phone="12", first_name="Ayşe")
    assert response.status_code == 200 and "too short" in response.get_data(as_text=True)
    response = post_form(client, url, action=f"{url}/lists/{ids['vip']}/remove")
    assert response.status_code == 302
    assert service.lists_with_counts(db_session)[0][1] == 0
    response = post_form(client, url, action=f"{url}/lists", list_id=str(ids["vip"]))
    assert service.lists_with_counts(db_session)[0][1] == 1


def test_new_contact_form(client: Any, app: Flask, make_user: Any, db_session: Session) -> None:
    seed(app)
    signed_in(client, make_user)
    response = post_form(
        client, "/contacts/new", phone="0532 999 88 77", first_name="Can", attr_city="Van"
    )
    assert response.status_code == 302
    contact = db_session.scalar(sa.select(Contact).where(Contact.phone == "+905329998877"))
    assert contact is not None and contact.attributes == {"city": "Van"}
    response = post_form(client, "/contacts/new", phone="0532 999 88 77")
    assert "already exists" in response.get_data(as_text=True)


def test_lists_and_attributes_pages(
    client: Any, app: Flask, make_user: Any, db_session: Session
) -> None:
    ids = seed(app)
    signed_in(client, make_user)
    assert post_form(client, "/contacts/lists", name="Newsletter").status_code == 302
    page = client.get("/contacts/lists").get_data(as_text=True)
    assert "Newsletter" in page and "VIP" in page
    post_form(client, "/contacts/lists", action=f"/contacts/lists/{ids['vip']}/rename", name="Gold")
    post_form(client, "/contacts/lists", action=f"/contacts/lists/{ids['vip']}/delete")
    assert db_session.scalars(sa.select(ContactList.name)).all() == ["Newsletter"]
    assert (
        post_form(client, "/contacts/attributes", key="tier", label="Tier", type="text").status_code
        == 302
    )
    response = post_form(client, "/contacts/attributes", key="Bad Key", label="x", type="text")
    assert "lowercase" in response.get_data(as_text=True)


def test_segment_builder_count_and_save(
    client: Any, app: Flask, make_user: Any, db_session: Session
) -> None:
    ids = seed(app)
    signed_in(client, make_user)
    page = client.get("/contacts/segments/new").get_data(as_text=True)
    assert "segment_builder.js" in page and "builder-data" in page
    assert client.get("/contacts/static/segment_builder.js").status_code == 200
    definition = {
        "match": "all",
        "conditions": [{"kind": "list", "op": "in", "list_id": ids["vip"]}],
    }
    response = client.get(
        "/contacts/segments/count", query_string={"definition": json.dumps(definition)}
    )
    assert response.get_json() == {"count": 1}
    bad = {"conditions": [{"kind": "attribute", "key": "shoe", "op": "=", "value": 1}]}
    response = client.get("/contacts/segments/count", query_string={"definition": json.dumps(bad)})
    assert response.status_code == 400 and "unknown attribute" in response.get_json()["error"]
    deep = "[" * 2000 + "]" * 2000
    response = client.get("/contacts/segments/count", query_string={"definition": deep})
    assert response.status_code == 400 and "not valid JSON" in response.get_json()["error"]
    clicked = {"conditions": [{"kind": "clicked", "days": 30}]}
    response = client.get(
        "/contacts/segments/count", query_string={"definition": json.dumps(clicked)}
    )
    assert response.get_json() == {"count": 0}  # nobody clicked yet
    response = post_form(
        client, "/contacts/segments/new", name="VIPs", definition=json.dumps(definition)
    )
    assert response.status_code == 302
    segment = db_session.scalars(sa.select(Segment)).one()
    page = client.get(f"/contacts/?segment={segment.id}").get_data(as_text=True)
    assert "+905321234567" in page and "+905331234567" not in page
    assert "VIPs" in client.get("/contacts/segments").get_data(as_text=True)


def test_export_and_erase(client: Any, app: Flask, make_user: Any, db_session: Session) -> None:
    ids = seed(app)
    signed_in(client, make_user)
    url = f"/contacts/{ids['ayse']}"
    response = client.get(f"{url}/export.json")
    assert "attachment" in response.headers["Content-Disposition"]
    document = json.loads(response.get_data(as_text=True))
    assert document["contact"]["attributes"] == {"city": "İzmir"}
    assert document["inbound"][0]["text"] == "<script>x</script>"
    response = post_form(client, url, action=f"{url}/erase", confirm="0532 000 00 00")
    assert db_session.get(Contact, ids["ayse"]) is not None
    response = post_form(client, url, action=f"{url}/erase", confirm="0532 123 45 67")
    assert response.status_code == 302
    assert db_session.get(Contact, ids["ayse"]) is None
    response = post_form(client, "/contacts/new", phone="05321234567")
    assert "erased at the person" in response.get_data(as_text=True)


def test_desk_user_gets_403(client: Any, app: Flask, make_user: Any) -> None:
    ids = seed(app)
    signed_in(client, make_user, Role.DESK)
    for url in (
        "/contacts/",
        f"/contacts/{ids['ayse']}",
        "/contacts/lists",
        "/contacts/segments",
        "/contacts/attributes",
        f"/contacts/{ids['ayse']}/export.json",
        "/contacts/segments/count",
    ):
        assert client.get(url).status_code == 403, url
    page = client.get("/account").get_data(as_text=True)
    token = csrf_token(page)
    assert (
        client.post(
            f"/contacts/{ids['ayse']}/erase", data={"csrf_token": token, "confirm": "x"}
        ).status_code
        == 403
    )
