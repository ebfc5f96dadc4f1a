"""The import page /staff/import: template, upload checked by sheet/row/column, an exact preview, a commit as a job
(all or nothing, once), its progress, the history, the export that re-imports with no change, roles and sites."""
from __future__ import annotations

import hashlib
import io
from dataclasses import replace

import openpyxl
import pytest
from sqlalchemy import create_engine, func, select, text

from portal.extensions import db
from portal.models import Account, AuditEntry, Gateway, LedgerEntry, Meter, OutboxMessage, Role, Site, SiteImport
from portal.models.office import ImportStatus
from portal.sites import uploads
from portal.sites.importer import import_site
from tests.sites.test_importer import site_sheets, write_xlsx
from worker.jobs.imports import commit_site_import

XLSX_HEADERS = {"gateways", "accounts", "meters", "tariffs"}
EN = {"Accept-Language": "en"}


def xlsx_bytes(tmp_path, sheets: dict | None = None, name: str = "site.xlsx") -> bytes:
    return write_xlsx(tmp_path / name, sheets or site_sheets()).read_bytes()


def upload(client, site: str, content: bytes, filename: str = "site.xlsx"):
    return client.post("/staff/import", data={"site": site, "file": (io.BytesIO(content), filename)},
                       content_type="multipart/form-data", headers=EN)


def latest() -> SiteImport:
    db.session.expire_all()
    return db.session.execute(select(SiteImport).order_by(SiteImport.id.desc())).scalars().first()


def counts(model, **where) -> int:
    query = select(func.count()).select_from(model)
    for name, value in where.items():
        query = query.where(getattr(model, name) == value)
    return db.session.scalar(query)


@pytest.fixture
def admin(client, login, make_staff):
    user = make_staff("boss", role=Role.ADMIN)
    login.staff(user)
    return user


def imported_mall(tmp_path) -> Site:
    """The site `mall` as tests.sites' valid file makes it."""
    import_site(db.session, write_xlsx(tmp_path / "first.xlsx", site_sheets()), "mall")
    db.session.commit()
    return db.session.execute(select(Site).where(Site.code == "mall")).scalar_one()


# --- the template ----------------------------------------------------------------------------------------------

def test_the_template_has_the_spec_sheets_an_example_row_and_bilingual_notes(client, admin):
    answer = client.get("/staff/import/template.xlsx")

    assert answer.status_code == 200 and answer.mimetype.endswith("spreadsheetml.sheet")
    wb = openpyxl.load_workbook(io.BytesIO(answer.data))
    assert set(wb.sheetnames) >= XLSX_HEADERS and "notes" in wb.sheetnames
    meters = wb["meters"]
    assert [c.value for c in meters[1]] == ["code", "name", "kind", "profile", "gateway", "unit_id", "account",
                                            "control_mode", "tariff", "power_limit_kw"]
    assert meters.max_row == 2  # the headers and one example
    assert "通讯地址" in meters["F1"].comment.text and "unit id" in meters["F1"].comment.text
    assert wb["accounts"]["F1"].value == "opening_balance"


def test_the_template_uploaded_as_it_is_checks_as_valid(client, admin):
    template = client.get("/staff/import/template.xlsx").data

    answer = upload(client, "newmall", template, "payfirst-import-template.xlsx")

    row = latest()
    assert answer.status_code == 303 and answer.location.endswith(f"/staff/import/{row.id}")
    assert row.status == ImportStatus.READY, row.errors
    assert {sheet: c["created"] for sheet, c in row.preview["counts"].items()} == {
        "sites": 1, "tariffs": 1, "gateways": 1, "accounts": 1, "meters": 1}
    assert counts(Site) == 0 and counts(Gateway) == 0  # a dry run: nothing written


# --- errors by sheet, row and column ----------------------------------------------------------------------------

def test_errors_are_shown_by_sheet_row_and_column_and_nothing_is_kept_but_the_upload(client, admin, tmp_path):
    sheets = site_sheets()
    sheets["gateways"][2][3] = "99999"  # row 3: port out of range
    sheets["meters"][1][4] = "GW9"      # row 2: no such gateway

    upload(client, "mall", xlsx_bytes(tmp_path, sheets))

    row = latest()
    assert row.status == ImportStatus.INVALID and row.preview is None
    assert {(e["sheet"], e["row"], e["column"]) for e in row.errors} == {("gateways", 3, "port"),
                                                                       ("meters", 2, "gateway")}
    page = client.get(f"/staff/import/{row.id}").get_data(as_text=True)
    assert 'data-testid="errors"' in page and "GW9" in page and 'data-testid="commit"' not in page
    assert counts(Site) == 0


