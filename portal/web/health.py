"""Liveness for load balancers: the database and the queue must answer."""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify
from sqlalchemy import text

from portal.extensions import db
from portal.queue.dispatch import redis_connection

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    """200 when the database and the queue answer, 503 otherwise."""
    checks = {"database": "ok", "queue": "ok"}
    try:
        db.session.execute(text("SELECT 1"))
    except Exception as exc:  # any driver error means "not healthy"
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
    return jsonify(status="ok" if healthy else "unavailable", **checks), 200 if healthy else 503
