"""The import wizard in a real browser: upload, map, start, watch the progress, read the
summary. The job runs in a burst worker while the page polls."""

from __future__ import annotations

from pathlib import Path

from flask import Flask
from playwright.sync_api import Page, expect
from rq import SimpleWorker

from interactive.contacts.models import Brand
from interactive.db import db
from interactive.queue import get_queue
from interactive.web.models import Role
from tests.conftest import PASSWORD, UserFactory
from tests.helpers import shot


def test_import_wizard_with_progress(
    page: Page, live_server: str, live_user: UserFactory, app: Flask, tmp_path: Path
) -> None:
    marketer = live_user(Role.MARKETER)
    with app.app_context():
        session = db.session()
        session.add(Brand(code="SHOP", name="Shop"))
        session.commit()
    file = tmp_path / "visitors.csv"
    rows = "".join(f"0532 000 {n:04d};Visitor {n};ONAY\n" for n in range(120))
    file.write_text("Telefon;Ad;İzin\n" + rows + "12345;Bad;ONAY\n", encoding="utf-8")

    page.goto(f"{live_server}/login")
    page.get_by_label("Email").fill(marketer.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("link", name="Imports").click()
    page.get_by_role("link", name="Import contacts").click()
    page.get_by_label("File").set_input_files(str(file))
    page.get_by_role("button", name="Upload").click()

    expect(page.get_by_role("heading", name="Map the columns")).to_be_visible()
    expect(page.get_by_test_id("preview")).to_contain_text("Visitor 7")
    shot(page, "import-mapping")
    # Guessed from the headers.
    expect(page.get_by_label("Column “Telefon” holds")).to_have_value("phone")
    expect(page.get_by_label("Column “İzin” holds")).to_have_value("consent")
    page.get_by_label("Brand").select_option(label="Shop")
    page.get_by_label("Add the contacts to a list").select_option(label="a new list…")
    page.get_by_label("Name of the new list").fill("Fair")
    page.get_by_role("button", name="Start the import").click()

    expect(page.get_by_role("status")).to_have_text("waiting to start")
    expect(page.get_by_role("button", name="Cancel the import")).to_be_visible()
    with app.app_context():
        SimpleWorker([get_queue("default")], connection=app.extensions["interactive.redis"]).work(
            burst=True
        )
    # The page learns the outcome by polling, without a reload.
    expect(page.get_by_role("status")).to_have_text("done", timeout=15_000)
    box = page.locator("#import-progress")
    expect(box.locator('[data-field="created"]')).to_have_text("120")
    expect(box.locator('[data-field="rejected"]')).to_have_text("1")
    expect(box.locator('[data-field="consent_events"]')).to_have_text("120")
    expect(page.locator("progress")).to_have_attribute("value", "100")
    shot(page, "import-done")
    expect(page.get_by_role("button", name="Cancel the import")).to_be_hidden()
    with page.expect_download() as download:
        page.get_by_role("link", name="Download errors (CSV)").click()
    text = Path(download.value.path()).read_text(encoding="utf-8-sig")
    assert "122,Telefon,The phone number is too short.,12345" in text.replace("\r", "")
    page.get_by_role("link", name="Contacts").first.click()
    shot(page, "contacts", full_page=False)
    page.get_by_role("link", name="Consent").first.click()
    shot(page, "consent-registry", full_page=False)
