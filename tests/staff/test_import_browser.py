"""In real Chromium, with CSRF on, on a desk and on a phone: a workbook is uploaded, previewed, imported by the job
(on the demo's in-process queue thread), and the progress bar polls itself to the end with no CSP violation."""
from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import expect
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import Meter, Role
from portal.sites import uploads
from tests.browser import browser_page, screenshot, watch_csp
from tests.factories import PASSWORD
from tests.sites.test_importer import site_sheets, write_xlsx

pytestmark = pytest.mark.browser

SIZES = [pytest.param(1366, 900, id="desk"), pytest.param(390, 844, id="phone")]


@pytest.fixture
def slow_job(app, monkeypatch):
    """The commit job on the in-process queue's thread, as in the demo, each progress step taking a moment so that
    the bar is seen moving."""
    monkeypatch.setitem(app.config, "JOBS_INLINE", False)
    real = uploads.record_progress

    def slowly(engine, import_id, done):
        time.sleep(0.4)
        real(engine, import_id, done)

    monkeypatch.setattr(uploads, "record_progress", slowly)


@pytest.mark.parametrize("width, height", SIZES)
def test_an_upload_is_previewed_imported_and_its_progress_bar_reaches_the_end(base_url, csrf_on, slow_job,
                                                                            make_staff, make_site, tmp_path,
                                                                            width, height):
    mall = make_site("mall", name="兴力城")
    make_staff("boss", role=Role.MANAGER, sites=[mall])
    workbook = write_xlsx(tmp_path / "兴力城.xlsx", site_sheets())
    with browser_page(base_url, width=width, height=height, locale="zh-CN") as page:
        violations = watch_csp(page.context)
        page.goto("/auth/staff/login")
        page.fill("input[name=username]", "boss")
        page.fill("input[name=password]", PASSWORD)
        page.click("form:not(.inline) button[type=submit]")
        page.wait_for_url(re.compile(r"/staff/$"))
        page.click("header a[href='/staff/import']")

        form = page.get_by_test_id("upload")
        form.locator("select[name=site]").select_option("mall")
        form.locator("input[type=file]").set_input_files(str(workbook))
        form.locator("button[type=submit]").click()
        page.wait_for_url(re.compile(r"/staff/import/\d+$"))
        section = page.locator("#site-import")
        expect(section).to_have_attribute("data-status", "ready")
        expect(section.locator("tr[data-sheet=meters] td[data-outcome=created]")).to_have_text("3")
        expect(page.get_by_test_id("openings")).to_be_visible()
        screenshot(page, f"import-preview-{width}")

        page.get_by_test_id("commit").click()
        expect(section).to_have_attribute("data-status", re.compile("queued|running"))
        bar = page.get_by_test_id("progress")
        expect(bar).to_be_visible()
        screenshot(page, f"import-progress-{width}")

        expect(section).to_have_attribute("data-status", "done", timeout=30_000)  # no reload: it polled itself
        expect(bar).to_have_attribute("value", "9")
        expect(bar).to_have_attribute("max", "9")
        expect(page.get_by_test_id("commit")).to_have_count(0)
        screenshot(page, f"import-done-{width}")

        page.goto("/staff/import")
        expect(page.get_by_test_id("history").locator("tbody tr").first).to_contain_text("已导入")
        screenshot(page, f"import-history-{width}")
        assert violations == []
    assert db.session.scalar(select(func.count()).select_from(Meter)) == 3