def test_a_file_over_the_size_limit_is_refused_with_the_clis_message_and_not_kept(app, client, admin, monkeypatch):
    # IMPORT_MAX_FILE_MB counts whole megabytes: a limit of 1 KB keeps the test's upload small
    settings = app.config["SETTINGS"]
    monkeypatch.setitem(app.config, "SETTINGS", replace(settings, imports=replace(settings.imports,
                                                                                  max_file_bytes=1024)))

    upload(client, "mall", b"PK" + b"\0" * 4096, "huge.xlsx")

    row = latest()
    assert row.status == ImportStatus.INVALID and row.content == b"" and row.filename == "huge.xlsx"
    assert row.sha256 == hashlib.sha256(b"PK" + b"\0" * 4096).hexdigest()
    assert "at most 1 KB can be imported (IMPORT_MAX_FILE_MB)" in row.errors[0]["message"]
    assert "IMPORT_MAX_FILE_MB" in client.get(f"/staff/import/{row.id}").get_data(as_text=True)


def test_a_file_that_is_no_workbook_is_a_clear_error(client, admin):
    upload(client, "mall", b"name,host\nGW1,10.0.0.1\n", "site.csv")

    row = latest()
    assert row.status == ImportStatus.INVALID and "not a readable" in row.errors[0]["message"]


@pytest.mark.parametrize("form, message", [
    ({"site": "mall"}, "Choose the workbook"),
    ({"site": "no spaces!", "file": (io.BytesIO(b"x"), "a.xlsx")}, "Choose a site"),
])
def test_an_upload_form_without_a_file_or_a_site_is_refused_in_the_page(client, admin, form, message):
    answer = client.post("/staff/import", data=form, content_type="multipart/form-data", headers=EN)

    assert answer.status_code == 422 and message in answer.get_data(as_text=True)
    assert counts(SiteImport) == 0


# --- the preview ------------------------------------------------------------------------------------------------

def test_the_preview_counts_new_changed_and_unchanged_exactly_and_shows_before_and_after(client, admin, tmp_path):
    imported_mall(tmp_path)
    sheets = site_sheets()
    sheets["meters"][1][1] = "Shop 101 main"                                        # E101 renamed
    sheets["meters"][3][9] = "25"                                                   # C1 gets a power limit
    sheets["accounts"].append(["A103", "Shop 103", "Wang", "13900000003", "20", ""])  # a new shop
    sheets["tariffs"][1][2] = "1.0500"                                              # FLAT's price changes
    before = {m: counts(m) for m in (Account, Meter, LedgerEntry)}

    upload(client, "mall", xlsx_bytes(tmp_path, sheets, "second.xlsx"))

    row = latest()
    assert row.status == ImportStatus.READY
    assert row.preview["counts"] == {
        "tariffs": {"created": 0, "updated": 1, "unchanged": 1},
        "gateways": {"created": 0, "updated": 0, "unchanged": 2},
        "accounts": {"created": 1, "updated": 0, "unchanged": 2},
        "meters": {"created": 0, "updated": 2, "unchanged": 1},
    }
    assert row.total_rows == 2 + 2 + 3 + 3
    changed = {r["code"]: r["changed"] for r in row.preview["rows"]["meters"]}
    assert changed == {"E101": {"name": ["Shop 101 electricity", "Shop 101 main"]},
                       "C1": {"power_limit_kw": [None, "25"]}}
    assert row.preview["rows"]["tariffs"] == [{"code": "FLAT", "changed": {"unit_price": ["0.9500", "1.0500"]}}]
    assert row.preview["rows"]["accounts"][0]["code"] == "A103"
    assert {m: counts(m) for m in (Account, Meter, LedgerEntry)} == before  # nothing written

    page = client.get(f"/staff/import/{row.id}").get_data(as_text=True)
    assert "Shop 101 main" in page and "1.0500" in page and 'data-testid="commit"' in page


def test_round_numbers_are_shown_as_written_not_in_exponent_form(client, admin, tmp_path):
    imported_mall(tmp_path)
    sheets = site_sheets()
    sheets["meters"][1][9] = "20"                       # E101: 10 kW -> 20 kW
    sheets["accounts"][1][4] = "100"                    # A101: 35 m² -> 100 m²

    upload(client, "mall", xlsx_bytes(tmp_path, sheets, "second.xlsx"))

    rows = latest().preview["rows"]
    assert rows["meters"] == [{"code": "E101", "changed": {"power_limit_kw": ["10", "20"]}}]
    assert rows["accounts"] == [{"code": "A101", "changed": {"area_m2": ["35", "100"]}}]


