"""Contacts service: numbers, time zones, attributes, lists, search, timeline, export, erase."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from interactive.contacts import consent, service, suppression
from interactive.contacts.consent import NewEvent
from interactive.contacts.models import (
    Actor,
    AttributeType,
    Brand,
    ConsentEvent,
    ConsentStatus,
    Contact,
    ListMember,
    SuppressionReason,
)
from interactive.contacts.service import ContactError, ContactFilter, ContactInput
from interactive.keywords.models import InboundMessage
from interactive.outbound.models import Message, Traffic

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def add(session: Session, phone: str, **kwargs: object) -> Contact:
    return service.create_contact(session, ContactInput(phone=phone, **kwargs))  # type: ignore[arg-type]


def brand(session: Session, code: str = "acme") -> Brand:
    b = Brand(code=code, name=code.title())
    session.add(b)
    session.flush()
    return b


def message(session: Session, destination: str, body: str, at: datetime, **kw: object) -> Message:
    m = Message(
        connection="c1",
        source="ACME",
        destination=destination,
        body=body,
        encoding="gsm",
        parts_count=1,
        traffic=Traffic.COMMERCIAL,
        created_at=at,
        **kw,
    )
    session.add(m)
    session.flush()
    return m


def inbound(session: Session, source: str, text: str, at: datetime) -> InboundMessage:
    i = InboundMessage(
        connection="c1",
        source=source,
        destination="4664",
        text=text,
        raw=text.encode(),
        data_coding=0,
        dedup_key=f"{source}{text}{at}",
        received_at=at,
    )
    session.add(i)
    session.flush()
    return i


def test_numbers_are_normalised_or_refused_with_the_reason(ctx: Session) -> None:
    contact = add(ctx, "0532 123 45 67", first_name=" Ayşe ")
    assert contact.phone == "+905321234567"
    assert contact.first_name == "Ayşe"
    assert contact.country == "TR"
    with pytest.raises(ContactError) as exc:
        add(ctx, "12")
    assert exc.value.code == "too_short" and exc.value.field == "phone"
    assert "too short" in str(exc.value.message)
    with pytest.raises(ContactError) as exc:
        add(ctx, "call me")
    assert exc.value.code == "not_a_number"
    with pytest.raises(ContactError) as exc:
        add(ctx, "+90 532 123 45 67")
    assert exc.value.code == "phone_taken"


def test_time_zone_derived_unless_set_by_hand(ctx: Session) -> None:
    contact = add(ctx, "+4930123456")
    assert (contact.time_zone, contact.time_zone_manual) == ("Europe/Berlin", False)
    service.update_contact(ctx, contact.id, ContactInput(phone="+905321234567"))
    assert (contact.time_zone, contact.country) == ("Europe/Istanbul", "TR")
    service.update_contact(
        ctx, contact.id, ContactInput(phone="+905321234567", time_zone="America/New_York")
    )
    assert (contact.time_zone, contact.time_zone_manual) == ("America/New_York", True)
    with pytest.raises(ContactError) as exc:
        service.update_contact(
            ctx, contact.id, ContactInput(phone="+905321234567", time_zone="Mars/Base")
        )
    assert exc.value.code == "invalid_timezone"


def test_attributes_are_typed(ctx: Session) -> None:
    service.create_attribute(ctx, "city", "City", AttributeType.TEXT)
    service.create_attribute(ctx, "points", "Points", AttributeType.NUMBER)
    service.create_attribute(ctx, "birth", "Birth date", AttributeType.DATE)
    service.create_attribute(ctx, "vip", "VIP", AttributeType.BOOLEAN)
    contact = add(
        ctx,
        "05321234567",
        attributes={"city": "İzmir", "points": "12,5", "birth": "1990-02-03", "vip": "evet"},
    )
    assert contact.attributes == {
        "city": "İzmir",
        "points": 12.5,
        "birth": "1990-02-03",
        "vip": True,
    }
    for key, bad in (("points", "many"), ("birth", "03/02/1990"), ("vip", "maybe")):
        with pytest.raises(ContactError) as exc:
            add(ctx, "05321234568", attributes={key: bad})
        assert exc.value.code == "invalid_attribute" and exc.value.field == f"attr:{key}"
    with pytest.raises(ContactError) as exc:
        add(ctx, "05321234568", attributes={"shoe": "42"})
    assert exc.value.code == "unknown_attribute"
    with pytest.raises(ContactError) as exc:
        service.create_attribute(ctx, "City Name", "x", AttributeType.TEXT)
    assert exc.value.code == "invalid_key"


def test_lists_are_set_based(ctx: Session) -> None:
    a, b = add(ctx, "05321234567"), add(ctx, "05321234568")
    vip = service.create_list(ctx, "VIP")
    assert service.add_members(ctx, vip.id, [a.id, b.id, a.id]) == 2
    assert service.add_members(ctx, vip.id, [a.id]) == 0
    assert service.remove_members(ctx, vip.id, [b.id]) == 1
    service.rename_list(ctx, vip.id, "Gold")
    assert [(lst.name, n) for lst, n in service.lists_with_counts(ctx)] == [("Gold", 1)]
    with pytest.raises(ContactError):
        service.create_list(ctx, "Gold")
    service.delete_list(ctx, vip.id)
    assert ctx.scalar(sa.select(sa.func.count()).select_from(ListMember)) == 0


def test_search_by_number_prefix_and_name(ctx: Session) -> None:
    add(ctx, "05321234567", first_name="Ayşe", last_name="Yılmaz")
    add(ctx, "05331234567", first_name="İsmail", last_name="Kaya")
    add(ctx, "05421234567", first_name="ali", last_name="Demir")
    add(ctx, "+4930123456", first_name="Anna", last_name="Schmidt")

    def phones(text: str) -> set[str]:
        return {c.phone for c in service.search(ctx, ContactFilter(query=text)).contacts}

    assert phones("0532") == {"+905321234567"}
    assert phones("+90 53") == {"+905321234567", "+905331234567"}
    assert phones("90542") == {"+905421234567"}
    assert phones("+49") == {"+4930123456"}
    assert phones("0532 123 45 67") == {"+905321234567"}
    assert phones("ayş") == {"+905321234567"}
    assert phones("ismail") == {"+905331234567"}
    assert phones("ALİ") == {"+905421234567"}
    assert phones("yilmaz") == set()  # ı and i are different letters
    assert phones("yılmaz") == {"+905321234567"}
    assert phones("Anna Sch") == {"+4930123456"}
    assert service.number_prefix("0532", "TR") == "+90532"
    assert service._next_digits("90539") == "9054"


def test_keyset_pages_have_no_gaps_or_duplicates(ctx: Session) -> None:
    ids = [add(ctx, f"+90532{n:07d}").id for n in range(23)]
    seen: list[int] = []
    page = service.search(ctx, ContactFilter(), page_size=5)
    pages = [page]
    while page.next_cursor is not None:
        page = service.search(ctx, ContactFilter(), after=page.next_cursor, page_size=5)
        pages.append(page)
    for p in pages:
        seen += [c.id for c in p.contacts]
    assert seen == sorted(ids, reverse=True)
    assert pages[0].prev_cursor is None and len(pages) == 5
    back = service.search(ctx, ContactFilter(), before=pages[2].prev_cursor, page_size=5)
    assert [c.id for c in back.contacts] == [c.id for c in pages[1].contacts]
    assert back.next_cursor == pages[1].contacts[-1].id and back.prev_cursor is not None


def test_filters_by_list_and_consent(ctx: Session) -> None:
    acme = brand(ctx)
    a, b, c = (add(ctx, f"+9053212345{n}") for n in (61, 62, 63))
    vip = service.create_list(ctx, "VIP")
    service.add_members(ctx, vip.id, [a.id, b.id])
    consent.record(
        ctx,
        [
            NewEvent(a.id, a.phone, acme.id, ConsentStatus.ONAY, "HS_WEB", T0, Actor.USER),
            NewEvent(b.id, b.phone, acme.id, ConsentStatus.ONAY, "HS_WEB", T0, Actor.USER),
            NewEvent(
                b.id,
                b.phone,
                acme.id,
                ConsentStatus.RET,
                "HS_MESAJ",
                T0 + timedelta(days=1),
                Actor.KEYWORD,
            ),
        ],
    )

    def found(**kw: object) -> set[int]:
        return {x.id for x in service.search(ctx, ContactFilter(**kw)).contacts}  # type: ignore[arg-type]

    assert found(list_id=vip.id) == {a.id, b.id}
    assert found(brand_id=acme.id, consent="ONAY") == {a.id}
    assert found(brand_id=acme.id, consent="RET") == {b.id}
    assert found(brand_id=acme.id, consent="none") == {c.id}
    assert found(list_id=vip.id, brand_id=acme.id, consent="ONAY") == {a.id}


def _history(ctx: Session) -> tuple[Contact, Brand]:
    acme = brand(ctx)
    contact = add(ctx, "05321234567", first_name="Ayşe")
    vip = service.create_list(ctx, "VIP")
    service.add_members(ctx, vip.id, [contact.id])
    consent.record(
        ctx,
        [
            NewEvent(
                contact.id, contact.phone, acme.id, ConsentStatus.ONAY, "HS_WEB", T0, Actor.USER
            )
        ],
    )
    message(ctx, "905321234567", "Hello Ayşe", T0 + timedelta(hours=1), campaign_id=7)
    message(ctx, "+905321234567", "Second", T0 + timedelta(hours=3), contact_id=contact.id)
    inbound(ctx, "905321234567", "RET ACME please", T0 + timedelta(hours=2))
    message(ctx, "905339999999", "someone else", T0)
    inbound(ctx, "905339999999", "not hers", T0)
    return contact, acme


def test_timeline_merges_everything_newest_first(ctx: Session) -> None:
    contact, _ = _history(ctx)
    page = service.timeline(ctx, contact.id)
    assert [
        (e.kind, e.data.get("body") or e.data.get("text") or e.data.get("status"))
        for e in page.entries
    ] == [
        ("message", "Second"),
        ("reply", "RET ACME please"),
        ("message", "Hello Ayşe"),
        ("consent", "ONAY"),
    ]
    first = service.timeline(ctx, contact.id, page_size=3)
    assert first.next_cursor is not None
    rest = service.timeline(ctx, contact.id, before=first.next_cursor, page_size=3)
    assert [e.kind for e in first.entries + rest.entries] == [
        "message",
        "reply",
        "message",
        "consent",
    ]
    assert rest.next_cursor is None


def test_export_contains_everything(ctx: Session) -> None:
    service.create_attribute(ctx, "city", "City", AttributeType.TEXT)
    contact, _ = _history(ctx)
    service.update_contact(
        ctx,
        contact.id,
        ContactInput(phone=contact.phone, first_name="Ayşe", attributes={"city": "Bursa"}),
    )
    suppression.add(ctx, [contact.phone], SuppressionReason.MANUAL, note="asked by phone")
    document = json.loads(json.dumps(service.export_number(ctx, "0532 123 45 67")))
    assert document["contact"]["first_name"] == "Ayşe"
    assert document["contact"]["attributes"] == {"city": "Bursa"}
    assert [lst["name"] for lst in document["lists"]] == ["VIP"]
    assert [e["status"] for e in document["consent_events"]] == ["ONAY"]
    assert document["consent_states"][0]["status"] == "ONAY"
    assert document["suppressions"][0]["reason"] == "manual"
    assert sorted(m["body"] for m in document["messages"]) == ["Hello Ayşe", "Second"]
    assert [i["text"] for i in document["inbound"]] == ["RET ACME please"]


def test_erase_removes_pii_and_blocks_the_number(ctx: Session) -> None:
    contact, _ = _history(ctx)
    contact_id, phone = contact.id, contact.phone
    summary = service.erase_number(ctx, phone, by="test")
    assert summary == {"contacts": 1, "messages": 2, "inbound": 1, "consent_events": 1}
    assert ctx.get(Contact, contact_id) is None
    bodies = ctx.execute(sa.select(Message.destination, Message.body).order_by(Message.id)).all()
    assert [tuple(b) for b in bodies] == [
        ("erased", ""),
        ("erased", ""),
        ("905339999999", "someone else"),
    ]
    texts = ctx.execute(
        sa.select(InboundMessage.source, InboundMessage.text).order_by(InboundMessage.id)
    ).all()
    assert [tuple(t) for t in texts] == [("erased", ""), ("905339999999", "not hers")]
    event = ctx.scalars(sa.select(ConsentEvent)).one()
    assert event.contact_id is None and event.recipient == suppression.phone_hash(phone)
    left = service.export_number(ctx, phone)
    assert left.pop("phone") == phone  # what was asked for, nothing else
    assert phone[1:] not in json.dumps(left)
    assert [s["reason"] for s in left["suppressions"]] == ["erased"]
    with pytest.raises(ContactError) as exc:
        add(ctx, "0532 123 45 67")
    assert exc.value.code == "erased"
    assert service.erase_number(ctx, phone, by="test")["contacts"] == 0


def test_erase_also_removes_the_inbox_thread_of_the_number(ctx: Session) -> None:
    from interactive.keywords.models import Thread
    from tests.keywords.routing import route_text

    route_text(ctx, "Masam hazır mı?", source="905321234567")
    route_text(ctx, "Merhaba", source="905339999999")
    service.erase_number(ctx, "+905321234567", by="test")
    assert [t.phone for t in ctx.scalars(sa.select(Thread))] == ["+905339999999"]
    phones = ctx.scalars(sa.select(InboundMessage.phone).order_by(InboundMessage.id)).all()
    assert phones == [None, "+905339999999"]
