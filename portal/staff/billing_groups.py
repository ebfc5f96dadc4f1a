"""The allocation group page under /staff/billing/: its settings, member shops and shares, common meters, a
preview of its split, and its past runs; and new groups from the billing page.

Managers change, auditors read, each of their own sites (a group or meter of another site is a 404). The rules
are portal.monthly.groups'; the preview is portal.monthly.allocation.price_and_split, the code a run uses.
Every form answers htmx with the group's setup section (#group-setup), a refused one with its error in it.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime

from flask import flash, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import or_, select

from portal.extensions import db
from portal.models import (
    Account,
    AccountStatus,
    AllocationGroup,
    AllocationLine,
    AllocationMember,
    AllocationMethod,
    AllocationRun,
    Meter,
    Site,
    Tariff,
    TariffKind,
    allocation_sources,
    utcnow,
)
from portal.monthly.allocation import Skip, member_weights, price_and_split
from portal.monthly.groups import (
    MAX_SHARE,
    GroupError,
    add_member,
    add_source,
    change_group,
    create_group,
    delete_group,
    remove_member,
    remove_source,
    runs_of,
    set_share,
    sources_of,
)
from portal.monthly.periods import month_bounds, month_of, previous_month
from portal.settings import business_tz
from portal.staff.blueprint import bp
from portal.web.access import require_area, scoped_or_404
from portal.web.htmx import answer_form, go_to, is_htmx, render
from portal.web.params import BadParameter, month_arg, parse_id
from portal.web.roles import may_change

#: shops a search shows at most, and common meters offered at most
SEARCH_LIMIT, METERS_OFFERED = 20, 500
_SHARE = re.compile(r"[0-9]{1,7}")


def flat_tariffs(site: Site) -> list[Tariff]:
    """The site's flat tariffs, which a group may use instead of the site's default."""
    return list(db.session.execute(select(Tariff).where(Tariff.site_id == site.id, Tariff.kind == TariffKind.FLAT)
                                   .order_by(Tariff.code)).scalars())


def _kind(sources: list[Meter]) -> str:
    return sources[0].kind.value if sources else "electric"


def _preview(group: AllocationGroup, period: str, start: datetime, end: datetime, so_far: bool) -> dict:
    """One period's split as a run would post it now (or the run, when it already ran)."""
    shown = dict(period=period, so_far=so_far, split=None, skip=None, lines=[], run=None)
    shown["run"] = db.session.execute(select(AllocationRun).where(AllocationRun.group_id == group.id,
                                                                  AllocationRun.period == period)).scalar_one_or_none()
    if shown["run"] is not None:
        return shown
    try:
        split = price_and_split(db.session, group, start, end)
    except Skip as why:
        shown["skip"] = why.code
        return shown
    names = dict(db.session.execute(select(Account.id, Account.code).where(Account.id.in_(list(split.weights))))
                 .tuples().all())
    shown["split"] = split
    shown["lines"] = sorted((names[a], split.weights[a], split.parts[a]) for a in split.weights)
    return shown


def setup(group: AllocationGroup, *, error: str | None = None, message: str | None = None,
          form: dict | None = None) -> dict:
    """What the group's setup section shows: settings, members with their weights, common meters, the preview."""
    site = db.session.get(Site, group.site_id)
    sources = sources_of(db.session, group)
    kind, tz, now = _kind(sources), business_tz(), utcnow()
    this_month = month_of(now, tz)
    start, _end = month_bounds(this_month, tz)
    last_start, last_end = month_bounds(previous_month(this_month), tz)
    weights = member_weights(db.session, group, kind, start, now)
    members = db.session.execute(
        select(AllocationMember, Account).join(Account, Account.id == AllocationMember.account_id)
        .where(AllocationMember.group_id == group.id).order_by(Account.code)).all()
    in_groups = select(allocation_sources.c.meter_id)
    offered = select(Meter).where(Meter.site_id == site.id, Meter.account_id.is_(None), Meter.id.not_in(in_groups))
    if sources:
        offered = offered.where(Meter.kind == sources[0].kind)
    return dict(
        group=group, site=site, tariffs=flat_tariffs(site), methods=list(AllocationMethod), kind=kind,
        members=[dict(member=m, account=a, weight=weights.get(a.id), active=a.status == AccountStatus.ACTIVE)
                 for m, a in members],
        sources=sources,
        offered=db.session.execute(offered.order_by(Meter.code).limit(METERS_OFFERED)).scalars().all(),
        previews=[_preview(group, previous_month(this_month), last_start, last_end, False),
                  _preview(group, this_month, start, now, True)],
        runs=runs_of(db.session, group), can_change=may_change(current_user.role), max_share=MAX_SHARE,
        error=error, message=message, form=form)


