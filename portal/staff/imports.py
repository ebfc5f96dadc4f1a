"""The import page `/staff/import`: the template, an upload checked and previewed, its commit as a job with a
progress bar, the past imports, and a site exported as the same workbook.

The work is portal.sites.uploads' (checks, dry run, guarded commit) and portal.sites.workbook's (the files
written); the views only parse, check access and answer. Admins import into any site or a new one; managers into
their own sites; auditors see the page and the history and change nothing (the blueprint refuses their posts).
"""
from __future__ import annotations

import io

from flask import abort, request, send_file, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from portal.extensions import db
from portal.models import Role, Site, SiteImport
from portal.models.office import ImportStatus
from portal.sites.checks import CODE_RE
from portal.sites.uploads import check_upload, start_commit
from portal.sites.workbook import export_workbook, template_workbook
from portal.staff.blueprint import bp
from portal.web.access import require_area, scoped, staff_site_ids
from portal.web.htmx import answer_form, go_to, render
from portal.web.params import BadParameter, query_arg
from portal.web.roles import may_change

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
#: past imports listed on the page, newest first
HISTORY = 50
STATUS = {
    ImportStatus.INVALID: _l("has errors"), ImportStatus.READY: _l("checked, not imported yet"),
    ImportStatus.QUEUED: _l("waiting to start"), ImportStatus.RUNNING: _l("importing"),
    ImportStatus.DONE: _l("imported"), ImportStatus.FAILED: _l("failed, nothing written"),
}
OUTCOMES = {"created": _l("new"), "updated": _l("changed"), "unchanged": _l("unchanged")}
SHEETS = {"sites": _l("site"), "gateways": _l("gateways"), "accounts": _l("shops"), "meters": _l("meters"),
          "tariffs": _l("tariffs")}


@bp.context_processor
def import_labels() -> dict:
    """Words for an import's status, outcomes and sheets (templates/staff/imports/)."""
    return dict(import_status=STATUS, import_outcomes=OUTCOMES, import_sheets=SHEETS)


def parse_code(name: str, text: str) -> str:
    """A site code as the import takes it (portal.sites.checks.CODE_RE)."""
    if not CODE_RE.match(text):
        raise BadParameter(_("%(name)s must be a site code (letters, digits, _ . -; at most 32)", name=name))
    return text


def _sites() -> list[Site]:
    return db.session.execute(scoped(select(Site), Site.id).order_by(Site.code)).scalars().all()


def _visible():
    """The imports this user may see: into one of their sites (admins: all)."""
    query = select(SiteImport).options(joinedload(SiteImport.created_by))
    ids = staff_site_ids(current_user)
    if ids is None:
        return query
    return query.where(SiteImport.site_code.in_(select(Site.code).where(Site.id.in_(ids))))


def _import_or_404(import_id: int) -> SiteImport:
    row = db.session.execute(_visible().where(SiteImport.id == import_id)).scalar_one_or_none()
    if row is None:
        abort(404)
    return row


def _page(error: str | None = None, site_code: str = "") -> dict:
    history = db.session.execute(_visible().order_by(SiteImport.id.desc()).limit(HISTORY)).scalars().all()
    return dict(history=history, sites=_sites(), may_change=may_change(current_user.role),
                may_create=current_user.role == Role.ADMIN, error=error, site_code=site_code)


@bp.get("/import")
@require_area("import")
def imports():
    """The template, the upload form, and the past imports."""
    return render("staff/imports/page.html", "staff/imports/_upload.html", **_page())


@bp.get("/import/template.xlsx")
@require_area("import")
def import_template():
    """The SPEC §4 workbook with one example row per sheet and notes in Chinese and English."""
    return send_file(io.BytesIO(template_workbook()), mimetype=XLSX, as_attachment=True,
                     download_name="payfirst-import-template.xlsx")


@bp.get("/import/export.xlsx")
@require_area("import")
def import_export():
    """One of the user's sites as the import workbook (re-imported, it changes nothing)."""
    code = query_arg("site", parse_code)
    if code is None:
        abort(400, description=_("Choose a site: ?site=CODE"))
    site = db.session.execute(scoped(select(Site).where(Site.code == code), Site.id)).scalar_one_or_none()
    if site is None:
        abort(404)
    response = send_file(io.BytesIO(export_workbook(db.session, site)), mimetype=XLSX, as_attachment=True,
                         download_name=f"payfirst-{site.code}.xlsx")
    response.headers["Cache-Control"] = "no-store"  # tenants' names and phones
    return response


@bp.post("/import")
@require_area("import")
def import_upload():
    """Keep and check an uploaded workbook, then show its errors or its preview."""
    code = request.form.get("site", "").strip()
    upload = request.files.get("file")
    error = None
    mine = {site.code for site in _sites()}
    if not CODE_RE.match(code):
        error = _("Choose a site, or type a new site code (letters, digits, _ . -; at most 32).")
    elif code not in mine and current_user.role != Role.ADMIN:
        error = _("You may import only into your own sites.")
    elif upload is None or not upload.filename:
        error = _("Choose the workbook to upload (.xlsx or .xls).")
    if error:
        return render("staff/imports/page.html", "staff/imports/_upload.html", refused=True,
                      **_page(error, code))
    row = check_upload(db.session, site_code=code, filename=upload.filename, stream=upload.stream,
                       actor=f"staff:{current_user.username}", user_id=current_user.id)
    db.session.commit()
    return go_to(url_for("staff.import_page", import_id=row.id))


@bp.get("/import/<int:import_id>")
@require_area("import")
def import_page(import_id: int):
    """One import: its errors, or its preview and the commit button, or its progress, or its outcome."""
    row = _import_or_404(import_id)
    return render("staff/imports/import.html", "staff/imports/_import.html", imp=row,
                  may_change=may_change(current_user.role))


@bp.post("/import/<int:import_id>/commit")
@require_area("import")
def import_commit(import_id: int):
    """Start the import of a checked file, once (a second click or tab finds it started already)."""
    row = _import_or_404(import_id)
    started = start_commit(db.session, row, f"staff:{current_user.username}")
    db.session.commit()
    db.session.refresh(row)
    message = None if started else _("This import was already started; it is not started twice.")
    return answer_form("staff/imports/_import.html", url_for("staff.import_page", import_id=row.id),
                       lambda: dict(imp=row, message=message, may_change=may_change(current_user.role)),
                       message=message, redirect_code=303)
