"""Liveness for load balancers: the database and the queue must answer; the gateways are reported, not judged."""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify
from sqlalchemy import select, text

from portal.extensions import db
from portal.models import Alarm, AlarmKind, Gateway
from portal.queue.dispatch import redis_connection

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    """200 when the database and the queue answer, 503 otherwise.

    The JSON also lists the gateways whose last poll failed (`gateways.failing`: its job or its bus work
    broke, see worker/jobs/polling.py) and those not answering (`gateways.offline`), by code. They do not
    change the status: a load balancer must keep sending requests to a web process whose database and
    queue answer, whatever a gateway in the field is doing; the alarms page is where gateways are judged.
    """
    checks = {"database": "ok", "queue": "ok"}
    gateways = None
    try:
        db.session.execute(text("SELECT 1"))
        gateways = _gateways()
    except Exception as exc:  # any driver error means "not healthy"
        db.session.rollback()
        checks["database"] = f"error: {type(exc).__name__}"
    conn = redis_connection(current_app)
    if conn is None:
        checks["queue"] = "in-process"
    else:
        try:
            conn.ping()
        except Exception as exc:
            checks["queue"] = f"error: {type(exc).__name__}"
    healthy = all(v in ("ok", "in-process") for v in checks.values())
    body = dict(status="ok" if healthy else "unavailable", **checks)
    if gateways is not None:
        body["gateways"] = gateways
    return jsonify(body), 200 if healthy else 503


def _gateways() -> dict[str, list[str]]:
    """Codes of the gateways with an open poll-failure alarm, and of those offline (one query)."""
    rows = db.session.execute(
        select(Gateway.code, Alarm.subject).join(Gateway, Gateway.id == Alarm.gateway_id)
        .where(Alarm.kind == AlarmKind.GATEWAY_OFFLINE, Alarm.cleared_at.is_(None)).order_by(Gateway.code)).all()
    return {"failing": sorted({code for code, subject in rows if subject.endswith(":poll")}),
            "offline": sorted({code for code, subject in rows if not subject.endswith(":poll")})}
