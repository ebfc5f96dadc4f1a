"""The audit log page, /staff/audit: who did what to which row, when, from where, and what it was before and after.

Who sees which entries: admins every entry; managers those of their sites; auditors those of their sites and the
entries of no site (acts on the whole system, such as managing users: an auditor's job is to check exactly those,
and they hold no site's data). Entries are newest first, 50 a page, paged by a keyset cursor (`before`: the id of
the last entry shown) so that a page deep in a year of entries costs what the first one does; there is no count.

Filters (portal.staff.audit_filters): who (an actor as written, `staff:alice`, or a bare user name: their staff
and API acts), action, target (a shop or meter code, or `kind:id`), site, first and last day (business time), and
a free-text search over actor, action and detail (a shop's counter operations, whose target is the ledger entry,
are found by searching for its code; without who or a target, it covers a week at most: `_text_window`). A filter
that makes no sense answers 400 with the page and the reason; htmx gets the table with the reason in it, with 200,
since htmx 2 swaps no 4xx (portal.web.htmx).

The indexes these queries want on audit_log: (at), (site_id, at), (actor, at), (action, at), beside the existing
(target_type, target_id); bench/audit_page.py creates them until a migration does.
"""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, time, timedelta

from flask import request
from flask_babel import gettext as _
from sqlalchemy import Select, and_, cast, or_, select, tuple_
from sqlalchemy.types import Text

from portal.audit import change_keys, changes
from portal.extensions import db
from portal.models import Account, AuditEntry, LedgerEntry, Meter, PaymentOrder, Proposal, Role, Site
from portal.settings import business_tz
from portal.staff.audit_filters import AuditFilters, BadFilter, parse
from portal.staff.blueprint import bp
from portal.web.access import current_staff, require_area, staff_site_ids
from portal.web.actions import ACTIONS, TARGETS, action_label, target_label
from portal.web.htmx import refuse_query, render

PAGE_SIZE = 50
#: a detail value is cut to this many characters on the page (a payment's QR code is kilobytes)
SHOWN_CHARS = 80
#: the filter form's fields, as the query string names them
FORM_FIELDS = ("who", "action", "target", "site", "from", "to", "q")
#: the most days a free-text search alone may cover (_text_window)
TEXT_DAYS = 7


def _visible(query: Select) -> Select:
    """Only the entries this reader may see (the rule is in the module docstring)."""
    user = current_staff()
    ids = staff_site_ids(user)
    if ids is None:
        return query
    mine = AuditEntry.site_id.in_(ids)
    return query.where(or_(mine, AuditEntry.site_id.is_(None)) if user.role == Role.AUDITOR else mine)


def _sites() -> list[Site]:
    """The sites the reader may pick."""
    ids = staff_site_ids(current_staff())
    query = select(Site).order_by(Site.code)
    return list(db.session.scalars(query if ids is None else query.where(Site.id.in_(ids))))


def _target_clause(target: str, site_ids: set[int] | None):
    """The condition of a target filter: `kind:id`, a kind alone, or the code of a shop or meter of the reader's."""
    kind, colon, number = target.partition(":")
    if colon:
        return and_(AuditEntry.target_type == kind, AuditEntry.target_id == int(number))
    if target in TARGETS:
        return AuditEntry.target_type == target
    found = []
    for model, kind in ((Account, "account"), (Meter, "meter")):
        query = select(model.id).where(model.code == target)
        ids = list(db.session.scalars(query if site_ids is None else query.where(model.site_id.in_(site_ids))))
        if ids:
            found.append(and_(AuditEntry.target_type == kind, AuditEntry.target_id.in_(ids)))
    if not found:
        raise BadFilter(_("No shop or meter of yours has the code %(code)s.", code=target))
    return or_(*found)


def _business_midnight(day) -> datetime:
    return datetime.combine(day, time(), business_tz())


def _text_window(f: AuditFilters) -> AuditFilters:
    """A free-text search that neither who nor a target narrows looks at TEXT_DAYS at most.

    No index serves a search inside the detail, so such a search reads every entry of its days: a week of a
    10,030-meter site is about 25,000 entries, about the page's bar; a year is not (nor a year of one common action).
    Without a first day it is the last TEXT_DAYS days up to the last day (or today).
    """
    if not f.q or f.who or f.target:
        return f
    if f.day_from is None:
        last = f.day_to or datetime.now(business_tz()).date()
        return replace(f, day_from=last - timedelta(days=TEXT_DAYS - 1), day_to=last)
    if f.day_to is None or (f.day_to - f.day_from).days >= TEXT_DAYS:
        raise BadFilter(_("A text search without who or a target covers at most %(n)s days: narrow the days, "
                          "or give who or a target as well.", n=TEXT_DAYS))
    return f


