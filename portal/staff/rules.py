"""Staff pages for a site's rules: balance limits, alarms, warning, holidays, windows, calendar days, exemptions,
and the counter's limit for a second person's approval (maker-checker).

Managers (and admins) of the site only. Every form posts back the section it came from: htmx swaps the
section's partial, a plain form post gets a redirect to the page (and a flash message).
"""
from __future__ import annotations

import re
from datetime import date, timedelta

from flask import abort, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from portal.approvals.proposals import ProposalRefused, set_counter_limit
from portal.audit import audit
from portal.control.balance import RuleError, restore_level, set_exempt, set_safeguards, trip_threshold
from portal.control.calendar import (
    CalendarError,
    add_no_trip_window,
    calendar_days_of,
    calendar_known,
    national_days,
    remove_calendar_day,
    remove_no_trip_window,
    set_calendar_day,
    windows_of,
)
from portal.extensions import db
from portal.metering.daily import business_today
from portal.models import Account, Site
from portal.money import parse_yuan
from portal.staff.blueprint import bp
from portal.web.access import require_area, scoped, scoped_or_404
from portal.web.htmx import answer_form, render

SECTIONS = {"safeguards", "contact", "approvals", "windows", "calendar", "exempt"}
#: a phone number as people write it: digits with spaces, dashes, brackets, a leading + (7 to 20 digits)
PHONE = re.compile(r"\+?[0-9][0-9 ()\-]{5,30}")


def yuan_to_fen(text: str | None, *, blank: int | None = 0) -> int | None:
    """A yuan amount typed by a manager as integer fen (exact; blank gives `blank`); ValueError otherwise."""
    return blank if not (text or "").strip() else parse_yuan(text)


def _context(site: Site, errors: dict | None = None, message: str | None = None) -> dict:
    """Everything the page and its sections show."""
    today = business_today()
    years = (today.year, today.year + 1)
    exempt = select(Account).where(Account.site_id == site.id, Account.exempt).order_by(Account.code)
    return dict(
        site=site, today=today, threshold=trip_threshold(site), restore_at=restore_level(site),
        windows=windows_of(db.session, site),
        days=calendar_days_of(db.session, site, since=today - timedelta(days=31)),
        national=[d for y in years for d in national_days(y) if d.day >= today][:40],
        unknown_years=[y for y in years if not calendar_known(y)],
        exempt_accounts=db.session.execute(exempt).scalars().all(), errors=errors or {}, message=message)


def _answer(site: Site, section: str, message: str | None = None, error: str | None = None):
    """The section's partial with the error or message for htmx, else back to the page with a flash message."""
    return answer_form(f"staff/rules/_{section}.html", url_for("staff.site_rules", site_id=site.id, _anchor=section),
                       lambda: _context(site, errors={section: error} if error else {}, message=message),
                       error=error, message=message)


@bp.get("/rules")
@require_area("rules")
def rules_index():
    """The sites whose rules the manager may edit; with one site, straight to it."""
    query = scoped(select(Site), Site.id).order_by(Site.code)
    sites = db.session.execute(query).scalars().all()
    if len(sites) == 1:
        return redirect(url_for("staff.site_rules", site_id=sites[0].id))
    return render_template("staff/rules/index.html", sites=sites)


@bp.get("/sites/<int:site_id>/rules")
@require_area("rules")
def site_rules(site_id: int):
    """The whole rules page of one site (or one section of it for htmx: ?section=...)."""
    site = scoped_or_404(Site, site_id)
    section = request.args.get("section")
    partial = f"staff/rules/_{section}.html" if section in SECTIONS else "staff/rules/_safeguards.html"
    return render("staff/rules/page.html", partial, **_context(site))


@bp.post("/sites/<int:site_id>/rules")
@require_area("rules")
def save_safeguards(site_id: int):
    """Save the limits, alarm levels, warning period, holiday protection and emergency credit."""
    site, form = scoped_or_404(Site, site_id), request.form
    try:
        levels = [yuan_to_fen(form.get(f"level{i}"), blank=None) for i in (1, 2, 3)]
        values = dict(
            overdraft_limit_fen=yuan_to_fen(form.get("overdraft")),
            restore_min_fen=yuan_to_fen(form.get("restore_min")),
            max_balance_fen=yuan_to_fen(form.get("max_balance"), blank=None),
            low_balance_levels_fen=[v for v in levels if v is not None],
            emergency_credit_fen=yuan_to_fen(form.get("emergency")),
            warning_minutes=int(form.get("warning_minutes") or 0),
            protect_holidays=bool(form.get("protect_holidays")),
        )
    except ValueError:
        return _answer(site, "safeguards",
                       error=_("Amounts are yuan with at most two decimals; minutes are whole numbers."))
    try:
        changed = set_safeguards(db.session, site, current_user.actor, **values)
    except RuleError as exc:
        db.session.rollback()
        return _answer(site, "safeguards", error=str(exc))
    db.session.commit()
    return _answer(site, "safeguards", message=_("Saved.") if changed else _("Nothing changed."))