def _answer(group: AllocationGroup, *, error: str | None = None, message: str | None = None, form=None):
    return answer_form("staff/monthly/_group_setup.html", url_for("staff.billing_group", group_id=group.id),
                       lambda: setup(group, error=error, message=message, form=form), error=error,
                       message=message, redirect_code=303)


def _change(group: AllocationGroup, verb: Callable[..., object], row, message: str):
    """Run a group's verb on a shop or a meter as this user; its refusal (rolled back) or `message` in the
    group's card."""
    try:
        verb(db.session, group, row, current_user.actor)
    except GroupError as exc:
        db.session.rollback()
        return _answer(group, error=str(exc))
    db.session.commit()
    return _answer(group, message=message)


@bp.post("/billing/sites/<int:site_id>/groups")
@require_area("monthly")
def billing_new_group(site_id: int):
    """Create a group; on to its page to add shops and common meters."""
    site = scoped_or_404(Site, site_id)
    form = request.form
    try:
        group = create_group(db.session, site, current_user.actor, code=form.get("code", ""),
                             name=form.get("name", ""), method=form.get("method", ""),
                             tariff_id=_tariff_id(form.get("tariff", "")))
    except GroupError as exc:
        db.session.rollback()
        error = str(exc)
        return answer_form("staff/monthly/_new_group.html", url_for("staff.billing", site=site.id),
                           lambda: dict(site=site, tariffs=flat_tariffs(site), methods=list(AllocationMethod),
                                        error=error, form=form, can_change=True), error=error, redirect_code=303)
    db.session.commit()
    flash(_("Group %(code)s created: now add its shops and common meters.", code=group.code), "info")
    return go_to(url_for("staff.billing_group", group_id=group.id))


def _tariff_id(text: str) -> int | None:
    """The tariff chosen ("" = the site's default); an id that is no tariff of the site is refused by the verb."""
    if text == "":
        return None
    try:
        return parse_id("tariff", text)  # an id beyond the column's range would be a database error
    except BadParameter:
        raise GroupError(_("Choose a flat tariff of this site, or the site's default tariff.")) from None


@bp.get("/billing/groups/<int:group_id>")
@require_area("monthly")
def billing_group(group_id: int):
    """A group's setup and preview, and its run for a period (?period=, default the latest)."""
    group = scoped_or_404(AllocationGroup, group_id)
    query = select(AllocationRun).where(AllocationRun.group_id == group.id)
    period = month_arg("period")
    if period:
        query = query.where(AllocationRun.period == period)
    run = db.session.execute(query.order_by(AllocationRun.period.desc()).limit(1)).scalar_one_or_none()
    periods = db.session.execute(select(AllocationRun.period).where(AllocationRun.group_id == group.id)
                                 .order_by(AllocationRun.period.desc())).scalars().all()
    lines = []
    if run is not None:
        lines = db.session.execute(
            select(AllocationLine, Account.code, Account.name).join(Account, Account.id == AllocationLine.account_id)
            .where(AllocationLine.run_id == run.id).order_by(Account.code)).all()
    return render("staff/monthly/group.html", "staff/monthly/_group_setup.html", run=run, lines=lines,
                  periods=periods, **setup(group))


@bp.post("/billing/groups/<int:group_id>")
@require_area("monthly")
def billing_group_settings(group_id: int):
    """Rename the group, or change how it splits or its tariff."""
    group = scoped_or_404(AllocationGroup, group_id)
    form = request.form
    try:
        changed = change_group(db.session, group, current_user.actor, code=form.get("code", ""),
                               name=form.get("name", ""), method=form.get("method", ""),
                               tariff_id=_tariff_id(form.get("tariff", "")))
    except GroupError as exc:
        db.session.rollback()
        return _answer(group, error=str(exc), form=form)
    db.session.commit()
    return _answer(group, message=_("Saved.") if changed else _("Nothing changed."))


