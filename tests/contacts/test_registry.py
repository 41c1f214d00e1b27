"""İYS registry layer: deadlines, bulk export, change import, and the HTTP client against a
real local server that speaks the registry's JSON."""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import holidays
import pytest

from interactive.contacts.registry import (
    ISTANBUL,
    RegistryEvent,
    export_csv,
    export_json,
    is_business_day,
    is_overdue,
    parse_changes,
    registration_deadline,
)
from interactive.contacts.registry_client import (
    IysClient,
    IysSettings,
    RegistryError,
    RegistryUnavailable,
)

IYS_CODE = "700100"
BRAND = "700101"


def ist(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=ISTANBUL)


def end_of_day_utc(day: date) -> datetime:
    """23:59:59.999999 Istanbul on ``day``, in UTC (Turkey is UTC+3 all year)."""
    return datetime(day.year, day.month, day.day, 20, 59, 59, 999999, tzinfo=UTC)


def event(n: int = 0, **changes: Any) -> RegistryEvent:
    values: dict[str, Any] = {
        "recipient": f"+90532{1000000 + n}",
        "recipient_type": "BIREYSEL",
        "channel": "MESAJ",
        "status": "ONAY",
        "source": "HS_WEB",
        "consent_at": datetime(2026, 1, 9, 7, 30, 5, 123456, tzinfo=UTC),
        "brand_code": BRAND,
        "ref": n,
    }
    values.update(changes)
    return RegistryEvent(**values)


# --- registration deadline -------------------------------------------------------------


def test_deadline_is_returned_as_aware_utc_end_of_istanbul_day():
    deadline = registration_deadline(ist(2026, 1, 5, 9, 0))  # Monday
    assert deadline.tzinfo is UTC
    assert deadline == end_of_day_utc(date(2026, 1, 8))  # Thursday
    assert deadline.astimezone(ISTANBUL).time().isoformat() == "23:59:59.999999"


def test_friday_consent_is_due_on_wednesday_after_the_weekend():
    assert registration_deadline(ist(2026, 1, 9, 10, 0)) == end_of_day_utc(date(2026, 1, 14))


def test_weekend_consent_counts_from_monday():
    assert registration_deadline(ist(2026, 1, 10, 12, 0)) == end_of_day_utc(date(2026, 1, 14))


def test_holidays_package_knows_the_2026_bayram_dates_used_below():
    calendar = holidays.country_holidays("TR", years=2026)
    for day in (date(2026, 3, 20), date(2026, 5, 27), date(2026, 5, 29), date(2026, 10, 29)):
        assert day in calendar
    eves = holidays.country_holidays("TR", years=2026, categories=("half_day",))
    assert {date(2026, 3, 19), date(2026, 5, 26), date(2026, 10, 28)} <= set(eves)


def test_ramazan_bayrami_2026_is_skipped():
    # Bayram: Fri 20 – Sun 22 March 2026; the eve (Thu 19) is a half day.
    on_eve = registration_deadline(ist(2026, 3, 19, 15, 0))
    assert on_eve == end_of_day_utc(date(2026, 3, 25))  # Mon 23, Tue 24, Wed 25


def test_half_day_eve_counts_as_a_business_day():
    assert is_business_day(date(2026, 3, 19))
    before_eve = registration_deadline(ist(2026, 3, 18, 9, 0))
    assert before_eve == end_of_day_utc(date(2026, 3, 24))  # Thu 19 (half), Mon 23, Tue 24


def test_kurban_bayrami_2026_is_skipped():
    # Bayram: Wed 27 – Sat 30 May 2026; the eve (Tue 26) is a half day.
    on_eve = registration_deadline(ist(2026, 5, 26, 11, 0))
    assert on_eve == end_of_day_utc(date(2026, 6, 3))  # Mon 1, Tue 2, Wed 3 June
    before_eve = registration_deadline(ist(2026, 5, 25, 11, 0))
    assert before_eve == end_of_day_utc(date(2026, 6, 2))  # Tue 26 (half), Mon 1, Tue 2


def test_republic_day_29_ekim_is_skipped():
    # 29 Ekim 2026 is a Thursday; 28 Ekim is a half day.
    assert registration_deadline(ist(2026, 10, 27, 10, 0)) == end_of_day_utc(date(2026, 11, 2))
    assert registration_deadline(ist(2026, 10, 28, 14, 0)) == end_of_day_utc(date(2026, 11, 3))


