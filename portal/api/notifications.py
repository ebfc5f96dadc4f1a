"""GET /api/v1/notifications?account=CODE: the delivery log of a shop (SPEC §4), newest first.

Every message about the shop: to its tenants, and to the site's staff recipients for the alarms about it. The
same roles as the staff log (portal.web.roles "notifications": no cashier) and the same addresses: whole for
those who keep the recipients, else masked (139****0001); a sign-in code is never in it (they concern a phone,
not a shop).
"""
from __future__ import annotations

from datetime import datetime

from flask import g, jsonify, request

from portal.api.blueprint import ApiError, bp
from portal.api.resources import find_in_scope
from portal.extensions import db
from portal.models import Account, Delivery
from portal.notify.deliveries import masked, newest, shop_scopes
from portal.web.roles import may_open

#: rows when `limit` is not given, and the most one call returns (the alarms' list takes the same)
DEFAULT_LIMIT, MAX_LIMIT = 50, 500


def when_utc(value: datetime | None) -> str | None:
    """An instant as ISO 8601 UTC (2026-03-01T04:05:06Z), None as None."""
    return value.isoformat().replace("+00:00", "Z") if value else None


def delivery_json(delivery: Delivery, whole: bool) -> dict:
    """The API shape of one delivery."""
    return {"event": delivery.event, "channel": delivery.channel,
            "recipient": delivery.recipient if whole else masked(delivery.recipient),
            "status": delivery.status.value, "attempts": delivery.attempts,
            "created_at": when_utc(delivery.created_at), "sent_at": when_utc(delivery.sent_at)}


def limit_arg() -> int:
    """`limit`: how many rows a list answers, DEFAULT_LIMIT when not given; 400 unless a whole number 1..MAX_LIMIT."""
    text = request.args.get("limit")
    if text is None:
        return DEFAULT_LIMIT
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= MAX_LIMIT:
        raise ApiError(400, "invalid_request", f"limit must be a whole number from 1 to {MAX_LIMIT}")
    return int(text)


@bp.get("/notifications")
def get_notifications():
    """The newest deliveries about one shop of the caller's sites (`limit` of them, at most MAX_LIMIT)."""
    role = g.api_user.role
    if not may_open(role, "notifications"):
        raise ApiError(403, "forbidden", f"role {role.value} may not read the delivery log")
    code = request.args.get("account", "")
    if not code:
        raise ApiError(400, "invalid_request", "give the shop's code: ?account=CODE")
    limit = limit_arg()
    account = find_in_scope(Account, code)
    rows = newest(db.session, shop_scopes([account.id]), limit=limit)
    whole = may_open(role, "notify_numbers")
    return jsonify([delivery_json(d, whole) for d in rows])
