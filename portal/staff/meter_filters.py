"""What the meter list may be filtered and sorted by: query parameters parsed once (portal.web.params), and the
query they make.

Every filter is a whitelisted value in the URL (htmx pushes it, so a filtered page can be bookmarked); anything
else is a 400 that names the parameter and what it may be. The query joins each meter's latest state and its
shop once, so every filter and sort is a condition on one row: at 10,030 meters a page is a few milliseconds.
"""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, and_, func, or_, select

from portal.models import Account, ControlMode, Meter, MeterKind, MeterState, Supply
from portal.web.params import id_arg, one_of, query_arg, short_text

#: why the platform wants a meter off (Meter.desired_reason of a meter whose desired supply is off)
OFF_REASONS = {"arrears": _l("Arrears"), "remote": _l("Tripped by staff"), "over_power": _l("Over power"),
               "closure": _l("Shop closed")}
YES_NO = {"yes": _l("yes"), "no": _l("no")}
#: the choices of each filter that is a choice (value -> words)
CHOICES = {
    "online": YES_NO,
    "supply": {"on": _l("on"), "off": _l("off")},
    "reason": OFF_REASONS,
    "keep_power": YES_NO,
    "kind": {"electric": _l("electricity"), "water": _l("water")},
    "mode": {"platform": _l("platform account"), "meter": _l("meter account")},
    "arrears": YES_NO,
}
SORTS = {"code": _l("Meter"), "account": _l("Shop"), "balance": _l("Balance"), "last_seen": _l("Last seen"),
         "energy": _l("Energy")}
ORDERS = {"asc": _l("ascending"), "desc": _l("descending")}
#: the longest text search (a meter or shop code, or part of a name)
Q_MAX = 40


def parse_filters() -> dict:
    """The list's filters and sort from the query string ('' or None: not filtered); 400 for a bad value."""
    found = {name: query_arg(name, one_of(choices), "") for name, choices in CHOICES.items()}
    found["q"] = query_arg("q", short_text(Q_MAX), "")
    found["gateway"] = id_arg("gateway")
    found["sort"] = query_arg("sort", one_of(SORTS), "code")
    found["order"] = query_arg("order", one_of(ORDERS), "asc")
    return found


def url_args(filters: dict) -> dict:
    """The filters as they go back into a URL: only those set, the defaults left out."""
    defaults = {"sort": "code", "order": "asc"}
    return {k: v for k, v in filters.items() if v not in ("", None) and defaults.get(k) != v}


def filtered(query: Select, f: dict) -> Select:
    """`query` (of Meter, joined to MeterState and Account: see `base_query`) narrowed by the filters."""
    conditions = []
    if f["online"]:
        online = MeterState.online.is_(True)
        conditions.append(online if f["online"] == "yes" else or_(MeterState.online.is_not(True),
                                                                  MeterState.meter_id.is_(None)))
    if f["supply"]:
        conditions.append(MeterState.supply_actual == Supply(f["supply"]))
    if f["reason"]:
        conditions.append(and_(Meter.supply_desired == Supply.OFF, Meter.desired_reason == f["reason"]))
    if f["keep_power"]:
        conditions.append(Meter.keep_power.is_(f["keep_power"] == "yes"))
    if f["kind"]:
        conditions.append(Meter.kind == MeterKind(f["kind"]))
    if f["mode"]:
        conditions.append(Meter.control_mode == ControlMode(f["mode"]))
    if f["gateway"] is not None:
        conditions.append(Meter.gateway_id == f["gateway"])
    if f["arrears"] == "yes":
        conditions.append(Account.balance_fen <= 0)
    elif f["arrears"] == "no":
        conditions.append(or_(Account.id.is_(None), Account.balance_fen > 0))
    if f["q"]:
        like = f"%{f['q']}%"
        conditions.append(or_(Meter.code.ilike(like), Meter.name.ilike(like), Account.code.ilike(like),
                              Account.name.ilike(like)))
    return query.where(*conditions)


def base_query(what=Meter) -> Select:
    """Meters with their latest state and their shop (none for a common-area meter), one row each."""
    return (select(what).outerjoin(MeterState, MeterState.meter_id == Meter.id)
            .outerjoin(Account, Meter.account_id == Account.id))


def count_query(query: Select) -> Select:
    """How many meters a filtered query finds."""
    return select(func.count()).select_from(query.order_by(None).subquery())


def sorted_by(query: Select, f: dict) -> Select:
    """The query in the chosen order (missing values last either way), then by site and code: a stable page."""
    column = {"code": Meter.code, "account": Account.code, "balance": Account.balance_fen,
              "last_seen": MeterState.last_seen_at, "energy": MeterState.energy_total}[f["sort"]]
    first = column.desc() if f["order"] == "desc" else column.asc()
    keys = [first.nulls_last()]
    if f["sort"] == "energy":  # kWh and m³ are not one scale: electricity first, then water, each in order
        keys[:0] = [column.is_(None), Meter.kind]
    return query.order_by(*keys, Meter.site_id, Meter.code, Meter.id)