def test_new_year_is_skipped_across_the_year_boundary():
    assert registration_deadline(ist(2025, 12, 31, 18, 0)) == end_of_day_utc(date(2026, 1, 6))
    assert registration_deadline(ist(2025, 12, 30, 18, 0)) == end_of_day_utc(date(2026, 1, 5))


def test_late_evening_in_istanbul_counts_on_the_istanbul_day():
    # 23:30 Thursday in Istanbul (20:30 UTC, same date): Thursday is the day taken.
    assert registration_deadline(ist(2026, 1, 8, 23, 30)) == end_of_day_utc(date(2026, 1, 13))
    # 22:30 UTC on Thursday is 01:30 Friday in Istanbul: the UTC date would give Tuesday.
    after_midnight = datetime(2026, 1, 8, 22, 30, tzinfo=UTC)
    assert registration_deadline(after_midnight) == end_of_day_utc(date(2026, 1, 14))
    # Same instant written in another zone gives the same answer.
    new_york = after_midnight.astimezone(ZoneInfo("America/New_York"))
    assert registration_deadline(new_york) == end_of_day_utc(date(2026, 1, 14))


def test_deadline_refuses_naive_times():
    with pytest.raises(ValueError, match="aware"):
        registration_deadline(datetime(2026, 1, 9, 10, 0))  # noqa: DTZ001


def test_overdue_only_after_the_last_microsecond():
    taken = ist(2026, 1, 9, 10, 0)
    deadline = registration_deadline(taken)
    assert not is_overdue(taken, deadline)
    assert is_overdue(taken, deadline + timedelta(microseconds=1))
    assert not is_overdue(taken, ist(2026, 1, 14, 23, 0))


# --- events and export -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"recipient": "05321000000"}, "E.164"),
        ({"recipient": "+4915112345678"}, r"\+90"),
        ({"channel": "EPOSTA", "recipient": "=HYPERLINK(1)@x.com"}, "e-mail"),
        ({"channel": "EPOSTA", "recipient": "-cmd@x.com"}, "e-mail"),
        ({"source": "IYS_WEB"}, "HS_"),
        ({"status": "RED"}, "status"),
        ({"consent_at": datetime(2026, 1, 9, 10, 0)}, "aware"),  # noqa: DTZ001
        ({"consent_at": ist(2015, 4, 30, 23, 0)}, "2015-05-01"),
        ({"source": "HS_2015"}, "HS_2015"),
        ({"brand_code": " "}, "brand_code"),
    ],
)
def test_event_rejects_what_the_registry_would_reject(changes, message):
    with pytest.raises(ValueError, match=message):
        event(**changes)


def test_hs_2015_event_takes_only_the_registry_epoch():
    assert event(source="HS_2015", consent_at=ist(2015, 5, 1, 0, 0)).source == "HS_2015"


def test_export_json_is_the_bulk_request_body():
    body = json.loads(export_json([event(1), event(2, channel="EPOSTA", recipient="a@b.com")]))
    assert body == [
        {
            "consentDate": "2026-01-09 10:30:05",  # 07:30:05 UTC in Turkish time
            "source": "HS_WEB",
            "recipient": "+905321000001",
            "recipientType": "BIREYSEL",
            "status": "ONAY",
            "type": "MESAJ",
        },
        {
            "consentDate": "2026-01-09 10:30:05",
            "source": "HS_WEB",
            "recipient": "a@b.com",
            "recipientType": "BIREYSEL",
            "status": "ONAY",
            "type": "EPOSTA",
        },
    ]


def test_export_csv_opens_in_a_turkish_spreadsheet():
    data = export_csv([event(1, status="RET", source="HS_MESAJ"), event(2, recipient_type="TACIR")])
    assert data.startswith(b"\xef\xbb\xbf")
    lines = data[3:].decode("utf-8").split("\r\n")
    assert lines[0] == "recipient;recipientType;type;status;consentDate;source"
    assert lines[1] == "+905321000001;BIREYSEL;MESAJ;RET;2026-01-09 10:30:05;HS_MESAJ"
    assert lines[2] == "+905321000002;TACIR;MESAJ;ONAY;2026-01-09 10:30:05;HS_WEB"
    assert lines[3] == ""


