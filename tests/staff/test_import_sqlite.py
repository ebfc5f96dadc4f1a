"""The embedded demo (SQLite, the in-process queue thread): an upload is previewed and its commit job imports it."""
from __future__ import annotations

import io
import time

import pytest
from sqlalchemy import func, select

from portal.models import Meter, Role, SiteImport, StaffUser
from portal.models.office import ImportStatus
from tests.factories import PASSWORD
from tests.sites.test_importer import site_sheets, write_xlsx

pytestmark = pytest.mark.no_db


@pytest.fixture
def demo(sqlite_app):
    """The embedded demo's app with an administrator, its jobs on a thread, as `make demo` runs it."""
    return sqlite_app(admin=True, WTF_CSRF_ENABLED=False, RATELIMIT_ENABLED=False)


def test_an_import_is_previewed_and_committed_on_the_demos_sqlite(demo, tmp_path):
    from portal.extensions import db

    client = demo.test_client()
    client.post("/auth/staff/login", data={"username": "boss", "password": PASSWORD})
    content = write_xlsx(tmp_path / "site.xlsx", site_sheets()).read_bytes()

    client.post("/staff/import", data={"site": "mall", "file": (io.BytesIO(content), "site.xlsx")},
                content_type="multipart/form-data")
    row = db.session.execute(select(SiteImport)).scalar_one()
    assert row.status == ImportStatus.READY and row.total_rows == 9
    assert db.session.scalar(select(func.count()).select_from(Meter)) == 0

    client.post(f"/staff/import/{row.id}/commit")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        db.session.expire_all()
        if db.session.get(SiteImport, row.id).status in (ImportStatus.DONE, ImportStatus.FAILED):
            break
        time.sleep(0.2)

    row = db.session.get(SiteImport, row.id)
    assert (row.status, row.done_rows) == (ImportStatus.DONE, 9), row.errors
    assert db.session.scalar(select(func.count()).select_from(Meter)) == 3
