"""Staff pages: the meter list with online and relay state, and the meter commands of its rows."""
from __future__ import annotations

from flask import abort, request
from flask_login import current_user
from sqlalchemy import func, or_, select
from sqlalchemy.orm import joinedload

from portal.control.commands import ACTIONS, CommandRefused, command_meter
from portal.extensions import db
from portal.models import Account, Gateway, Meter
from portal.models.meter import SWITCHABLE_PROFILES
from portal.staff.blueprint import bp
from portal.web.access import require_area, scoped, scoped_or_404
from portal.web.htmx import fragment, render
from portal.web.params import id_arg, page_arg
from portal.web.roles import commands_for, may_command

PAGE_SIZE = 50


def _row_context(**extra) -> dict:
    """What a meter row shows besides the meter: which meters switch, which commands this user may send."""
    return {"switchable": SWITCHABLE_PROFILES, "commands": commands_for(current_user.role), "row_error": None, **extra}


@bp.get("/meters")
@require_area("meters")
def meters():
    """The meter list, filterable by text and by gateway, paginated with htmx."""
    q = (request.args.get("q") or "").strip()[:40]
    gateway = id_arg("gateway")
    page = page_arg()
    query = scoped(select(Meter), Meter.site_id)
    if gateway is not None:
        query = query.where(Meter.gateway_id == gateway)
    if q:
        like = f"%{q}%"
        query = query.outerjoin(Account, Meter.account_id == Account.id).where(
            or_(Meter.code.ilike(like), Meter.name.ilike(like), Account.code.ilike(like), Account.name.ilike(like))
        )
    total = db.session.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    found = db.session.execute(
        query.options(joinedload(Meter.state), joinedload(Meter.account), joinedload(Meter.gateway))
        .order_by(Meter.site_id, Meter.code).limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)
    ).scalars().all()
    gateways = db.session.execute(scoped(select(Gateway), Gateway.site_id).order_by(Gateway.code)).scalars().all()
    pages = max((total + PAGE_SIZE - 1) // PAGE_SIZE, 1)
    return render(
        "staff/meters.html", "staff/_meter_table.html",
        meters=found, gateways=gateways, q=q, gateway=gateway, page=page, pages=pages, total=total, **_row_context(),
    )


@bp.post("/meters/<int:meter_id>/command")
def meter_command(meter_id: int):
    """Trip / close / keep-power from the meter list; answers with the updated row (a refusal: in the row)."""
    meter = scoped_or_404(Meter, meter_id)
    action = request.form.get("action", "")
    if action not in ACTIONS:
        abort(400)
    if not may_command(current_user.role, action):
        abort(403)
    try:
        command_meter(db.session, meter, action, current_user.actor, request.form.get("reason", "")[:200])
    except CommandRefused as exc:
        db.session.rollback()
        return fragment("staff/_meter_row.html", refused=True, **_row_context(m=meter, row_error=str(exc)))
    db.session.commit()
    return fragment("staff/_meter_row.html", **_row_context(m=meter))