def test_exported_csv_reads_back_as_the_same_consents():
    events = [
        event(1),
        event(2, channel="ARAMA", status="RET"),
        event(3, channel="EPOSTA", recipient="x@y.com.tr"),
    ]
    changes, errors = parse_changes(export_csv(events), "export.csv", brand_code=BRAND)
    assert errors == []
    assert [(c.recipient, c.channel, c.status, c.source) for c in changes] == [
        (e.recipient, e.channel, e.status, e.source) for e in events
    ]
    assert all(c.consent_at == datetime(2026, 1, 9, 7, 30, 5, tzinfo=UTC) for c in changes)


# --- change import ---------------------------------------------------------------------

PULLED: dict[str, Any] = {
    "after": "1604423100000_abc",
    "list": [
        {
            "consentDate": "2020-11-03 10:00:00",
            "creationDate": "2020-11-03 10:05:00",
            "source": "IYS_MOBIL",
            "recipient": "+905321000001",
            "recipientType": "BIREYSEL",
            "status": "RET",
            "type": "MESAJ",
            "transactionId": "tx-1",
        },
        {
            "consentDate": "2020-11-03 11:00:00",
            "source": "HS_WEB",
            "recipient": "ornek@adiniz.com",
            "recipientType": "TACIR",
            "status": "ONAY",
            "type": "EPOSTA",
        },
    ],
}


def test_parse_changes_reads_the_api_json():
    changes, errors = parse_changes(json.dumps(PULLED).encode(), "changes.json", brand_code=BRAND)
    assert errors == []
    first, second = changes
    assert (first.recipient, first.status, first.source) == ("+905321000001", "RET", "IYS_MOBIL")
    assert first.made_in_registry and not second.made_in_registry
    assert first.consent_at == datetime(2020, 11, 3, 7, 0, tzinfo=UTC)
    assert first.registered_at == datetime(2020, 11, 3, 7, 5, tzinfo=UTC)
    assert first.transaction_id == "tx-1" and second.transaction_id is None
    assert first.brand_code == BRAND
    assert second.recipient_type == "TACIR" and second.channel == "EPOSTA"


def test_parse_changes_accepts_a_bare_list_and_reports_bad_items_by_index():
    items = [PULLED["list"][0], "oops", {**PULLED["list"][0], "status": "MAYBE"}]
    changes, errors = parse_changes(json.dumps(items).encode(), "x.json")
    assert len(changes) == 1
    assert [(e.index, e.reason) for e in errors] == [
        (1, "item is not an object"),
        (2, "status must be one of ONAY/RET"),
    ]


def test_parse_changes_survives_broken_json():
    changes, errors = parse_changes(b'{"list": [', "changes.json")
    assert changes == []
    assert len(errors) == 1 and "not valid JSON" in errors[0].reason
    changes, errors = parse_changes(b"[" * 100_000 + b"]" * 100_000, "deep.json")
    assert changes == [] and "nested too deeply" in errors[0].reason


def test_parse_changes_reads_the_daily_change_file_with_bom_and_semicolons():
    text = (
        "creationDate;transactionId;recipient;recipientType;type;status;consentDate;source\r\n"
        "2020-10-29 23:58:53;f26a;a@mail.com;BIREYSEL;EPOSTA;ONAY;2017-06-28 19:39:28;HS_WEB\r\n"
        "2020-10-29 23:58:54;5769;905321000007;BIREYSEL;MESAJ;RET;2020-10-29 23:50:00;IYS_MESAJ\r\n"
    )
    changes, errors = parse_changes(("\ufeff" + text).encode(), "2020-10-29.csv")
    assert errors == []
    assert [c.recipient for c in changes] == ["a@mail.com", "+905321000007"]
    assert changes[1].transaction_id == "5769"
    assert changes[1].consent_at == datetime(2020, 10, 29, 20, 50, tzinfo=UTC)


