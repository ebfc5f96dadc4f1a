"""GET /api/v1/alarms?state=open|all&kind=KIND: the alarms of the caller's sites (SPEC §4), newest first.

The roles of the staff alarm page (portal.web.roles "alarms") and its site scope: admins every site, others their
own, narrowed to one with `site=CODE`. What an alarm is about is named by codes (site, shop, meter, gateway: the
alarm's own references, null when it has none); `message` is the stored English sentence, since the API speaks no
reader's language; instants are ISO 8601 UTC.
"""
from __future__ import annotations

from flask import g, jsonify, request
from sqlalchemy import select

from portal.api.blueprint import ApiError, bp
from portal.api.notifications import limit_arg, when_utc
from portal.extensions import db
from portal.models import Account, Alarm, AlarmKind, Gateway, Meter, Site
from portal.web.access import scoped
from portal.web.roles import may_open

#: `state`: open = not cleared yet; all = open and cleared
STATES = ("open", "all")
#: `kind`: every alarm kind (SPEC §4 lists them)
KINDS = tuple(k.value for k in AlarmKind)


def _choice(name: str, choices: tuple[str, ...], default: str | None) -> str | None:
    """A query parameter that is one of `choices`; `default` when it is not given, 400 when it is anything else."""
    if name not in request.args:
        return default
    value = request.args[name]
    if value not in choices:
        raise ApiError(400, "invalid_request", f"{name} must be one of {', '.join(choices)}")
    return value


def _site_id() -> int | None:
    """The site `site=CODE` names, one of the caller's; None when not given."""
    if "site" not in request.args:
        return None
    code = request.args["site"]
    found = db.session.scalar(scoped(select(Site.id).where(Site.code == code), Site.id))
    if found is None:
        raise ApiError(404, "not_found", f"no site {code!r} in your sites")
    return found


def _query(state: str, kind: str | None, site_id: int | None, limit: int):
    query = scoped(
        select(Alarm.id, Alarm.kind, Alarm.subject, Site.code.label("site"), Account.code.label("account"),
               Meter.code.label("meter"), Gateway.code.label("gateway"), Alarm.message, Alarm.raised_at,
               Alarm.cleared_at, Alarm.acknowledged_by)
        .join(Site, Site.id == Alarm.site_id)
        .outerjoin(Account, Account.id == Alarm.account_id)
        .outerjoin(Meter, Meter.id == Alarm.meter_id)
        .outerjoin(Gateway, Gateway.id == Alarm.gateway_id),
        Alarm.site_id)
    if state == "open":
        query = query.where(Alarm.cleared_at.is_(None))
    if kind:
        query = query.where(Alarm.kind == AlarmKind(kind))
    if site_id is not None:
        query = query.where(Alarm.site_id == site_id)
    return query.order_by(Alarm.raised_at.desc(), Alarm.id.desc()).limit(limit)


def alarm_json(row) -> dict:
    """The API shape of one alarm (a row of `_query`)."""
    return {"id": row.id, "kind": row.kind.value, "subject": row.subject, "site": row.site,
            "account": row.account, "meter": row.meter, "gateway": row.gateway, "message": row.message,
            "raised_at": when_utc(row.raised_at), "cleared_at": when_utc(row.cleared_at),
            "acknowledged_by": row.acknowledged_by}


@bp.get("/alarms")
def get_alarms():
    """The newest alarms of the caller's sites that match the filters (`limit` of them, at most MAX_LIMIT)."""
    role = g.api_user.role
    if not may_open(role, "alarms"):
        raise ApiError(403, "forbidden", f"role {role.value} may not read the alarms")
    state = _choice("state", STATES, "open")
    kind = _choice("kind", KINDS, None)
    limit = limit_arg()
    rows = db.session.execute(_query(state, kind, _site_id(), limit)).all()
    return jsonify(alarms=[alarm_json(r) for r in rows])
