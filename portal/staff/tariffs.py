"""Staff pages for a site's tariffs: the tariffs and their versions, new prices, per-meter overrides.

Managers (and admins) of the site only. Each form posts back the section it came from: htmx swaps the
section's partial (with the error in place), a plain form post gets a redirect and a flash message.
Effective times are typed in the business time zone and stored in UTC.
"""
from __future__ import annotations

from flask import redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import func, or_, select
from sqlalchemy.orm import selectinload

from portal.extensions import db
from portal.models import Meter, Site, Tariff, TariffKind, utcnow
from portal.money import format_price
from portal.settings import business_tz
from portal.staff.blueprint import bp
from portal.tariffs.admin import (
    MAX_PERIODS,
    MAX_TIERS,
    TariffAdminError,
    add_version,
    assign_meter_tariff,
    create_tariff,
    limit_to_units,
    local_to_utc,
    set_site_default,
    version_state,
    yuan_to_e4,
)
from portal.tariffs.pricing import PERIODS
from portal.tariffs.versions import from_the_beginning
from portal.web.access import require_area, scoped, scoped_or_404
from portal.web.htmx import answer_form, render

SECTIONS = {"tariffs", "overrides"}


def _tariff(site: Site, tariff_id) -> Tariff | None:
    try:
        tariff = db.session.get(Tariff, int(tariff_id))
    except (TypeError, ValueError):
        return None
    return tariff if tariff is not None and tariff.site_id == site.id else None


def _context(site: Site, errors: dict | None = None, message: str | None = None, form=None) -> dict:
    """Everything the page and its sections show."""
    now = utcnow()
    tariffs = db.session.execute(
        select(Tariff).where(Tariff.site_id == site.id).options(selectinload(Tariff.versions)).order_by(Tariff.code)
    ).scalars().all()
    # a meter whose own tariff is the default (as an import sets it) is billed like any other: no override
    overrides = db.session.execute(
        select(Meter).where(Meter.site_id == site.id, Meter.tariff_id.is_not(None),
                            Meter.tariff_id.is_distinct_from(site.default_tariff_id)).order_by(Meter.code)
    ).scalars().all()
    return dict(
        site=site, tariffs=tariffs, by_id={t.id: t for t in tariffs}, overrides=overrides,
        states={t.id: version_state(t, now) for t in tariffs}, e4=format_price, periods=PERIODS,
        max_periods=MAX_PERIODS, max_tiers=MAX_TIERS, tz=business_tz(), errors=errors or {}, message=message,
        form=form if form is not None else {}, always=from_the_beginning)


def _answer(site: Site, section: str, key: str, message: str | None = None, error: str | None = None):
    """The section's partial with the error or message for htmx, else back to the page with a flash message."""
    return answer_form(
        f"staff/tariffs/_{section}.html", url_for("staff.site_tariffs", site_id=site.id, _anchor=section),
        lambda: _context(site, errors={key: error} if error else {}, message=message,
                         form=request.form if error else None),
        error=error, message=message)


@bp.get("/tariffs")
@require_area("tariffs")
def tariffs_index():
    """The sites whose tariffs the manager may edit; with one site, straight to it."""
    query = scoped(select(Site), Site.id).order_by(Site.code)
    sites = db.session.execute(query).scalars().all()
    if len(sites) == 1:
        return redirect(url_for("staff.site_tariffs", site_id=sites[0].id))
    return render_template("staff/tariffs/index.html", sites=sites)


@bp.get("/sites/<int:site_id>/tariffs")
@require_area("tariffs")
def site_tariffs(site_id: int):
    """The whole tariffs page of one site (or one section of it for htmx: ?section=...)."""
    site = scoped_or_404(Site, site_id)
    section = request.args.get("section")
    partial = f"staff/tariffs/_{section}.html" if section in SECTIONS else "staff/tariffs/_tariffs.html"
    return render("staff/tariffs/page.html", partial, **_context(site))


@bp.post("/sites/<int:site_id>/tariffs")
@require_area("tariffs")
def new_tariff(site_id: int):
    """Create a tariff of the site (its prices come with its first version)."""
    site, form = scoped_or_404(Site, site_id), request.form
    try:
        tariff = create_tariff(db.session, site, form.get("code", ""), form.get("name", ""), form.get("kind", ""),
                               current_user.actor)
    except TariffAdminError as exc:
        db.session.rollback()
        return _answer(site, "tariffs", "create", error=str(exc))
    db.session.commit()
    return _answer(site, "tariffs", "create", message=_("Tariff %(code)s created: now add its prices.",
                                                        code=tariff.code))


