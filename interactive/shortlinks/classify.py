"""What kind of visitor a click was: a person, a link preview, a URL scanner, or a HEAD
request / prefetch.

Messengers and mail clients fetch a link to draw its preview card (WhatsApp, iMessage,
Google Messages, Outlook, Slack…), carriers and mail gateways open every link that passes
to check it, and browsers prefetch. All of these inflate clicks, so every click is kept
and classified, and rates are computed from human clicks. Order matters: a preview fetcher
often carries a generic client name too (LinkedInBot runs on Apache-HttpClient).
"""

from __future__ import annotations

import re

from interactive.shortlinks.models import ClickKind

# Lower-case substrings of user agents of link-preview fetchers.
PREVIEW_AGENTS = (
    "whatsapp",
    "facebookexternalhit",  # also iMessage's preview fetcher and LINE
    "facebot",
    "twitterbot",
    "slackbot",
    "slack-imgproxy",
    "telegrambot",
    "discordbot",
    "skypeuripreview",
    "google-pagerenderer",  # Google Messages and other Google link previews
    "googlemessages",
    "microsoft office",  # Outlook and Office checking a link before opening it
    "ms-office",
    "msoffice",
    "bingpreview",
    "linkedinbot",
    "viber",
    "pinterestbot",
    "redditbot",
    "embedly",
    "iframely",
    "vkshare",
    "snapchatbot",
    "okhttp",  # Android messaging apps fetching previews
)

# Lower-case substrings of user agents of scripts, scanners and headless browsers.
SCANNER_AGENTS = (
    "curl/",
    "wget/",
    "python-requests",
    "python-urllib",
    "python-httpx",
    "aiohttp",
    "go-http-client",
    "java/",
    "apache-httpclient",
    "libwww-perl",
    "node-fetch",
    "axios/",
    "undici",
    "httpie",
    "werkzeug/",
    "postmanruntime",
    "headlesschrome",
    "phantomjs",
    "puppeteer",
    "playwright",
    "selenium",
    "lighthouse",
    "zgrab",
    "masscan",
    "nmap",
    "nikto",
    "censys",
    "shodan",
    "netcraft",
    "urlscan",
    "virustotal",
    "proofpoint",
    "mimecast",
    "barracuda",
    "forcepoint",
    "symantec",
    "trendmicro",
    "trend micro",
    "sophos",
    "fortiguard",
    "zscaler",
    "bitdefender",
    "kaspersky",
    "safebrowsing",
    "checkurl",
    "linkcheck",
    "link checker",
    "checklink",
)

# Crawlers name themselves "SomethingBot/1.0" and link to their documentation with "+http";
# a phone model such as "CUBOT NOTE 7" has neither.
_CRAWLER = re.compile(r"[a-z0-9_-]*(?:bot|crawler|spider|scanner)/\d|\+https?://")

PREFETCH_HEADERS = ("purpose", "sec-purpose", "x-purpose", "x-moz")


def is_prefetch(headers: dict[str, str]) -> bool:
    """A browser prefetch or prerender (``Purpose: prefetch``, ``Sec-Purpose:
    prefetch;prerender``, Firefox's ``X-Moz: prefetch``), or a preview
    (``X-Purpose: preview``)."""
    for name in PREFETCH_HEADERS:
        value = headers.get(name, "").lower()
        if "prefetch" in value or "prerender" in value or "preview" in value:
            return True
    return False


def classify(
    method: str,
    user_agent: str | None,
    *,
    prefetch: bool = False,
    seconds_after_send: float | None = None,
    scanner_window: float = 5.0,
) -> ClickKind:
    """Classify one click. ``seconds_after_send``: seconds between the click and the
    moment its message was submitted or delivered (the smaller; None for a standalone
    link or a message not sent yet); at most ``scanner_window`` means a scanner."""
    if method.upper() == "HEAD" or prefetch:
        return ClickKind.HEAD
    agent = (user_agent or "").strip().lower()
    if any(name in agent for name in PREVIEW_AGENTS):
        return ClickKind.PREVIEW
    if not agent or any(name in agent for name in SCANNER_AGENTS) or _CRAWLER.search(agent):
        return ClickKind.SCANNER
    if seconds_after_send is not None and seconds_after_send <= scanner_window:
        return ClickKind.SCANNER
    return ClickKind.HUMAN
