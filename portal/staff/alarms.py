"""/staff/alarms: open and past alarms of the user's sites, filtered, newest first; acknowledged with a note.

Filters: state (open, past, all), kind, gateway code, shop (account) code, meter code and age (raised within
the last hours or days); the URL keeps them (htmx pushes it), so a filtered list can be sent to a colleague.
What an alarm says is rendered from its data in the reader's language (portal.web.alarm_text).
"""
from __future__ import annotations

from datetime import timedelta

from flask import request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import func, select
from sqlalchemy.orm import joinedload

from portal.alarms import AlreadyAcknowledged, acknowledge
from portal.audit import audit
from portal.extensions import db
from portal.models import Account, Alarm, AlarmKind, Gateway, Meter, utcnow
from portal.staff.blueprint import bp
from portal.web.access import require_area, scoped, scoped_or_404
from portal.web.alarm_text import KINDS, alarm_text, kind_label
from portal.web.htmx import fragment, render
from portal.web.params import one_of, page_arg, query_arg, short_text
from portal.web.roles import may_change

PAGE_SIZE = 50
STATES = {"open": _l("Open"), "past": _l("Past"), "all": _l("All")}
#: how far back the age filter looks
AGES = {"1h": (timedelta(hours=1), _l("the last hour")), "24h": (timedelta(days=1), _l("the last 24 hours")),
        "7d": (timedelta(days=7), _l("the last 7 days")), "30d": (timedelta(days=30), _l("the last 30 days")),
        "365d": (timedelta(days=365), _l("the last year"))}

#: the longest gateway, shop or meter code a filter takes
CODE_MAX = 40


def _filters() -> dict:
    kinds = [k.value for k in AlarmKind]
    return {"state": query_arg("state", one_of(STATES), "open"), "kind": query_arg("kind", one_of(kinds), ""),
            "age": query_arg("age", one_of(AGES), ""),
            **{name: query_arg(name, short_text(CODE_MAX), "") for name in ("gateway", "shop", "meter")}}


def _query(f: dict):
    query = scoped(select(Alarm), Alarm.site_id)
    if f["state"] == "open":
        query = query.where(Alarm.cleared_at.is_(None))
    elif f["state"] == "past":
        query = query.where(Alarm.cleared_at.is_not(None))
    if f["kind"]:
        query = query.where(Alarm.kind == AlarmKind(f["kind"]))
    if f["age"]:
        query = query.where(Alarm.raised_at >= utcnow() - AGES[f["age"]][0])
    if f["gateway"]:
        gateway_ids = select(Gateway.id).where(Gateway.code == f["gateway"])
        meters_of = select(Meter.id).where(Meter.gateway_id.in_(gateway_ids))
        query = query.where(Alarm.gateway_id.in_(gateway_ids) | Alarm.meter_id.in_(meters_of))
    if f["shop"]:
        query = query.where(Alarm.account_id.in_(select(Account.id).where(Account.code == f["shop"])))
    if f["meter"]:
        query = query.where(Alarm.meter_id.in_(select(Meter.id).where(Meter.code == f["meter"])))
    return query


def _row_context() -> dict:
    return {"alarm_text": alarm_text, "kind_label": kind_label, "may_ack": may_change(current_user.role)}


@bp.get("/alarms")
@require_area("alarms")
def alarms():
    """The alarms of the user's sites that match the filters, newest first, a page at a time."""
    f, page = _filters(), page_arg()
    query = _query(f)
    total = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    rows = db.session.scalars(query.options(joinedload(Alarm.meter), joinedload(Alarm.account),
                                            joinedload(Alarm.gateway))
                              .order_by(Alarm.raised_at.desc(), Alarm.id.desc())
                              .limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)).all()
    pages = max((total + PAGE_SIZE - 1) // PAGE_SIZE, 1)
    return render("staff/alarms/page.html", "staff/alarms/_table.html", alarms=rows, total=total, page=page,
                  pages=pages, filters=f, states=STATES, ages=AGES, kinds=KINDS, **_row_context())


@bp.post("/alarms/<int:alarm_id>/acknowledge")
@require_area("alarms")
def alarm_acknowledge(alarm_id: int):
    """Acknowledge an alarm with a note: the row answers with who, when and the note (htmx), or the list."""
    alarm = scoped_or_404(Alarm, alarm_id)
    note = request.form.get("note", "")
    error = None
    if len(note) > 200:
        error = _("The note is at most 200 characters.")
    else:
        try:
            acknowledge(alarm, current_user.actor, note)
        except AlreadyAcknowledged as already:
            error = _("Already acknowledged by %(who)s.", who=str(already).split(":", 1)[-1])
        else:
            audit(db.session, current_user.actor, "alarm.acknowledged", "alarm", alarm.id, alarm.site_id,
                  kind=alarm.kind.value, note=alarm.ack_note)
            db.session.commit()
    return fragment("staff/alarms/_row.html", refused=error is not None, a=alarm, row_error=error, **_row_context())