@bp.post("/billing/groups/<int:group_id>/delete")
@require_area("monthly")
def billing_group_delete(group_id: int):
    """Delete a group that never ran (one that ran is kept: its runs explain posted charges)."""
    group = scoped_or_404(AllocationGroup, group_id)
    site_id, code = group.site_id, group.code
    try:
        delete_group(db.session, group, current_user.actor)
    except GroupError as exc:
        db.session.rollback()
        return _answer(group, error=str(exc))
    db.session.commit()
    flash(_("Group %(code)s deleted.", code=code), "info")
    return go_to(url_for("staff.billing", site=site_id))


@bp.get("/billing/groups/<int:group_id>/shops")
@require_area("monthly", to_change=True)
def billing_group_shops(group_id: int):
    """Active shops of the group's site, not members yet, whose code or name contains ?account= (at most 20): the
    group page's search as you type (htmx), or a page of its own to search and add from without it."""
    group = scoped_or_404(AllocationGroup, group_id)
    text = request.args.get("account", "").strip()[:60]
    shops = []
    if text:
        pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        like = or_(Account.code.ilike(pattern, escape="\\"), Account.name.ilike(pattern, escape="\\"))
        members = select(AllocationMember.account_id).where(AllocationMember.group_id == group.id)
        shops = db.session.execute(
            select(Account).where(Account.site_id == group.site_id, Account.status == AccountStatus.ACTIVE,
                                  Account.id.not_in(members), like)
            .order_by(Account.code).limit(SEARCH_LIMIT)).scalars().all()
    return render("staff/monthly/shops.html", "staff/monthly/_shop_results.html", group=group, shops=shops,
                  text=text, can_change=may_change(current_user.role), standalone=not is_htmx())


@bp.post("/billing/groups/<int:group_id>/members")
@require_area("monthly")
def billing_group_add_member(group_id: int):
    """Add a shop of the group's site by its account code."""
    group = scoped_or_404(AllocationGroup, group_id)
    code = request.form.get("account", "").strip()
    account = db.session.execute(select(Account).where(Account.site_id == group.site_id, Account.code == code)
                                 ).scalar_one_or_none()
    if account is None:
        return _answer(group, error=_("No shop %(code)s at this site: search by code or name and pick one.",
                                      code=code[:32]))
    return _change(group, add_member, account, _("%(code)s added.", code=account.code))


@bp.post("/billing/groups/<int:group_id>/members/<int:account_id>/share")
@require_area("monthly")
def billing_group_share(group_id: int, account_id: int):
    """Set a member's fixed share: a whole number from 0."""
    group = scoped_or_404(AllocationGroup, group_id)
    account = scoped_or_404(Account, account_id)
    text = request.form.get("share", "").strip()
    try:
        if not _SHARE.fullmatch(text):
            raise GroupError(_("A fixed share is a whole number from 0 to %(max)s.", max=MAX_SHARE))
        changed = set_share(db.session, group, account, int(text), current_user.actor)
    except GroupError as exc:
        db.session.rollback()
        return _answer(group, error=f"{account.code}: {exc}")
    db.session.commit()
    return _answer(group, message=_("%(code)s: share %(share)s.", code=account.code, share=text) if changed
                   else _("Nothing changed."))


@bp.post("/billing/groups/<int:group_id>/members/<int:account_id>/delete")
@require_area("monthly")
def billing_group_remove_member(group_id: int, account_id: int):
    """Take a shop out of the group."""
    group = scoped_or_404(AllocationGroup, group_id)
    account = scoped_or_404(Account, account_id)
    return _change(group, remove_member, account, _("%(code)s removed.", code=account.code))


@bp.post("/billing/groups/<int:group_id>/sources")
@require_area("monthly")
def billing_group_add_source(group_id: int):
    """Share a common meter of the site (one without a shop, in no other group) in this group."""
    group = scoped_or_404(AllocationGroup, group_id)
    try:
        meter_id = parse_id("meter", request.form.get("meter", ""))
    except BadParameter:
        return _answer(group, error=_("Choose a common meter of the list."))
    meter = scoped_or_404(Meter, meter_id)
    return _change(group, add_source, meter, _("%(code)s added.", code=meter.code))


@bp.post("/billing/groups/<int:group_id>/sources/<int:meter_id>/delete")
@require_area("monthly")
def billing_group_remove_source(group_id: int, meter_id: int):
    """Stop sharing a common meter in this group."""
    group = scoped_or_404(AllocationGroup, group_id)
    meter = scoped_or_404(Meter, meter_id)
    return _change(group, remove_source, meter, _("%(code)s removed.", code=meter.code))

