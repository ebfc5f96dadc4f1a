"""Read endpoints for accounts and meters."""
from __future__ import annotations

from flask import jsonify
from sqlalchemy import select

from portal.api.blueprint import ApiError, bp
from portal.extensions import db
from portal.models import Account, ControlMode, Meter
from portal.web.access import scoped
from portal.web.templating import hundredths


def find_in_scope(model, code: str):
    """The one row with this code in the caller's sites; 404 when none, 409 when ambiguous."""
    rows = db.session.execute(
        scoped(select(model).where(model.code == code), model.site_id).limit(2)
    ).scalars().all()
    if not rows:
        raise ApiError(404, "not_found", f"no {model.__tablename__[:-1]} {code!r} in your sites")
    if len(rows) > 1:
        raise ApiError(409, "ambiguous", f"{code!r} exists in several of your sites")
    return rows[0]


def account_json(acct: Account) -> dict:
    """The API shape of an account."""
    return {
        "code": acct.code,
        "name": acct.name,
        "balance_fen": acct.balance_fen,
        "status": acct.status.value,
        "meters": [m.code for m in acct.meters],
    }


def meter_json(meter: Meter) -> dict:
    """The API shape of a meter (SPEC §4): integers and decimal strings, never floats."""
    st = meter.state
    meter_mode = meter.control_mode == ControlMode.METER
    return {
        "code": meter.code,
        "kind": meter.kind.value,
        "control_mode": meter.control_mode.value,
        "online": bool(st and st.online),
        "supply_actual": st.supply_actual.value if st and st.supply_actual else None,
        "supply_desired": meter.supply_desired.value,
        "keep_power": meter.keep_power,
        "energy_total": _energy(meter, st.energy_total) if st and st.energy_total is not None else None,
        "power_w": st.power_w if st else None,
        "remaining_fen": st.remaining_fen if st and meter_mode else None,
        "purchase_count": st.purchase_count if st and meter_mode else None,
        "last_seen": st.last_seen_at.isoformat().replace("+00:00", "Z") if st and st.last_seen_at else None,
    }


def _energy(meter: Meter, raw: int) -> str:
    # Electricity is kept in 0.01 kWh; water in litres, shown as m³ with three decimals.
    if meter.kind.value == "water":
        whole, part = divmod(raw, 1000)
        return f"{whole}.{part:03d}"
    return hundredths(raw)


@bp.get("/accounts/<code>")
def get_account(code: str):
    """An account's balance and meters."""
    return jsonify(account_json(find_in_scope(Account, code)))


@bp.get("/meters/<code>")
def get_meter(code: str):
    """A meter's latest state."""
    return jsonify(meter_json(find_in_scope(Meter, code)))