def test_a_long_preview_lists_its_first_rows_and_counts_them_all(client, admin, tmp_path, monkeypatch):
    monkeypatch.setattr("portal.sites.report.LISTED", 1)

    upload(client, "mall", xlsx_bytes(tmp_path))

    row = latest()
    assert row.preview["counts"]["meters"]["created"] == 3 and len(row.preview["rows"]["meters"]) == 1
    page = client.get(f"/staff/import/{row.id}", headers=EN).get_data(as_text=True)
    assert "and 2 more" in page


def test_the_preview_says_which_opening_balances_would_be_posted(client, admin, tmp_path):
    upload(client, "mall", xlsx_bytes(tmp_path))

    row = latest()
    assert row.preview["openings"] == {"count": 1, "fen": 12345}
    assert 'data-testid="openings"' in client.get(f"/staff/import/{row.id}").get_data(as_text=True)


# --- the commit -------------------------------------------------------------------------------------------------

def test_the_commit_runs_the_job_which_imports_everything_and_ends_done(client, admin, tmp_path):
    upload(client, "mall", xlsx_bytes(tmp_path))
    row = latest()

    answer = client.post(f"/staff/import/{row.id}/commit", headers={"HX-Request": "true"})

    assert answer.status_code == 200
    row = latest()
    assert row.status == ImportStatus.DONE and row.finished_at is not None
    assert row.done_rows == row.total_rows == 9
    assert row.preview["done"]["counts"]["meters"] == {"created": 3, "updated": 0, "unchanged": 0}
    assert counts(Meter) == 3 and counts(Account) == 2
    assert counts(OutboxMessage, job="worker.jobs.imports.commit_site_import") == 1
    actions = set(db.session.execute(select(AuditEntry.action).where(AuditEntry.target_id == row.id)).scalars())
    assert actions == {"site_import.checked", "site_import.committed", "site_import.done"}
    page = client.get(f"/staff/import/{row.id}").get_data(as_text=True)
    assert 'data-status="done"' in page and "<progress" in page and "hx-trigger" not in page


def test_a_queued_import_polls_and_shows_a_progress_bar(client, admin, tmp_path, app, monkeypatch):
    monkeypatch.setitem(app.config, "JOBS_INLINE", False)
    # the job stays queued: the runner of this app takes it and runs nothing (on the instance, as the poller tests
    # patch it: a class-level patch is shadowed by what their monkeypatch leaves on the instance)
    monkeypatch.setattr(app.extensions["payfirst.dispatcher"].runner, "submit", lambda func, args: None)
    upload(client, "mall", xlsx_bytes(tmp_path))
    row = latest()

    client.post(f"/staff/import/{row.id}/commit")
    partial = client.get(f"/staff/import/{row.id}", headers={"HX-Request": "true"}).get_data(as_text=True)

    assert latest().status == ImportStatus.QUEUED
    assert 'id="site-import"' in partial.split(">")[0]  # the partial alone, its root the section it replaces
    assert 'hx-trigger="load delay:1s"' in partial and '<progress' in partial and 'value="0"' in partial
    assert "style=" not in partial


def test_progress_is_committed_from_another_connection_while_the_import_is_not(app, client, admin, tmp_path,
                                                                              monkeypatch, database_url):
    upload(client, "mall", xlsx_bytes(tmp_path))
    row = latest()
    uploads.start_commit(db.session, row, "staff:boss")
    db.session.execute(text("DELETE FROM outbox"))  # the job is run by hand below, not by the outbox
    db.session.commit()
    onlooker = create_engine(database_url.replace("postgresql://", "postgresql+psycopg://"))
    seen = []
    real = uploads.record_progress

    def watched(engine, import_id, done):
        real(engine, import_id, done)
        with onlooker.connect() as conn:
            seen.append((conn.scalar(text("SELECT done_rows FROM site_imports WHERE id = :i"), {"i": import_id}),
                         conn.scalar(text("SELECT count(*) FROM meters"))))

    monkeypatch.setattr(uploads, "record_progress", watched)
    try:
        assert commit_site_import(row.id) == "done"
    finally:
        onlooker.dispose()

    assert [done for done, _ in seen] == sorted(done for done, _ in seen) and seen[-1][0] == 9
    assert seen[0][0] < 9  # the bar moved in steps
    assert all(meters == 0 for _, meters in seen)  # the import's own rows: not visible until its commit
    assert counts(Meter) == 3