def test_parse_changes_csv_with_commas_reports_each_bad_row_by_line():
    text = (
        "Recipient,RecipientType,Type,Status,ConsentDate,Source\n"
        "0532 100 00 01,BIREYSEL,MESAJ,ONAY,2026-01-09 10:00:00,HS_WEB\n"
        "12,BIREYSEL,MESAJ,ONAY,2026-01-09 10:00:00,HS_WEB\n"
        "\n"
        "+905321000002,BIREYSEL,MESAJ,EVET,2026-01-09 10:00:00,HS_WEB\n"
        "+905321000003,BIREYSEL,MESAJ,RET,yesterday,HS_WEB\n"
        ",BIREYSEL,MESAJ,RET,2026-01-09 10:00:00,HS_WEB\n"
        "+905321000004,BIREYSEL,arama,ret,09.01.2026 10:00,HS_WEB\n"
    )
    changes, errors = parse_changes(text.encode(), "changes.csv")
    assert [(c.recipient, c.channel, c.status) for c in changes] == [
        ("+905321000001", "MESAJ", "ONAY"),
        ("+905321000004", "ARAMA", "RET"),
    ]
    assert changes[1].consent_at == datetime(2026, 1, 9, 7, 0, tzinfo=UTC)
    assert [(e.line, e.reason) for e in errors] == [
        (3, "recipient is not a valid phone number"),
        (5, "status must be one of ONAY/RET"),
        (6, "date is not YYYY-MM-DD HH:MM:SS"),
        (7, "recipient is missing"),
    ]
    assert all("+90532" not in str(e) for e in errors)


def test_parse_changes_csv_without_required_columns():
    changes, errors = parse_changes(b"phone;status\n+905321000001;ONAY\n", "x.csv")
    assert changes == []
    assert [(e.line, e.reason) for e in errors] == [
        (1, "missing column(s): recipient, recipientType, type")
    ]


def test_parse_changes_rejects_non_utf8():
    assert parse_changes(b"recipient;type\n\xff\xfe", "x.csv")[1][0].reason == "file is not UTF-8"


# --- HTTP client against a local registry ----------------------------------------------


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any


@dataclass
class FakeIys:
    """Canned registry: issues tokens, checks them, answers the consent endpoints."""

    requests: list[Recorded] = field(default_factory=list)
    valid_tokens: set[str] = field(default_factory=set)
    tokens_issued: int = 0
    reject_all_tokens: bool = False
    canned: list[tuple[int, Any]] = field(default_factory=list)
    changes: list[dict[str, Any]] = field(default_factory=list)
    bulk_status: Any = None
    hang: threading.Event | None = None
    base_url: str = ""

    def calls(self, suffix: str) -> list[Recorded]:
        return [r for r in self.requests if r.path.endswith(suffix)]

    def respond(self, req: Recorded) -> tuple[int, Any]:
        self.requests.append(req)
        if req.path == "/oauth2/token":
            return self._token(req.body)
        token = req.headers.get("Authorization", "").removeprefix("Bearer ")
        if self.reject_all_tokens or token not in self.valid_tokens:
            return 401, {"errors": [{"code": "H351", "message": "Eksik veya geçersiz jeton!"}]}
        if self.hang is not None:
            self.hang.wait(timeout=10)
        if self.canned:
            return self.canned.pop(0)
        base = f"/sps/{IYS_CODE}/brands/{BRAND}/consents"
        if req.method == "POST" and req.path == base:
            return 200, {"transactionId": "tx-1", "creationDate": "2026-01-09 10:30:06"}
        if req.method == "POST" and req.path == base + "/request":
            return 200, {"requestId": f"req-{len(self.calls('/consents/request'))}"}
        if req.method == "GET" and req.path.startswith(base + "/request/"):
            return 200, self.bulk_status
        if req.method == "GET" and req.path == base + "/changes":
            return 200, self._changes_page(req.query)
        return 404, {"errors": [{"code": "H404", "message": "not found"}]}

    def _token(self, body: Any) -> tuple[int, Any]:
        if body != {"username": "api-user", "password": "s3cret", "grant_type": "password"}:
            return 401, {"error": "invalid_grant", "error_description": "bad credentials"}
        self.tokens_issued += 1
        token = f"tok-{self.tokens_issued}"
        self.valid_tokens.add(token)
        return 200, {"access_token": token, "expires_in": 7200, "token_type": "bearer"}

    def _changes_page(self, query: dict[str, list[str]]) -> dict[str, Any]:
        start = int(query["after"][0].removeprefix("c")) if "after" in query else 0
        page = self.changes[start : start + int(query["limit"][0])]
        after = f"c{start + len(page)}" if page else None
        return {"after": after, "list": page}


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _handle(self, method: str) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        url = urlsplit(self.path)
        req = Recorded(method, url.path, parse_qs(url.query), dict(self.headers), None)
        req.body = json.loads(raw) if raw else None
        status, answer = self.server.fake.respond(req)
        payload = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeIys


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def fake() -> Iterator[FakeIys]:
    server = _Server(("127.0.0.1", 0), _Handler)
    server.fake = FakeIys()
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    server.fake.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    yield server.fake
    if server.fake.hang is not None:
        server.fake.hang.set()
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def settings_for(base_url: str, **changes: Any) -> IysSettings:
    values: dict[str, Any] = {
        "base_url": base_url,
        "username": "api-user",
        "password": "s3cret",
        "iys_code": IYS_CODE,
        "brand_code": BRAND,
        "timeout": 5.0,
    }
    values.update(changes)
    return IysSettings(**values)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def client(fake: FakeIys, clock: FakeClock) -> IysClient:
    return IysClient(settings_for(fake.base_url), clock=clock)


