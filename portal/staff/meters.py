"""Staff pages: the meter list with online and relay state."""
from __future__ import annotations

from flask import abort, g, render_template, request
from flask_login import current_user
from sqlalchemy import func, or_, select
from sqlalchemy.orm import joinedload

from portal.control.commands import ACTIONS, CommandRefused, command_meter, may_command
from portal.extensions import db
from portal.models import Account, Gateway, Meter, Site
from portal.staff.blueprint import bp
from portal.web.access import scope_to_sites
from portal.web.templating import render_page_or_partial

PAGE_SIZE = 50


@bp.get("/")
def index():
    """The meter list, filterable by text, paginated with htmx."""
    q = (request.args.get("q") or "").strip()[:40]
    page = max(request.args.get("page", 1, type=int), 1)
    query = scope_to_sites(select(Meter), Meter.site_id, current_user)
    if q:
        like = f"%{q}%"
        query = query.outerjoin(Account, Meter.account_id == Account.id).where(
            or_(Meter.code.ilike(like), Meter.name.ilike(like), Account.code.ilike(like), Account.name.ilike(like))
        )
    total = db.session.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    meters = db.session.execute(
        query.options(joinedload(Meter.state), joinedload(Meter.account), joinedload(Meter.gateway))
        .order_by(Meter.site_id, Meter.code).limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)
    ).scalars().all()
    gateways = db.session.execute(
        scope_to_sites(select(Gateway), Gateway.site_id, current_user).order_by(Gateway.code)
    ).scalars().all()
    sites = db.session.execute(scope_to_sites(select(Site), Site.id, current_user)).scalars().all()
    pages = max((total + PAGE_SIZE - 1) // PAGE_SIZE, 1)
    return render_page_or_partial(
        "staff/index.html", "staff/_meter_table.html",
        meters=meters, gateways=gateways, sites=sites, q=q, page=page, pages=pages, total=total,
        site_ids=g.site_ids,
    )


@bp.post("/meters/<int:meter_id>/command")
def meter_command(meter_id: int):
    """Trip / close / keep-power from the meter list; answers with the updated row."""
    meter = db.session.get(Meter, meter_id)
    if meter is None or (g.site_ids is not None and meter.site_id not in g.site_ids):
        abort(404)
    action = request.form.get("action", "")
    if action not in ACTIONS:
        abort(400)
    if not may_command(current_user.role, action):
        abort(403)
    try:
        command_meter(db.session, meter, action, current_user.actor, request.form.get("reason", "")[:200])
    except CommandRefused as exc:
        abort(422, str(exc))
    db.session.commit()
    return render_template("staff/_meter_row.html", m=meter)