def build_query(f: AuditFilters) -> Select:
    """The entries the filters ask for, newest first (BadFilter: a site, code or cursor that is not the reader's)."""
    query = _visible(select(AuditEntry))
    site_ids = staff_site_ids(current_staff())
    if f.who:
        # a bare user name: their acts on the staff pages and through the API
        whos = [f.who] if ":" in f.who else [f"staff:{f.who}", f"api:{f.who}"]
        query = query.where(AuditEntry.actor.in_(whos))
    if f.action:
        query = query.where(AuditEntry.action == f.action)
    if f.target:
        query = query.where(_target_clause(f.target, site_ids))
    if f.site:
        site = db.session.scalar(select(Site).where(Site.code == f.site))
        if site is None or (site_ids is not None and site.id not in site_ids):
            raise BadFilter(_("There is no site %(code)s among yours.", code=f.site))
        query = query.where(AuditEntry.site_id == site.id)
    f = _text_window(f)
    if f.day_from:
        query = query.where(AuditEntry.at >= _business_midnight(f.day_from))
    if f.day_to:
        query = query.where(AuditEntry.at < _business_midnight(f.day_to + timedelta(days=1)))
    if f.q:
        like = {"other": f.q, "autoescape": True}
        query = query.where(or_(AuditEntry.actor.icontains(**like), AuditEntry.action.icontains(**like),
                                cast(AuditEntry.detail, Text).icontains(**like)))
    if f.before is not None:
        at = db.session.scalar(select(AuditEntry.at).where(AuditEntry.id == f.before))
        if at is None:
            raise BadFilter(_("That page of the log does not exist: start again from the newest entries."))
        # `at <=` as well: an index on (..., at) can use it, which it cannot the pair alone
        query = query.where(AuditEntry.at <= at, tuple_(AuditEntry.at, AuditEntry.id) < tuple_(at, f.before))
    return query.order_by(AuditEntry.at.desc(), AuditEntry.id.desc())


def _targets(entries: list[AuditEntry]) -> dict[tuple[str, int], tuple[str, Account | Meter | Site]]:
    """(kind, id) -> (how to link it, the shop, meter or site) for the entries of one page: a few small queries."""
    wanted: dict[str, set[int]] = {}
    for e in entries:
        if e.target_id is not None:
            wanted.setdefault(e.target_type, set()).add(e.target_id)
    found: dict[tuple[str, int], tuple[str, Account | Meter | Site]] = {}

    def load(kind: str, model):
        return {row.id: row for row in db.session.scalars(select(model).where(model.id.in_(wanted.get(kind, ()))))}

    for row in load("meter", Meter).values():
        found["meter", row.id] = ("meter", row)
    for row in load("site", Site).values():
        found["site", row.id] = ("site", row)
    # shops, and what belongs to one shop: its ledger entries, payment orders, proposals
    owners: dict[tuple[str, int], int] = {("account", i): i for i in wanted.get("account", ())}
    for kind, model in (("ledger_entry", LedgerEntry), ("payment_order", PaymentOrder), ("proposal", Proposal)):
        if wanted.get(kind):
            owners |= {(kind, i): a for i, a in db.session.execute(
                select(model.id, model.account_id).where(model.id.in_(wanted[kind])))}
    shops = {a.id: a for a in db.session.scalars(select(Account).where(Account.id.in_(set(owners.values()))))}
    for key, account_id in owners.items():
        if account_id in shops:
            found[key] = ("account", shops[account_id])
    return found


def _shown(value) -> str:
    text = "—" if value is None else str(value)
    return text if len(text) <= SHOWN_CHARS else text[:SHOWN_CHARS - 1] + "…"


def _row(entry: AuditEntry, targets) -> dict:
    """What one table row shows of an entry."""
    detail = entry.detail or {}
    skip = change_keys(detail)
    return {
        "e": entry, "action": action_label(entry.action), "target_kind": target_label(entry.target_type),
        "target": targets.get((entry.target_type, entry.target_id)),
        "changes": [(name, _shown(before), _shown(after)) for name, before, after in changes(detail)],
        "detail": [(key, _shown(value)) for key, value in detail.items() if key not in skip],
    }


def _actions() -> list[tuple[str, str]]:
    return [(code, str(words)) for code, words in ACTIONS.items()]


@bp.get("/audit")
@require_area("audit")
def audit_log():
    """The audit log: the filter form and the table; htmx gets the table alone."""
    context = {"sites": _sites(), "actions": _actions(), "form": _form_values(), "error": None, "rows": [],
               "older": None, "f": AuditFilters(), "business_tz_name": str(business_tz()),
               "text_window": None}
    try:
        f = parse(request.args)
        context["f"] = f
        entries = list(db.session.scalars(build_query(f).limit(PAGE_SIZE + 1)))
    except BadFilter as exc:
        return _refused(str(exc), context)
    more = len(entries) > PAGE_SIZE
    entries = entries[:PAGE_SIZE]
    targets = _targets(entries)
    window = _text_window(f)
    context |= {"rows": [_row(e, targets) for e in entries], "older": entries[-1].id if more else None,
                "text_window": (window.day_from, window.day_to) if window != f else None}
    return render("staff/audit/page.html", "staff/audit/_table.html", **context)


def _form_values() -> dict[str, str]:
    """What the reader typed, to show in the form again (even when it makes no sense)."""
    return {name: (request.args.get(name) or "")[:100] for name in FORM_FIELDS}


def _refused(error: str, context: dict):
    """A filter that makes no sense: 400 and the page saying why; htmx the table saying why, with 200."""
    return refuse_query("staff/audit/page.html", "staff/audit/_table.html", **{**context, "error": error})