def test_settings_hide_the_password_and_refuse_odd_schemes():
    assert "s3cret" not in repr(settings_for("https://api.iys.org.tr"))
    with pytest.raises(ValueError, match="http"):
        settings_for("file:///etc/passwd")


def test_token_is_fetched_once_with_the_password_grant_and_reused(fake, client):
    assert client.add_consent(event(1)) == "tx-1"
    client.add_consent(event(2))
    assert fake.tokens_issued == 1
    token_call, first, second = fake.requests
    assert token_call.body == {
        "username": "api-user",
        "password": "s3cret",
        "grant_type": "password",
    }
    assert first.path == f"/sps/{IYS_CODE}/brands/{BRAND}/consents"
    assert first.headers["Authorization"] == "Bearer tok-1"
    assert first.body["recipient"] == "+905321000001"
    assert first.body["consentDate"] == "2026-01-09 10:30:05"
    assert second.headers["Authorization"] == "Bearer tok-1"


def test_token_is_renewed_before_it_expires(fake, client, clock):
    client.add_consent(event(1))
    clock.now += 7200 - 30  # inside the renewal margin
    client.add_consent(event(2))
    assert fake.tokens_issued == 2
    assert [r.headers["Authorization"] for r in fake.calls("/consents")] == [
        "Bearer tok-1",
        "Bearer tok-2",
    ]


def test_token_revoked_by_the_registry_is_refreshed_and_the_call_retried_once(fake, client):
    client.add_consent(event(1))
    fake.valid_tokens.clear()  # e.g. the registry restarted
    assert client.add_consent(event(2)) == "tx-1"
    assert fake.tokens_issued == 2
    assert [r.headers["Authorization"] for r in fake.calls("/consents")] == [
        "Bearer tok-1",
        "Bearer tok-1",
        "Bearer tok-2",
    ]


def test_second_401_is_an_error_not_a_loop(fake, client):
    fake.reject_all_tokens = True
    with pytest.raises(RegistryError) as caught:
        client.add_consent(event(1))
    assert caught.value.status == 401 and caught.value.code == "H351"
    assert not caught.value.retryable
    assert len(fake.calls("/consents")) == 2


def test_wrong_credentials_are_reported_without_retrying(fake):
    client = IysClient(settings_for(fake.base_url, password="nope"))
    with pytest.raises(RegistryError, match="bad credentials") as caught:
        client.token()
    assert caught.value.status == 401 and caught.value.code == "invalid_grant"
    assert len(fake.requests) == 1


def test_bulk_sends_2500_events_in_three_chunks(fake, client):
    events = [event(n) for n in range(2500)]
    assert client.add_bulk(events) == ["req-1", "req-2", "req-3"]
    bulk = fake.calls("/consents/request")
    assert [len(r.body) for r in bulk] == [1000, 1000, 500]
    assert bulk[0].body[0] == {
        "consentDate": "2026-01-09 10:30:05",
        "source": "HS_WEB",
        "recipient": "+905321000000",
        "recipientType": "BIREYSEL",
        "status": "ONAY",
        "type": "MESAJ",
    }
    assert bulk[2].body[-1]["recipient"] == "+905321002499"