@bp.post("/sites/<int:site_id>/tariffs/versions")
@require_area("tariffs")
def new_tariff_version(site_id: int):
    """Add prices to a tariff from a moment now or later (flat, time-of-use or tiered by the tariff's kind)."""
    site, form = scoped_or_404(Site, site_id), request.form
    tariff = _tariff(site, form.get("tariff"))
    if tariff is None:
        return _answer(site, "tariffs", "version", error=_("Choose a tariff."))
    try:
        values = _version_values(tariff.kind, form)
        effective = local_to_utc(form.get("effective"), business_tz())
        if tariff.id == site.default_tariff_id and form.get("confirm") != "1":
            # the site's default prices every meter without a tariff of its own: say how many, and ask
            count = db.session.scalar(select(func.count()).select_from(Meter).where(
                Meter.site_id == site.id, or_(Meter.tariff_id.is_(None), Meter.tariff_id == tariff.id)))
            raise TariffAdminError(_("%(code)s is the site's default tariff: these prices apply to %(count)s meters. "
                                     "Tick the confirmation to save them.", code=tariff.code, count=count))
        add_version(db.session, tariff, effective, actor=current_user.actor, **values)
    except TariffAdminError as exc:
        db.session.rollback()
        return _answer(site, "tariffs", "version", error=str(exc))
    db.session.commit()
    return _answer(site, "tariffs", "version", message=_("New prices saved for %(code)s.", code=tariff.code))


def _version_values(kind: TariffKind, form) -> dict:
    """The add_version arguments of the form's fields for this kind of tariff."""
    if kind == TariffKind.FLAT:
        return dict(unit_price_e4=yuan_to_e4(form.get("price")))
    if kind == TariffKind.TOU:
        rows = []
        for i in range(MAX_PERIODS):
            start, end, period = (form.get(f"start{i}", "").strip(), form.get(f"end{i}", "").strip(),
                                  form.get(f"period{i}", "").strip())
            if not (start or end):
                continue
            if not (start and end and period):
                raise TariffAdminError(_("Each period row needs a start, an end and a period."))
            rows.append((start, end, period))
        prices = {p: yuan_to_e4(form.get(f"price_{p}")) for p in PERIODS if (form.get(f"price_{p}") or "").strip()}
        return dict(periods=rows, period_prices_e4=prices)
    tiers = []
    for i in range(MAX_TIERS):
        upto, price = (form.get(f"upto{i}") or "").strip(), (form.get(f"tier_price{i}") or "").strip()
        if not (upto or price):
            continue
        if not price:
            raise TariffAdminError(_("Each tier needs a price."))
        medium = form.get("tier_medium") or "electric"
        tiers.append((limit_to_units(upto, medium) if upto else None, yuan_to_e4(price)))
    return dict(tiers=tiers, medium=form.get("tier_medium") or "electric")


@bp.post("/sites/<int:site_id>/tariffs/meters")
@require_area("tariffs")
def assign_tariff(site_id: int):
    """Bill one meter by another tariff of the site than the default (blank tariff: the default again)."""
    site, form = scoped_or_404(Site, site_id), request.form
    code = (form.get("meter") or "").strip()
    meter = db.session.execute(select(Meter).where(Meter.site_id == site.id, Meter.code == code)).scalar_one_or_none()
    if meter is None:
        return _answer(site, "overrides", "override", error=_("No meter %(code)s at this site.", code=code))
    tariff = None
    if form.get("tariff"):
        tariff = _tariff(site, form.get("tariff"))
        if tariff is None:
            return _answer(site, "overrides", "override", error=_("Choose a tariff."))
    try:
        changed = assign_meter_tariff(db.session, meter, tariff, current_user.actor)
    except TariffAdminError as exc:
        db.session.rollback()
        return _answer(site, "overrides", "override", error=str(exc))
    db.session.commit()
    if not changed:
        message = _("Nothing changed.")
    elif tariff is None:
        message = _("%(meter)s is billed by the site's default tariff again.", meter=meter.code)
    else:
        message = _("%(meter)s is billed by %(tariff)s from now on.", meter=meter.code, tariff=tariff.code)
    return _answer(site, "overrides", "override", message=message)


@bp.post("/sites/<int:site_id>/tariffs/default")
@require_area("tariffs")
def default_tariff(site_id: int):
    """Make a tariff the site's default: meters without their own tariff are billed by it from now on."""
    site = scoped_or_404(Site, site_id)
    tariff = _tariff(site, request.form.get("tariff"))
    if tariff is None:
        return _answer(site, "tariffs", "version", error=_("Choose a tariff."))
    try:
        set_site_default(db.session, site, tariff, current_user.actor)
    except TariffAdminError as exc:
        db.session.rollback()
        return _answer(site, "tariffs", "version", error=str(exc))
    db.session.commit()
    return _answer(site, "tariffs", "version",
                   message=_("%(tariff)s is the site's default tariff.", tariff=tariff.code))