def test_a_second_click_or_tab_does_not_import_twice(client, admin, tmp_path):
    upload(client, "mall", xlsx_bytes(tmp_path))
    row = latest()

    first = client.post(f"/staff/import/{row.id}/commit", headers={"HX-Request": "true"})
    second = client.post(f"/staff/import/{row.id}/commit", headers={"HX-Request": "true", **EN})

    assert first.status_code == second.status_code == 200
    assert "not started twice" in second.get_data(as_text=True)
    assert counts(OutboxMessage) == 1 and counts(Meter) == 3
    assert counts(AuditEntry, action="site_import.committed") == 1


def test_a_job_delivered_twice_runs_once(client, admin, tmp_path):
    upload(client, "mall", xlsx_bytes(tmp_path))
    row = latest()
    client.post(f"/staff/import/{row.id}/commit")

    assert commit_site_import(row.id) == "skipped"
    assert counts(Meter) == 3 and counts(LedgerEntry) == 1


def test_an_import_that_no_longer_fits_the_site_fails_and_writes_nothing(client, admin, tmp_path, make_meter):
    site = imported_mall(tmp_path)
    sheets = site_sheets()
    sheets["meters"].append(["E102", "Shop 102", "electric", "payfirst-prepaid-v1", "GW2", "7", "A102",
                             "platform", "", ""])
    sheets["accounts"].append(["A104", "Shop 104", "Zhao", "13900000004", "", "50"])
    upload(client, "mall", xlsx_bytes(tmp_path, sheets, "second.xlsx"))
    row = latest()
    assert row.status == ImportStatus.READY
    # meanwhile someone puts another meter on GW2 unit 7
    gw2 = db.session.execute(select(Gateway).where(Gateway.site_id == site.id, Gateway.code == "GW2")).scalar_one()
    make_meter(gateway=gw2, unit_id=7, code="X7")
    before = {m: counts(m) for m in (Account, Meter, LedgerEntry)}

    client.post(f"/staff/import/{row.id}/commit")

    row = latest()
    assert row.status == ImportStatus.FAILED and row.done_rows == 0
    assert [(e["sheet"], e["row"], e["column"]) for e in row.errors] == [("meters", 5, "unit_id")]
    assert {m: counts(m) for m in (Account, Meter, LedgerEntry)} == before
    page = client.get(f"/staff/import/{row.id}").get_data(as_text=True)
    assert 'data-status="failed"' in page and "X7" in page


def test_a_job_that_breaks_halfway_rolls_everything_back_and_says_failed(client, admin, tmp_path, monkeypatch):
    upload(client, "mall", xlsx_bytes(tmp_path))
    row = latest()
    uploads.start_commit(db.session, row, "staff:boss")
    db.session.execute(text("DELETE FROM outbox"))  # the job is run by hand below
    db.session.commit()
    real = uploads.import_site

    def breaks_after_writing(session, *args, **kwargs):
        real(session, *args, **kwargs)  # every row written (not committed), then the worker's disk fills up
        raise OSError("No space left on device")

    monkeypatch.setattr(uploads, "import_site", breaks_after_writing)

    with pytest.raises(OSError):  # RQ records the job as failed too
        commit_site_import(row.id)

    row = latest()
    assert row.status == ImportStatus.FAILED and row.done_rows == 0
    assert "No space left on device" in row.errors[0]["message"]
    assert counts(Site) == counts(Gateway) == counts(Meter) == counts(LedgerEntry) == 0


# --- the export -------------------------------------------------------------------------------------------------

def test_an_exported_site_imports_back_with_every_sheet_unchanged(client, admin, tmp_path):
    imported_mall(tmp_path)
    db.session.execute(select(Meter))  # the site as the import left it
    entries = counts(LedgerEntry)

    exported = client.get("/staff/import/export.xlsx?site=mall")
    assert exported.status_code == 200 and exported.headers["Cache-Control"] == "no-store"
    upload(client, "mall", exported.data, "payfirst-mall.xlsx")

    row = latest()
    assert row.status == ImportStatus.READY, row.errors
    assert all(c["created"] == c["updated"] == 0 for c in row.preview["counts"].values()), row.preview
    assert {s: c["unchanged"] for s, c in row.preview["counts"].items()} == {
        "tariffs": 2, "gateways": 2, "accounts": 2, "meters": 3}
    client.post(f"/staff/import/{row.id}/commit")
    row = latest()
    assert row.status == ImportStatus.DONE and counts(LedgerEntry) == entries
    assert all(c["created"] == c["updated"] == 0 for c in row.preview["done"]["counts"].values())