def test_bulk_failure_midway_says_which_chunks_were_accepted(fake, client):
    fake.canned = [(200, {"requestId": "req-A"}), (503, {"message": "bakımda"})]
    with pytest.raises(RegistryUnavailable) as caught:
        client.add_bulk([event(n) for n in range(1500)])
    assert caught.value.request_ids == ["req-A"]
    assert caught.value.retryable


def test_bulk_status_reports_each_item(fake, client):
    fake.bulk_status = [
        {
            "index": 1,
            "status": "failure",
            "subrequestId": "s1",
            "error": {"code": "H175", "message": "İlk izin kayıt işlemlerinde RET kaydedilmez."},
        },
        {"index": 0, "status": "success", "subrequestId": "s0", "transactionId": "tx-9"},
        {"index": 2, "status": "enqueue", "subrequestId": "s2"},
    ]
    statuses = client.bulk_status("req-1")
    assert fake.requests[-1].path.endswith("/consents/request/req-1")
    assert [(s.index, s.status, s.transaction_id, s.error_code) for s in statuses] == [
        (0, "success", "tx-9", None),
        (1, "failure", None, "H175"),
        (2, "enqueue", None, None),
    ]


def test_400_carries_the_registry_code_and_message(fake, client):
    fake.canned = [
        (
            400,
            {
                "errors": [
                    {
                        "location": ["recipient"],
                        "code": "H114",
                        "message": "Alıcı (recipient) bulunamadı.",
                    },
                    {
                        "location": ["source"],
                        "code": "H113",
                        "message": "İzin kaynağı (source) bulunamadı.",
                    },
                ]
            },
        )
    ]
    with pytest.raises(RegistryError) as caught:
        client.add_consent(event(1))
    error = caught.value
    assert not isinstance(error, RegistryUnavailable)
    assert (error.status, error.code) == (400, "H114")
    assert error.message == "Alıcı (recipient) bulunamadı.; İzin kaynağı (source) bulunamadı."
    assert str(error).startswith("400 H114 Alıcı")


def test_503_is_retryable(fake, client):
    fake.canned = [(503, {"errors": [{"code": "H103", "message": "Sunucuda arama yapılamadı."}]})]
    with pytest.raises(RegistryUnavailable) as caught:
        client.add_consent(event(1))
    assert caught.value.status == 503 and caught.value.retryable


def test_timeout_is_retryable(fake):
    client = IysClient(settings_for(fake.base_url, timeout=0.2))
    client.token()
    fake.hang = threading.Event()
    with pytest.raises(RegistryUnavailable):
        client.add_consent(event(1))


def test_unreachable_registry_is_retryable():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = IysClient(settings_for(f"http://127.0.0.1:{port}"))
    with pytest.raises(RegistryUnavailable):
        client.token()


def test_events_of_another_brand_are_refused(client):
    with pytest.raises(ValueError, match="brand"):
        client.add_bulk([event(1), event(2, brand_code="999")])


def test_pull_changes_pages_with_the_after_cursor(fake, client):
    fake.changes = [
        {**PULLED["list"][0], "recipient": f"+90532100000{n}", "transactionId": f"tx-{n}"}
        for n in range(5)
    ]
    cursor = None
    pages = []
    while True:
        changes, cursor = client.pull_changes(cursor, limit=2)
        if not changes:
            break
        pages.append([c.transaction_id for c in changes])
    assert pages == [["tx-0", "tx-1"], ["tx-2", "tx-3"], ["tx-4"]]
    assert cursor == "c5"  # an empty page keeps the cursor where it was
    queries = [r.query for r in fake.calls("/consents/changes")]
    assert queries[0] == {"source": ["IYS"], "limit": ["2"]}
    assert [q.get("after") for q in queries[1:]] == [["c2"], ["c4"], ["c5"]]
    assert all(c.brand_code == BRAND for c in changes)


def test_pull_changes_skips_and_logs_a_malformed_item(fake, client, caplog):
    fake.changes = [{**PULLED["list"][0], "recipient": "+90 12"}, PULLED["list"][1]]
    with caplog.at_level(logging.ERROR, logger="interactive.contacts.registry_client"):
        changes, cursor = client.pull_changes(None)
    assert [c.recipient for c in changes] == ["ornek@adiniz.com"]
    assert cursor == "c2"
    (record,) = caplog.records
    assert record.transaction_id == "tx-1"
    assert "+90" not in record.getMessage() and "+90" not in record.reason
