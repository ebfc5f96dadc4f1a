"""GET /api/v1/accounts/<code>/usage: a shop's use and charges per business day, off the daily roll-ups."""
from __future__ import annotations

from datetime import timedelta

from flask import jsonify, request
from sqlalchemy import select

from portal.api.blueprint import ApiError, bp
from portal.api.resources import find_in_scope
from portal.extensions import db
from portal.metering.daily import business_today
from portal.metering.usage import account_days, unit, usage_text
from portal.models import Account, Meter, MeterKind
from portal.web.params import day_arg

#: the longest period one call may ask for (a year, leap or not)
MAX_DAYS = 366
#: days when `from` is not given
DEFAULT_DAYS = 30


@bp.get("/accounts/<code>/usage")
def get_account_usage(code: str):
    """A shop's meters of one kind (electricity unless it has only water, or `kind` says) summed per day."""
    account = find_in_scope(Account, code)
    for name in ("from", "to"):  # left out means the default; given, it is a date (an empty one is no date)
        if name in request.args and not request.args[name]:
            raise ApiError(400, "invalid_request", f"{name} must be a date YYYY-MM-DD")
    last = day_arg("to") or business_today()
    first = day_arg("from") or last - timedelta(days=DEFAULT_DAYS - 1)
    if first > last:
        raise ApiError(400, "invalid_request", "from must be on or before to")
    if (last - first).days + 1 > MAX_DAYS:
        raise ApiError(400, "invalid_request", f"ask for at most {MAX_DAYS} days at once")
    kind = _kind(account)
    days = account_days(db.session, account.id, first, last, kind)
    return jsonify(account=account.code, unit=unit(kind), days=[
        {"date": d.period.isoformat(), "usage": usage_text(d.usage, kind), "charged_fen": d.charged_fen}
        for d in days])


def _kind(account: Account) -> MeterKind:
    asked = request.args.get("kind", "")
    if asked:
        if asked not in {k.value for k in MeterKind}:
            raise ApiError(400, "invalid_request", "kind must be electric or water")
        return MeterKind(asked)
    kinds = set(db.session.scalars(select(Meter.kind).where(Meter.account_id == account.id).distinct()))
    return MeterKind.WATER if kinds == {MeterKind.WATER} else MeterKind.ELECTRIC