def test_the_export_leaves_opening_balances_empty_and_keeps_formula_like_names_text(client, admin, tmp_path):
    imported_mall(tmp_path)
    shop = db.session.execute(select(Account).where(Account.code == "A102")).scalar_one()
    shop.name = '=HYPERLINK("http://x")'  # typed on a page, say
    db.session.commit()

    wb = openpyxl.load_workbook(io.BytesIO(client.get("/staff/import/export.xlsx?site=mall").data))

    accounts = {r[0]: r for r in wb["accounts"].iter_rows(min_row=2, values_only=True)}
    assert accounts["A101"][5] is None  # the opening balance was posted once; the export carries no money
    assert wb["accounts"]["B3"].data_type != "f" and accounts["A102"][1] == '=HYPERLINK("http://x")'


@pytest.mark.parametrize("query, status", [("", 400), ("?site=bad%20code", 400), ("?site=nowhere", 404)])
def test_an_export_of_no_site_or_a_bad_code_is_a_clear_error(client, admin, query, status):
    answer = client.get(f"/staff/import/export.xlsx{query}")

    assert answer.status_code == status


# --- roles and sites --------------------------------------------------------------------------------------------

def test_a_manager_imports_into_their_own_sites_only(client, login, make_staff, make_site, tmp_path):
    mine = make_site("mine")
    make_site("other")
    login.staff(make_staff("mgr", role=Role.MANAGER, sites=[mine]))

    refused = upload(client, "other", xlsx_bytes(tmp_path))
    new_site = upload(client, "brandnew", xlsx_bytes(tmp_path))
    upload(client, "mine", xlsx_bytes(tmp_path))

    assert refused.status_code == new_site.status_code == 422
    assert "only into your own sites" in refused.get_data(as_text=True)
    assert [r.site_code for r in db.session.execute(select(SiteImport)).scalars()] == ["mine"]
    assert client.get("/staff/import/export.xlsx?site=other").status_code == 404
    assert client.get("/staff/import/export.xlsx?site=mine").status_code == 200


def test_an_import_of_another_site_is_a_404_and_not_in_the_history(client, login, make_staff, make_site, tmp_path):
    mine, _other = make_site("mine"), make_site("other")
    theirs = uploads.check_upload(db.session, site_code="other", filename="o.xlsx",
                                  stream=io.BytesIO(xlsx_bytes(tmp_path)), actor="staff:x", user_id=None)
    db.session.commit()
    login.staff(make_staff("mgr", role=Role.MANAGER, sites=[mine]))

    assert client.get(f"/staff/import/{theirs.id}").status_code == 404
    assert client.post(f"/staff/import/{theirs.id}/commit").status_code == 404
    assert f'data-import="{theirs.id}"' not in client.get("/staff/import").get_data(as_text=True)


def test_an_auditor_sees_the_page_and_history_and_cannot_upload_or_commit(client, login, make_staff, make_site,
                                                                         tmp_path):
    site = make_site("mall")
    ready = uploads.check_upload(db.session, site_code="mall", filename="m.xlsx",
                                 stream=io.BytesIO(xlsx_bytes(tmp_path)), actor="staff:x", user_id=None)
    db.session.commit()
    login.staff(make_staff("eye", role=Role.AUDITOR, sites=[site]))

    page = client.get("/staff/import")
    assert page.status_code == 200 and f'data-import="{ready.id}"' in page.get_data(as_text=True)
    assert 'data-testid="upload"' not in page.get_data(as_text=True)
    assert 'data-testid="commit"' not in client.get(f"/staff/import/{ready.id}").get_data(as_text=True)
    assert upload(client, "mall", xlsx_bytes(tmp_path)).status_code == 403
    assert client.post(f"/staff/import/{ready.id}/commit").status_code == 403
    assert latest().status == ImportStatus.READY and counts(SiteImport) == 1


@pytest.mark.parametrize("role", [Role.CASHIER, Role.OPERATOR])
def test_cashiers_and_electricians_may_not_open_the_import(client, login, make_staff, role):
    login.staff(make_staff(role=role))

    assert client.get("/staff/import").status_code == 403
    assert client.get("/staff/import/template.xlsx").status_code == 403
