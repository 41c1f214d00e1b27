"""The inbox pages through the test client: the list with its filters and unread badges,
a thread (escaping, decisions and reasons, consent, reply, assignment, close and reopen,
review of opt-out phrases), the polled JSON, the part counter, CSV exports, quick replies
and permissions."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from flask import Flask
from sqlalchemy.orm import Session

from interactive.contacts import suppression
from interactive.contacts.models import Brand, SuppressionReason
from interactive.db import db, utcnow
from interactive.keywords import shortcodes
from interactive.keywords.models import Decision, InboundMessage, QuickReply, Thread, ThreadState
from interactive.outbound.models import Message, Traffic
from interactive.web.models import Role
from tests.helpers import csrf_token, login
from tests.keywords.routing import route_text

XSS = "<img src=x onerror=alert(1)>\"'&"
FORMULA = '=HYPERLINK("http://evil.example","click")'


def routed(app: Flask, text: str, **options: Any) -> int:
    """Store and route one MO (committed); returns its thread id."""
    with app.app_context():
        session = db.session()
        result = route_text(session, text, **options)
        session.commit()
        message = session.get(InboundMessage, result.message_id)
        assert message is not None and message.thread_id is not None
        return message.thread_id


def signed_in(client: Any, make_user: Any, role: Role = Role.DESK) -> Any:
    user = make_user(role)
    login(client, user.email)
    return user


def token(client: Any, url: str) -> str:
    return csrf_token(client.get(url).get_data(as_text=True))


def fresh_thread(db_session: Session, thread_id: int) -> Thread:
    thread = db_session.scalar(
        sa.select(Thread).where(Thread.id == thread_id).execution_options(populate_existing=True)
    )
    assert thread is not None
    return thread


def decision_of(db_session: Session, message_id: int) -> Decision | None:
    db_session.expire_all()
    message = db_session.get(InboundMessage, message_id)
    assert message is not None
    return message.decision


def test_only_inbox_roles_open_the_inbox_and_see_the_link(
    client: Any, app: Flask, make_user: Any
) -> None:
    assert client.get("/inbox/").status_code == 302  # to the sign-in page
    signed_in(client, make_user, Role.MARKETER)
    assert client.get("/inbox/").status_code == 403
    assert client.get("/inbox/threads.json").status_code == 403
    assert 'href="/inbox/"' not in client.get("/account").get_data(as_text=True)
    client.post("/logout", data={"csrf_token": token(client, "/account")})
    signed_in(client, make_user, Role.DESK)
    page = client.get("/account").get_data(as_text=True)
    assert 'href="/inbox/"' in page and "data-inbox-unread" not in page


def test_list_shows_threads_escaped_with_unread_badges_and_filters(
    client: Any, app: Flask, make_user: Any
) -> None:
    routed(app, XSS, received_at=utcnow() - timedelta(minutes=2))
    routed(app, "STOP", source="905331112233", received_at=utcnow() - timedelta(minutes=1))
    signed_in(client, make_user)
    page = client.get("/inbox/").get_data(as_text=True)
    assert XSS not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    assert page.index("+905331112233") < page.index("+905321234567")  # newest first
    assert "No match" in page and "Opt-out" in page
    # One conversation waits for a person: the navigation and the tabs say so.
    assert re.search(r"data-inbox-unread[^>]*>1</span>", page)
    assert re.search(r'data-unread="unmatched"[^>]*>1</span>', page)
    page = client.get("/inbox/?view=unmatched").get_data(as_text=True)
    assert "+905321234567" in page and "+905331112233" not in page
    page = client.get("/inbox/?q=0533").get_data(as_text=True)
    assert "+905331112233" in page and "+905321234567" not in page
    page = client.get("/inbox/?state=closed").get_data(as_text=True)
    assert "No conversations here." in page
    assert client.get("/inbox/?after=nonsense").status_code == 200
    data = client.get("/inbox/threads.json?view=unmatched").get_json()
    assert [r["phone"] for r in data["rows"]] == ["+905321234567"]
    assert data["rows"][0]["last_text"] == XSS  # JSON carries text; the script sets textContent
    assert data["unread"] == {"total": 1, "unmatched": 1, "mine": 0}


def test_list_pages_with_a_cursor(client: Any, app: Flask, make_user: Any) -> None:
    for n in range(52):
        routed(app, "merhaba", source=f"9053210{n:05d}", received_at=utcnow() - timedelta(hours=n))
    signed_in(client, make_user)
    first = client.get("/inbox/").get_data(as_text=True)
    assert "+905321000000" in first and "+905321000051" not in first
    match = re.search(r'rel="next" href="([^"]+)"', first)
    assert match
    second = client.get(match.group(1).replace("&amp;", "&")).get_data(as_text=True)
    assert "+905321000051" in second and "+905321000000" not in second
    assert 'rel="next"' not in second


def test_thread_page_shows_the_conversation_marks_read_and_replies(
    client: Any, app: Flask, make_user: Any, db_session: Session
) -> None:
    thread_id = routed(app, XSS)
    user = signed_in(client, make_user)
    page = client.get(f"/inbox/threads/{thread_id}").get_data(as_text=True)
    assert XSS not in page and "&lt;img src=x onerror=alert(1)&gt;&#34;&#39;&amp;" in page
    assert "No match" in page and "no keyword matched" in page  # decision and reason
    assert "Not suppressed" in page and "No consent recorded." in page
    assert "as a transactional message" in page
    assert fresh_thread(db_session, thread_id).unread == 0  # opened: read
    csrf = csrf_token(page)
    answer = client.post(
        f"/inbox/threads/{thread_id}/reply",
        data={"csrf_token": csrf, "text": "Buyrun, yardımcı olalım."},
    )
    assert answer.status_code == 302
    page = client.get(f"/inbox/threads/{thread_id}").get_data(as_text=True)
    assert "Reply queued (Transactional): 1 part." in page
    assert "Buyrun, yardımcı olalım." in page and "queued" in page
    message = db_session.scalar(sa.select(Message))
    assert message is not None and message.traffic == Traffic.TRANSACTIONAL
    assert (message.source, message.destination) == ("4664", "+905321234567")
    items = client.get(f"/inbox/threads/{thread_id}/messages.json").get_json()["items"]
    assert [(i["kind"], i["text"]) for i in items] == [
        ("in", XSS),
        ("out", "Buyrun, yardımcı olalım."),
    ]
    assert items[0]["decision"] == "inbox" and items[1]["state"] == "queued"
    assert str(user.id) and fresh_thread(db_session, thread_id).last_text == message.body


def test_an_empty_reply_and_one_to_an_erased_number_are_refused(
    client: Any, app: Flask, make_user: Any, db_session: Session
) -> None:
    thread_id = routed(app, "Merhaba")
    signed_in(client, make_user)
    csrf = token(client, f"/inbox/threads/{thread_id}")
    client.post(f"/inbox/threads/{thread_id}/reply", data={"csrf_token": csrf, "text": "   "})
    page = client.get(f"/inbox/threads/{thread_id}").get_data(as_text=True)
    assert "Write a reply first." in page
    with app.app_context():
        suppression.add(db.session(), ["+905321234567"], SuppressionReason.MANUAL)
        db.session().commit()
    page = client.get(f"/inbox/threads/{thread_id}").get_data(as_text=True)
    assert "This number is blocked: nothing can be sent to it." in page
    assert 'id="reply-form"' not in page and "Blocked" in page
    client.post(f"/inbox/threads/{thread_id}/reply", data={"csrf_token": csrf, "text": "Hi"})
    assert db_session.scalar(sa.select(sa.func.count()).select_from(Message)) == 0


def test_assign_close_reopen_and_mark_read(
    client: Any, app: Flask, make_user: Any, db_session: Session
) -> None:
    thread_id = routed(app, "Merhaba")
    colleague = make_user(Role.DESK)
    marketer = make_user(Role.MARKETER)
    user = signed_in(client, make_user)
    url = f"/inbox/threads/{thread_id}"
    csrf = token(client, url)
    client.post(f"{url}/assign", data={"csrf_token": csrf, "assignee": "me"})
    assert fresh_thread(db_session, thread_id).assigned_to_id == user.id
    page = client.get("/inbox/?view=mine").get_data(as_text=True)
    assert "+905321234567" in page and f"→ {user.name}" in page
    client.post(f"{url}/assign", data={"csrf_token": csrf, "assignee": str(colleague.id)})
    assert fresh_thread(db_session, thread_id).assigned_to_id == colleague.id
    client.post(f"{url}/assign", data={"csrf_token": csrf, "assignee": str(marketer.id)})
    assert "This user cannot work the inbox." in client.get(url).get_data(as_text=True)
    client.post(f"{url}/assign", data={"csrf_token": csrf, "assignee": ""})
    assert fresh_thread(db_session, thread_id).assigned_to_id is None
    client.post(f"{url}/close", data={"csrf_token": csrf})
    assert fresh_thread(db_session, thread_id).state == ThreadState.CLOSED
    assert "+905321234567" not in client.get("/inbox/").get_data(as_text=True)
    client.post(f"{url}/reopen", data={"csrf_token": csrf})
    assert fresh_thread(db_session, thread_id).state == ThreadState.OPEN
    routed(app, "Bir şey daha")
    assert fresh_thread(db_session, thread_id).unread == 1
    assert client.post(f"{url}/read", data={}).status_code == 400  # no CSRF token
    assert client.post(f"{url}/read", data={"csrf_token": csrf}).get_json() == {"ok": True}
    assert fresh_thread(db_session, thread_id).unread == 0
    assert client.get("/inbox/threads/999999").status_code == 404


def test_review_buttons_confirm_or_dismiss_an_opt_out_phrase(
    client: Any, app: Flask, make_user: Any, db_session: Session
) -> None:
    with app.app_context():
        session = db.session()
        brand = Brand(code="acme", name="Acme", opt_out_phrase_policy="review")
        session.add(brand)
        session.flush()
        shortcodes.ensure_short_codes(session, [("4664", "sim")])["4664"].brand_id = brand.id
        session.commit()
    thread_id = routed(app, "artık mesaj atmayın")
    other_id = routed(app, "mesaj istemiyorum", source="905331112233")
    signed_in(client, make_user)
    page = client.get(f"/inbox/threads/{thread_id}").get_data(as_text=True)
    assert "Opt-out to review" in page and "held for review" in page
    assert "Confirm opt-out" in page and "Not an opt-out" in page
    [message_id] = db_session.scalars(
        sa.select(InboundMessage.id).where(InboundMessage.thread_id == thread_id)
    )
    json_item = client.get(f"/inbox/threads/{thread_id}/messages.json").get_json()["items"][0]
    assert json_item["confirm_url"].endswith(f"/messages/{message_id}/confirm-opt-out")
    csrf = csrf_token(page)
    base = f"/inbox/threads/{thread_id}/messages/{message_id}"
    # A message of another thread cannot be confirmed through this one.
    assert (
        client.post(
            f"/inbox/threads/{other_id}/messages/{message_id}/confirm-opt-out",
            data={"csrf_token": csrf},
        ).status_code
        == 302
    )
    assert decision_of(db_session, message_id) == Decision.REVIEW
    client.post(f"{base}/confirm-opt-out", data={"csrf_token": csrf})
    page = client.get(f"/inbox/threads/{thread_id}").get_data(as_text=True)
    assert "Opt-out confirmed: the number is suppressed." in page
    assert ">Confirm opt-out</button>" not in page and "Opted out" in page
    assert decision_of(db_session, message_id) == Decision.OPT_OUT
    [other_message] = db_session.scalars(
        sa.select(InboundMessage.id).where(InboundMessage.thread_id == other_id)
    )
    client.post(
        f"/inbox/threads/{other_id}/messages/{other_message}/not-opt-out",
        data={"csrf_token": csrf},
    )
    assert decision_of(db_session, other_message) == Decision.INBOX
    page = client.get(f"/inbox/threads/{other_id}").get_data(as_text=True)
    assert "Marked as not an opt-out" in page and "Not suppressed" in page


def test_the_part_counter_names_encoding_and_parts(client: Any, app: Flask, make_user: Any) -> None:
    thread_id = routed(app, "Merhaba")
    signed_in(client, make_user)
    csrf = token(client, f"/inbox/threads/{thread_id}")
    answer = client.post(
        "/inbox/segments", data={"csrf_token": csrf, "text": "Hello", "short_code": "4664"}
    ).get_json()
    assert answer["encoding"] == "GSM7" and answer["parts"] == 1
    assert answer["summary"] == "GSM 7-bit · 1 part · 5/160"
    answer = client.post(
        "/inbox/segments", data={"csrf_token": csrf, "text": "Şişli " * 20, "short_code": "4664"}
    ).get_json()
    assert answer["encoding"] == "UCS2" and answer["parts"] == 2
    assert "2 parts" in answer["summary"] and "Ş" in answer["note"]
    assert client.post("/inbox/segments", data={"text": "x"}).status_code == 400


def test_csv_exports_are_formula_safe(client: Any, app: Flask, make_user: Any) -> None:
    thread_id = routed(app, FORMULA)
    routed(app, "@SUM(A1)", source="905331112233")
    signed_in(client, make_user)
    response = client.get(f"/inbox/threads/{thread_id}.csv")
    assert response.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0][:5] == ["Time (UTC)", "Direction", "Number", "Short code", "Text"]
    assert rows[1][2] == "+905321234567"  # a phone number stays readable
    assert rows[1][4] == "'" + FORMULA and rows[1][5] == "No match"
    response = client.get("/inbox/inbound.csv?view=unmatched")
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    texts = sorted(row[3] for row in rows[1:])
    assert texts == ["'" + FORMULA, "'@SUM(A1)"]
    assert all(not cell.startswith(("=", "@", "-")) for row in rows[1:] for cell in row)


def test_quick_replies_are_managed_and_offered_in_the_reply_box(
    client: Any, app: Flask, make_user: Any, db_session: Session
) -> None:
    thread_id = routed(app, "Merhaba")
    signed_in(client, make_user)
    csrf = token(client, "/inbox/quick-replies")
    client.post(
        "/inbox/quick-replies",
        data={"csrf_token": csrf, "title": "Saatler", "body": "Her gün 09–23 <açığız>"},
    )
    page = client.get("/inbox/quick-replies").get_data(as_text=True)
    assert "Quick reply added." in page and "Her gün 09–23 &lt;açığız&gt;" in page
    quick = db_session.scalar(sa.select(QuickReply))
    assert quick is not None
    client.post(
        f"/inbox/quick-replies/{quick.id}",
        data={"csrf_token": csrf, "title": "Açılış", "body": "Her gün 10–23"},
    )
    page = client.get(f"/inbox/threads/{thread_id}").get_data(as_text=True)
    assert 'data-body="Her gün 10–23"' in page and ">Açılış</option>" in page
    client.post(f"/inbox/quick-replies/{quick.id}", data={"csrf_token": csrf, "title": ""})
    assert "Give the quick reply a title" in client.get("/inbox/quick-replies").get_data(
        as_text=True
    )
    client.post(f"/inbox/quick-replies/{quick.id}/delete", data={"csrf_token": csrf})
    assert db_session.scalar(sa.select(sa.func.count()).select_from(QuickReply)) == 0
    assert (
        client.post("/inbox/quick-replies/99999/delete", data={"csrf_token": csrf}).status_code
        == 404
    )
