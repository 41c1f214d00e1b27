"""Helpers for driving the web UI through Flask's test client."""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tests.conftest import PASSWORD

if TYPE_CHECKING:
    from playwright.sync_api import Page

_TOKEN = re.compile(
    r'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"'
)


def noon_after(moment: datetime) -> datetime:
    """The first 12:00 in Istanbul (09:00 UTC) at or after ``moment``: a time inside the
    default allowed hours, for tests that must not depend on the hour they run at."""
    noon = moment.astimezone(UTC).replace(hour=9, minute=0, second=0, microsecond=0)
    return noon if noon >= moment else noon + timedelta(days=1)


def csrf_token(html: str) -> str:
    match = _TOKEN.search(html)
    assert match, "page has no CSRF token"
    return match.group(1) or match.group(2)


def login(client: Any, email: str, password: str = PASSWORD, **extra: Any) -> Any:
    page = client.get("/login")
    data = {"csrf_token": csrf_token(page.get_data(as_text=True)), "email": email}
    data["password"] = password
    data.update(extra)
    return client.post("/login", data=data)


def post_form(client: Any, page_url: str, action: str | None = None, **data: Any) -> Any:
    """Load a page, take its CSRF token, post ``data`` to ``action`` (default: the page)."""
    page = client.get(page_url)
    assert page.status_code == 200, page.status_code
    payload = {"csrf_token": csrf_token(page.get_data(as_text=True)), **data}
    return client.post(action or page_url, data=payload)


def clean_env(**settings: str) -> dict[str, str]:
    """This process's environment without any INTERACTIVE_* setting, plus ``settings``
    (for starting ``interactive`` commands as a fresh machine would)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTERACTIVE_")}
    env.update(settings)
    return env


# Set to a folder to keep screenshots of the pages visited (used for the README).
SCREENSHOTS = os.environ.get("INTERACTIVE_SCREENSHOTS")


def shot(page: Page, name: str, *, full_page: bool = True) -> None:
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SCREENSHOTS) / f"{name}.png"), full_page=full_page)


def sign_in(page: Page, base: str, email: str, password: str = PASSWORD) -> None:
    page.goto(f"{base}/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