@bp.post("/sites/<int:site_id>/contact")
@require_area("rules")
def save_contact(site_id: int):
    """Save the property office's phone, which shops switched off by staff are told to call."""
    site = scoped_or_404(Site, site_id)
    phone = " ".join((request.form.get("contact_phone") or "").split())
    digits = sum(c.isdigit() for c in phone)
    if phone and (not PHONE.fullmatch(phone) or not 7 <= digits <= 20):
        return _answer(site, "contact", error=_("A phone number is 7 to 20 digits, with spaces, dashes or brackets "
                                                "if you like, e.g. 0854-8123456."))
    if (site.contact_phone or "") == phone:
        return _answer(site, "contact", message=_("Nothing changed."))
    audit(db.session, current_user.actor, "site.contact_phone", "site", site.id, site_id=site.id,
          old=site.contact_phone, new=phone or None)
    site.contact_phone = phone or None
    db.session.commit()
    return _answer(site, "contact", message=_("Saved."))


@bp.post("/sites/<int:site_id>/approval-limit")
@require_area("rules")
def save_counter_limit(site_id: int):
    """Save the amount above which a counter recharge needs a manager's approval."""
    site = scoped_or_404(Site, site_id)
    try:
        limit = yuan_to_fen(request.form.get("counter_limit"), blank=None)
    except ValueError:
        return _answer(site, "approvals", error=_("Amounts are yuan with at most two decimals."))
    try:
        changed = set_counter_limit(db.session, site, limit, current_user.actor)
    except ProposalRefused as exc:
        db.session.rollback()
        return _answer(site, "approvals", error=str(exc))
    db.session.commit()
    return _answer(site, "approvals", message=_("Saved.") if changed else _("Nothing changed."))


@bp.post("/sites/<int:site_id>/windows")
@require_area("rules")
def add_window(site_id: int):
    """Add a weekly no-trip window (one across midnight is stored as two)."""
    site = scoped_or_404(Site, site_id)
    try:
        add_no_trip_window(db.session, site, request.form.get("weekday", -1, type=int),
                           request.form.get("start", ""), request.form.get("end", ""), current_user.actor)
    except CalendarError as exc:
        db.session.rollback()
        return _answer(site, "windows", error=str(exc))
    db.session.commit()
    return _answer(site, "windows", message=_("Window added."))


@bp.post("/sites/<int:site_id>/windows/<int:window_id>/delete")
@require_area("rules")
def delete_window(site_id: int, window_id: int):
    """Remove a weekly window."""
    site = scoped_or_404(Site, site_id)
    if not remove_no_trip_window(db.session, site, window_id, current_user.actor):
        abort(404)
    db.session.commit()
    return _answer(site, "windows", message=_("Window removed."))


@bp.post("/sites/<int:site_id>/calendar")
@require_area("rules")
def save_calendar_day(site_id: int):
    """Mark a day as the site's own holiday (no trips) or working day (trips as on a weekday)."""
    site = scoped_or_404(Site, site_id)
    try:
        day = date.fromisoformat(request.form.get("day", ""))
    except ValueError:
        return _answer(site, "calendar", error=_("Choose a date."))
    set_calendar_day(db.session, site, day, request.form.get("kind") == "holiday", request.form.get("note", ""),
                     current_user.actor)
    db.session.commit()
    return _answer(site, "calendar", message=_("Day saved."))


@bp.post("/sites/<int:site_id>/calendar/<int:day_id>/delete")
@require_area("rules")
def delete_calendar_day(site_id: int, day_id: int):
    """Forget one of the site's calendar days (the national calendar applies again)."""
    site = scoped_or_404(Site, site_id)
    if not remove_calendar_day(db.session, site, day_id, current_user.actor):
        abort(404)
    db.session.commit()
    return _answer(site, "calendar", message=_("Day removed."))


@bp.post("/sites/<int:site_id>/exempt")
@require_area("rules")
def save_exempt(site_id: int):
    """Exempt a shop from arrears trips (cold storage...) or end its exemption; the rules apply at once."""
    site = scoped_or_404(Site, site_id)
    code = (request.form.get("account") or "").strip()
    account = db.session.execute(select(Account).where(Account.site_id == site.id, Account.code == code)
                                 ).scalar_one_or_none()
    if account is None:
        return _answer(site, "exempt", error=_("No shop %(code)s at this site.", code=code))
    exempt = request.form.get("exempt") == "1"
    set_exempt(db.session, account, exempt, current_user.actor)
    db.session.commit()
    message = (_("%(code)s is exempt from arrears trips.", code=account.code) if exempt
               else _("%(code)s is no longer exempt.", code=account.code))
    return _answer(site, "exempt", message=message)
