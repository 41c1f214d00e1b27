"""Click classification, table-driven with user agents seen in the wild."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from interactive.shortlinks.classify import classify, is_prefetch
from interactive.shortlinks.clicks import seconds_after_send
from interactive.shortlinks.models import ClickKind

HUMAN, PREVIEW, SCANNER, HEAD = (
    ClickKind.HUMAN,
    ClickKind.PREVIEW,
    ClickKind.SCANNER,
    ClickKind.HEAD,
)

AGENTS = [
    # People: phone and desktop browsers, in-app browsers.
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
        HUMAN,
    ),
    (
        "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/120.0.0.0 Mobile Safari/537.36",
        HUMAN,
    ),
    (
        "Mozilla/5.0 (Linux; Android 13; SAMSUNG SM-S911B) AppleWebKit/537.36 (KHTML, like "
        "Gecko) SamsungBrowser/23.0 Chrome/115.0.0.0 Mobile Safari/537.36",
        HUMAN,
    ),
    (
        "Mozilla/5.0 (Linux; Android 10; CUBOT NOTE 7) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/96.0.4664.45 Mobile Safari/537.36",
        HUMAN,
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0",
        HUMAN,
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 16_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
        "like Gecko) Mobile/15E148 Instagram 290.0.0.13.76 (iPhone14,5; iOS 16_5; en_US; en; "
        "scale=3.00; 1170x2532; 494339276)",
        HUMAN,
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
        "like Gecko) Mobile/15E148 [FBAN/FBIOS;FBAV/436.0.0.37.106;FBBV/540542437;FBDV/"
        "iPhone13,2;FBMD/iPhone;FBSN/iOS;FBSV/17.0;FBSS/3;FBID/phone;FBLC/tr_TR;FBOP/5]",
        HUMAN,
    ),
    # Link previews.
    ("WhatsApp/2.23.20.0 A", PREVIEW),
    ("WhatsApp/2.2343.3 i", PREVIEW),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_11_1) AppleWebKit/601.2.4 (KHTML, like "
        "Gecko) Version/9.0.1 Safari/601.2.4 facebookexternalhit/1.1 Facebot Twitterbot/1.0",
        PREVIEW,
    ),
    ("facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)", PREVIEW),
    ("Twitterbot/1.0", PREVIEW),
    ("Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)", PREVIEW),
    ("TelegramBot (like TwitterBot)", PREVIEW),
    ("Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)", PREVIEW),
    ("Mozilla/5.0 (Windows NT 6.1; WOW64) SkypeUriPreview Preview/0.5", PREVIEW),
    (
        "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, "
        "like Gecko) Chrome/41.0.2272.96 Mobile Safari/537.36 (compatible; Google-PageRenderer "
        "Google (+https://developers.google.com/+/web/snippet/))",
        PREVIEW,
    ),
    ("Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.12026; Pro)", PREVIEW),
    ("Mozilla/4.0 (compatible; ms-office; MSOffice 16)", PREVIEW),
    (
        "Mozilla/5.0 (Windows NT 6.1; WOW64) AppleWebKit/534+ (KHTML, like Gecko) BingPreview/1.0b",
        PREVIEW,
    ),
    (
        "LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)",
        PREVIEW,
    ),
    ("Viber/20.6.0 CFNetwork/1410.0.3 Darwin/22.6.0", PREVIEW),
    # Scripts, scanners, crawlers, headless browsers.
    ("curl/8.4.0", SCANNER),
    ("Wget/1.21.3", SCANNER),
    ("python-requests/2.31.0", SCANNER),
    ("Go-http-client/1.1", SCANNER),
    (
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "HeadlessChrome/120.0.6099.28 Safari/537.36",
        SCANNER,
    ),
    ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", SCANNER),
    ("Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)", SCANNER),
    ("Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)", SCANNER),
    ("Mozilla/5.0 (compatible; urlscan.io)", SCANNER),
    ("", SCANNER),
    (None, SCANNER),
]


@pytest.mark.parametrize(("agent", "kind"), AGENTS)
def test_user_agents(agent: str | None, kind: ClickKind) -> None:
    assert classify("GET", agent) == kind


@pytest.mark.parametrize(("agent", "_kind"), AGENTS)
def test_head_requests_are_head_whoever_sends_them(agent: str | None, _kind: ClickKind) -> None:
    assert classify("HEAD", agent) == HEAD


@pytest.mark.parametrize(
    ("headers", "prefetch"),
    [
        ({"purpose": "prefetch"}, True),
        ({"sec-purpose": "prefetch;prerender"}, True),
        ({"x-moz": "prefetch"}, True),
        ({"x-purpose": "preview"}, True),
        ({"sec-fetch-mode": "navigate"}, False),
        ({}, False),
    ],
)
def test_prefetch_headers(headers: dict[str, str], prefetch: bool) -> None:
    assert is_prefetch(headers) is prefetch
    safari = AGENTS[0][0]
    assert classify("GET", safari, prefetch=is_prefetch(headers)) == (HEAD if prefetch else HUMAN)


@pytest.mark.parametrize(
    ("seconds", "kind"), [(0.4, SCANNER), (5.0, SCANNER), (5.5, HUMAN), (3600, HUMAN)]
)
def test_a_browser_click_right_after_delivery_is_a_scanner(seconds: float, kind: ClickKind) -> None:
    chrome = AGENTS[1][0]
    assert classify("GET", chrome, seconds_after_send=seconds, scanner_window=5) == kind
    # A preview fetcher stays a preview however soon it comes.
    assert classify("GET", "WhatsApp/2.23.20.0 A", seconds_after_send=seconds) == PREVIEW


def test_seconds_after_send_uses_the_latest_send_event_before_the_click() -> None:
    submitted = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
    delivered = submitted + timedelta(seconds=20)
    click = submitted + timedelta(seconds=22)
    assert seconds_after_send(click, submitted, delivered) == 2
    assert seconds_after_send(click, submitted, None) == 22
    # A receipt that arrived after the click says nothing about it.
    assert seconds_after_send(click, submitted, click + timedelta(minutes=5)) == 22
    assert seconds_after_send(click, None, None) is None
