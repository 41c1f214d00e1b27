"""Segments: every condition kind, all/any, invalid definitions — all evaluated in SQL."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from interactive.contacts import consent, segments, service
from interactive.contacts.consent import NewEvent
from interactive.contacts.models import Actor, AttributeType, Brand, ConsentStatus, Contact
from interactive.contacts.segments import SegmentError
from interactive.contacts.service import ContactInput
from interactive.db import utcnow
from interactive.keywords.models import InboundMessage
from interactive.outbound.models import Message, Traffic


@pytest.fixture
def people(ctx: Session) -> dict[str, Any]:
    for key, kind in (
        ("city", AttributeType.TEXT),
        ("points", AttributeType.NUMBER),
        ("birth", AttributeType.DATE),
        ("vip", AttributeType.BOOLEAN),
    ):
        service.create_attribute(ctx, key, key.title(), kind)
    acme = Brand(code="acme", name="Acme")
    ctx.add(acme)
    ctx.flush()

    def person(phone: str, first: str, **attributes: Any) -> Contact:
        return service.create_contact(
            ctx, ContactInput(phone=phone, first_name=first, language="tr", attributes=attributes)
        )

    ayse = person("05321000001", "Ayşe", city="İzmir", points=120, birth="1990-05-01", vip=True)
    mehmet = person("05321000002", "Mehmet", city="Ankara", points=15.5, vip=False)
    zeynep = person("05321000003", "Zeynep", city="İzmir Karşıyaka")
    nobody = person("+4930123456", "Hans")
    nobody.language = "de"
    vip = service.create_list(ctx, "VIP")
    service.add_members(ctx, vip.id, [ayse.id, zeynep.id])
    now = utcnow()
    consent.record(
        ctx,
        [
            NewEvent(
                ayse.id,
                ayse.phone,
                acme.id,
                ConsentStatus.ONAY,
                "HS_WEB",
                now - timedelta(days=9),
                Actor.USER,
            ),
            NewEvent(
                mehmet.id,
                mehmet.phone,
                acme.id,
                ConsentStatus.ONAY,
                "HS_WEB",
                now - timedelta(days=9),
                Actor.USER,
            ),
            NewEvent(
                mehmet.id,
                mehmet.phone,
                acme.id,
                ConsentStatus.RET,
                "HS_MESAJ",
                now - timedelta(days=1),
                Actor.KEYWORD,
            ),
        ],
    )

    def sent(
        destination: str, at: datetime, campaign: int | None = None, contact: int | None = None
    ) -> None:
        ctx.add(
            Message(
                connection="c",
                source="ACME",
                destination=destination,
                body="hi",
                encoding="gsm",
                parts_count=1,
                traffic=Traffic.COMMERCIAL,
                created_at=at,
                campaign_id=campaign,
                contact_id=contact,
            )
        )

    def replied(source: str, at: datetime) -> None:
        ctx.add(
            InboundMessage(
                connection="c",
                source=source,
                destination="4664",
                text="ok",
                raw=b"ok",
                data_coding=0,
                dedup_key=f"{source}{at}",
                received_at=at,
            )
        )

    sent("905321000001", now - timedelta(days=40), campaign=7)  # Ayşe, campaign 7
    replied("905321000001", now - timedelta(days=38))  # … answered within 2 days
    sent("+905321000002", now - timedelta(days=5), campaign=7)  # Mehmet, campaign 7
    replied("+905321000002", now - timedelta(days=1))  # … answered after 4 days
    sent("x", now - timedelta(days=2), contact=nobody.id)  # Hans by contact id
    replied("905321000003", now - timedelta(days=3))  # Zeynep, no campaign
    ctx.flush()
    return {
        "ayse": ayse.id,
        "mehmet": mehmet.id,
        "zeynep": zeynep.id,
        "hans": nobody.id,
        "list": vip.id,
        "brand": acme.id,
    }


def names(
    ctx: Session, people: dict[str, Any], *conditions: dict[str, Any], match: str = "all"
) -> set[str]:
    definition = {"match": match, "conditions": list(conditions)}
    found = {c.id for c in segments.preview(ctx, definition, limit=100)}
    assert segments.count(ctx, definition) == len(found)
    return {name for name, cid in people.items() if cid in found and name not in ("list", "brand")}


def attr(key: str, op: str, value: Any = None) -> dict[str, Any]:
    return {"kind": "attribute", "key": key, "op": op, "value": value}


def test_attribute_conditions_are_typed(ctx: Session, people: dict[str, Any]) -> None:
    assert names(ctx, people, attr("city", "=", "İzmir")) == {"ayse"}
    assert names(ctx, people, attr("city", "contains", "izmir")) == {"ayse", "zeynep"}
    assert names(ctx, people, attr("city", "!=", "İzmir")) == {"mehmet", "zeynep", "hans"}
    assert names(ctx, people, attr("points", ">", "20")) == {"ayse"}
    assert names(ctx, people, attr("points", "<=", 15.5)) == {"mehmet"}
    assert names(ctx, people, attr("birth", "<", "2000-01-01")) == {"ayse"}
    assert names(ctx, people, attr("vip", "=", True)) == {"ayse"}
    assert names(ctx, people, attr("vip", "=", "hayır")) == {"mehmet"}
    assert names(ctx, people, attr("vip", "is_set")) == {"ayse", "mehmet"}
    assert names(ctx, people, attr("city", "not_set")) == {"hans"}


def test_fields_lists_and_consent(ctx: Session, people: dict[str, Any]) -> None:
    assert names(ctx, people, {"kind": "field", "field": "language", "op": "=", "value": "de"}) == {
        "hans"
    }
    assert names(
        ctx, people, {"kind": "field", "field": "first_name", "op": "contains", "value": "EY"}
    ) == {"zeynep"}
    tomorrow = (utcnow() + timedelta(days=1)).date().isoformat()
    assert (
        len(
            names(
                ctx, people, {"kind": "field", "field": "created_at", "op": "<", "value": tomorrow}
            )
        )
        == 4
    )
    assert names(ctx, people, {"kind": "list", "op": "in", "list_id": people["list"]}) == {
        "ayse",
        "zeynep",
    }
    assert names(ctx, people, {"kind": "list", "op": "not_in", "list_id": people["list"]}) == {
        "mehmet",
        "hans",
    }
    brand = people["brand"]
    assert names(ctx, people, {"kind": "consent", "brand_id": brand, "status": "ONAY"}) == {"ayse"}
    assert names(ctx, people, {"kind": "consent", "brand_id": brand, "status": "RET"}) == {"mehmet"}
    assert names(ctx, people, {"kind": "consent", "brand_id": brand, "status": "none"}) == {
        "zeynep",
        "hans",
    }


def test_engagement(ctx: Session, people: dict[str, Any]) -> None:
    assert names(ctx, people, {"kind": "messaged", "days": 30}) == {"mehmet", "hans"}
    assert names(ctx, people, {"kind": "messaged", "days": 60}) == {"ayse", "mehmet", "hans"}
    assert names(ctx, people, {"kind": "replied", "days": 7}) == {"mehmet", "zeynep"}
    assert names(ctx, people, {"kind": "replied_to_campaign", "campaign_id": 7, "days": 3}) == {
        "ayse"
    }
    assert names(ctx, people, {"kind": "replied_to_campaign", "campaign_id": 7, "days": 5}) == {
        "ayse",
        "mehmet",
    }
    assert names(ctx, people, {"kind": "replied_to_campaign", "campaign_id": 8, "days": 5}) == set()


def test_all_and_any(ctx: Session, people: dict[str, Any]) -> None:
    izmir = attr("city", "contains", "İzmir")
    onay = {"kind": "consent", "brand_id": people["brand"], "status": "ONAY"}
    assert names(ctx, people, izmir, onay) == {"ayse"}
    assert names(ctx, people, izmir, onay, match="any") == {"ayse", "zeynep"}
    assert len(names(ctx, people)) == 4  # no conditions: everyone


@pytest.mark.parametrize(
    ("definition", "message"),
    [
        ([], "must be an object"),
        ({"match": "some", "conditions": []}, "“match”"),
        ({"conditions": "x"}, "must be a list"),
        ({"conditions": [{"kind": "shoe"}]}, "Condition 1: unknown kind"),
        ({"conditions": [attr("height", "=", 1)]}, "unknown attribute"),
        ({"conditions": [attr("points", "contains", "1")]}, "operator must be one of"),
        ({"conditions": [attr("points", "=", "lots")]}, "Expected a number"),
        ({"conditions": [attr("birth", ">", "yesterday")]}, "YYYY-MM-DD"),
        ({"conditions": [attr("city", "=", "")]}, "a value is required"),
        ({"conditions": [{"kind": "list", "op": "in", "list_id": "x"}]}, "whole number"),
        (
            {"conditions": [{"kind": "consent", "brand_id": 1, "status": "YES"}]},
            "ONAY, RET or none",
        ),
        ({"conditions": [{"kind": "replied", "days": 0}]}, "days must be between"),
        ({"conditions": [{"kind": "field", "field": "phone", "op": "="}]}, "unknown field"),
    ],
)
def test_invalid_definitions_say_why(
    ctx: Session, people: dict[str, Any], definition: Any, message: str
) -> None:
    with pytest.raises(SegmentError) as exc:
        segments.count(ctx, definition)
    assert message in str(exc.value.message)


def test_clicked_counts_human_clicks_in_the_window(ctx: Session, people: dict[str, Any]) -> None:
    from interactive.shortlinks.models import Click, ClickKind, Link

    contacts = list(ctx.scalars(sa.select(Contact).order_by(Contact.id)))
    link = Link(target_url="https://example.com/", secret=123456)
    ctx.add(link)
    ctx.flush()
    now = utcnow()
    for n, (contact, kind, age) in enumerate(
        [
            (contacts[0], ClickKind.HUMAN, timedelta(days=2)),
            (contacts[1], ClickKind.SCANNER, timedelta(days=2)),  # not a person
            (contacts[2], ClickKind.HUMAN, timedelta(days=40)),  # too long ago
        ]
    ):
        ctx.add(
            Click(
                link_id=link.id,
                token=f"t{n}",
                clicked_at=now - age,
                method="GET",
                kind=kind,
                contact_id=contact.id,
            )
        )
    ctx.flush()
    definition = {"match": "all", "conditions": [{"kind": "clicked", "days": 30}]}
    assert segments.count(ctx, definition) == 1
