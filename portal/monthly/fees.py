"""The monthly property fee (物业费): rate × floor area or a fixed amount per shop, posted once per month.

By default a fee never cuts supply (PRC Civil Code Art. 944 forbids cutting power to collect property
fees): the fee takes from the balance only what stays above the trip point and never dips into the
overdraft; the rest becomes fee arrears, which later payments repay first (portal.control.balance). A site may
explicitly enable the reference product's policy: the whole fee is posted and the ordinary arrears
rule trips a shop it leaves at or below the trip point.

A meter-mode shop's money is in its meter, which trips itself at zero: its fee is taken only as far as the
meter stays above zero (the rest is fee arrears), unless the site chose the trip policy, and what is posted
is written into the meter as a deduction (扣费, key deduction:fee:<account>:<YYYY-MM>), so the ledger and
the meter stay one set of books (portal.metering.books).

One run per site and month: the accounts are locked in id order, a `fee_charges` row per shop is the
run's idempotency gate (the ledger key fee:<account>:<YYYY-MM> a second one), so a rerun posts nothing. Each
shop charged is told of its fee (set-wise, once per shop and month), and of any low-balance level it crossed.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import Enum

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from portal.audit import audit
from portal.bulk import insert_rows
from portal.control.balance import enforce_where_low, trip_threshold
from portal.control.commands import MoneyWrite, queue_many
from portal.ledger.bulk import Movement, add_to_accounts, lock_balances, post_many
from portal.metering.books_check import purses
from portal.models import Account, AccountStatus, EntryKind, FeeCharge, Site, utcnow
from portal.money import format_price
from portal.monthly.periods import PeriodError, month_bounds
from portal.notify.params import money, shops
from portal.notify.route import ShopEvent, tell_shops
from portal.settings import business_tz


@dataclass
class FeeRun:
    """What one site's fee run did."""

    site_id: int
    site_code: str
    month: str
    charged: int = 0       # shops charged by this run
    fee_fen: int = 0
    posted_fen: int = 0    # debited from balances now
    arrears_fen: int = 0   # left as fee arrears
    switched: int = 0      # meters the arrears rule switched off (only under the trip policy)


#: the basis of a fixed fee, and the shape of one by rate × area (`fee_for`)
FIXED_BASIS = "fixed"
_AREA_BASIS = re.compile(r"area (?P<area>\d+\.\d{2}) m² × (?P<price>\d+\.\d{4})")


def fee_for(rate_e4: int, area_m2: Decimal | None, fixed_fen: int) -> tuple[int, str]:
    """A shop's monthly fee in fen and how it was computed.

    A fixed amount, when set (> 0), replaces rate × area; otherwise rate (0.0001 yuan per m², that is
    0.01 fen) × area (0.01 m²), rounded half up to whole fen.
    """
    if fixed_fen > 0:
        return fixed_fen, FIXED_BASIS
    if rate_e4 <= 0 or not area_m2:
        return 0, ""
    centi_m2 = int(area_m2 * 100)  # Numeric(10, 2): exact
    fen = (rate_e4 * centi_m2 + 5000) // 10000
    return fen, f"area {area_m2:.2f} m² × {format_price(rate_e4)}"


class BasisKind(Enum):
    """How a fee was worked out, as its stored basis says."""

    FIXED = "fixed"
    AREA = "area"
    #: a basis written otherwise (an older run's, or a hand-written one), to be shown as it is
    TEXT = "text"


@dataclass(frozen=True)
class Basis:
    """What a stored fee basis says: its kind, and for an area fee the area in m² and the price in yuan, as written."""

    kind: BasisKind
    area: str = ""
    price: str = ""


def read_basis(basis: str) -> Basis:
    """What a stored basis says (it is kept in one language, as `fee_for` wrote it)."""
    if basis == FIXED_BASIS:
        return Basis(BasisKind.FIXED)
    found = _AREA_BASIS.fullmatch(basis)
    return Basis(BasisKind.AREA, found["area"], found["price"]) if found else Basis(BasisKind.TEXT)


def split_fee(fee_fen: int, balance_fen: int, trip_point_fen: int, trip_enabled: bool) -> tuple[int, int]:
    """(debited now, left as fee arrears) for a fee against the shop's balance.

    With the trip policy the whole fee is debited. Without it the fee takes at most what keeps the
    balance above the trip point (supply goes off at balance <= it) and never below zero.
    """
    if trip_enabled:
        return fee_fen, 0
    room = min(balance_fen, balance_fen - trip_point_fen - 1)
    posted = max(0, min(fee_fen, room))
    return posted, fee_fen - posted


def run_fees(session: Session, month: str, *, site_ids: set[int] | None = None, actor: str = "system:fees",
             now: datetime | None = None) -> list[FeeRun]:
    """Charge every active shop of the sites (all when None) its fee for `month`, once; only flushes."""
    return [_run_site(session, site, month, actor) for site in _sites(session, month, site_ids, now)]


def preview_fees(session: Session, month: str, *, site_ids: set[int] | None = None,
                 now: datetime | None = None) -> list[FeeRun]:
    """What run_fees would charge now, site by site (the same plan, on balances read without a lock); writes
    nothing."""
    runs = []
    for site in _sites(session, month, site_ids, now):
        result = FeeRun(site.id, site.code, month)
        due = _fees_due(session, site, month)
        if due:
            balances = dict(session.execute(select(Account.id, Account.balance_fen)
                                            .where(Account.id.in_(list(due)))).tuples().all())
            for charge in _plan(site, month, due, balances, purses(session, due), "preview"):
                _tally(result, charge)
        runs.append(result)
    return runs


def _sites(session: Session, month: str, site_ids: set[int] | None, now: datetime | None) -> list[Site]:
    start, _ = month_bounds(month, business_tz())
    if start > (now or utcnow()):
        raise PeriodError(f"{month} has not begun yet in the business time zone")
    query = select(Site).order_by(Site.id)
    if site_ids is not None:
        query = query.where(Site.id.in_(site_ids))
    return list(session.execute(query).scalars().all())


def _plan(site: Site, month: str, due: dict[int, tuple[int, str]], balances: dict[int, int], in_meters: dict,
          actor: str) -> list[dict]:
    """The month's charge row of each shop due: its fee split into debited now and left as fee arrears."""
    charges, now, trip_point = [], utcnow(), trip_threshold(site)
    for account_id, (fee, basis) in due.items():
        purse = in_meters.get(account_id)
        if purse is None:
            posted, owed = split_fee(fee, balances[account_id], trip_point, site.fee_trip_enabled)
        else:  # the meter trips itself at zero: keep it above, unless the site chose the trip policy
            held = balances[account_id] if purse.holds_fen is None else min(balances[account_id], purse.holds_fen)
            posted, owed = split_fee(fee, held, 0, site.fee_trip_enabled)
        charges.append(dict(account_id=account_id, month=month, fee_fen=fee, posted_fen=posted, arrears_fen=owed,
                            basis=basis, actor=actor, created_at=now))
    return charges


def _tally(result: FeeRun, charge: dict) -> None:
    result.charged += 1
    result.fee_fen += charge["fee_fen"]
    result.posted_fen += charge["posted_fen"]
    result.arrears_fen += charge["arrears_fen"]


def _run_site(session: Session, site: Site, month: str, actor: str) -> FeeRun:
    result = FeeRun(site.id, site.code, month)
    due = _fees_due(session, site, month)
    if not due:
        return result
    balances = lock_balances(session, due)
    in_meters = purses(session, due)
    charges = _plan(site, month, due, balances, in_meters, actor)
    created = _insert_charges(session, charges)
    movements, arrears, charged = [], {}, []
    for c in charges:
        if c["account_id"] not in created:
            continue  # charged meanwhile by a concurrent run
        _tally(result, c)
        charged.append(c)
        if c["posted_fen"]:
            movements.append(Movement(c["account_id"], -c["posted_fen"], f"fee:{c['account_id']}:{month}",
                                      memo=f"{month} {c['basis']}"))
        if c["arrears_fen"]:
            arrears[c["account_id"]] = c["arrears_fen"]
    posted = post_many(session, movements, EntryKind.FEE, actor=actor, balances=balances)
    add_to_accounts(session, Account.fee_arrears_fen, arrears)
    queue_many(session, [MoneyWrite(in_meters[m.account_id].meter_id, in_meters[m.account_id].gateway_id,
                                    m.amount_fen, f"deduction:{m.key}", f"property fee {month}")
                         for m in posted if m.account_id in in_meters], actor)
    after = {m.account_id: balances[m.account_id] + m.amount_fen for m in posted}
    _tell_charged(session, charged, month)
    result.switched = enforce_where_low(session, after, actor)
    return result


def _tell_charged(session: Session, charges: list[dict], month: str) -> None:
    """Tell each shop charged of its fee for the month and the balance it left (one statement per 20,000)."""
    found = shops(session, [c["account_id"] for c in charges])
    tell_shops(session, [ShopEvent(shop.id, "fee_posted", f"fee:{shop.id}:{month}", {
        **shop.params(), "amount": money(c["fee_fen"]), "month": month, "balance": money(shop.balance_fen)})
        for c in charges if (shop := found.get(c["account_id"])) is not None])


def _fees_due(session: Session, site: Site, month: str) -> dict[int, tuple[int, str]]:
    """{account id: (fee, basis)} of the site's active shops not yet charged for the month."""
    charged = exists().where(FeeCharge.account_id == Account.id, FeeCharge.month == month)
    rows = session.execute(
        select(Account.id, Account.area_m2, Account.fee_rate_e4_per_m2, Account.fee_fixed_fen)
        .where(Account.site_id == site.id, Account.status == AccountStatus.ACTIVE, ~charged).order_by(Account.id)
    ).all()
    due = {}
    for account_id, area, rate, fixed in rows:
        fee, basis = fee_for(site.fee_rate_e4_per_m2 if rate is None else rate, area,
                             site.fee_fixed_fen if fixed is None else fixed)
        if fee > 0:
            due[account_id] = (fee, basis)
    return due


def _insert_charges(session: Session, charges: list[dict]) -> set[int]:
    """Insert the month's charge rows; the accounts whose row is new."""
    return set(insert_rows(session, FeeCharge.__table__, charges, conflict=["account_id", "month"],
                           returning="account_id"))


class FeeSettingsError(ValueError):
    """Fee settings that are refused; `code` is "amount" (not a whole number >= 0) or "unacknowledged"."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


def set_fee_settings(session: Session, site: Site, actor: str, *, rate_e4_per_m2: int, fixed_fen: int,
                     trip_enabled: bool, warning_acknowledged: bool = False) -> dict:
    """Change a site's property fee and its policy; enabling the trip policy needs the Art. 944 warning read.

    Returns what changed ({field: [old, new]}), audited.
    """
    for name, value in (("rate", rate_e4_per_m2), ("fixed amount", fixed_fen)):
        if type(value) is not int or value < 0:
            raise FeeSettingsError("amount", f"the {name} must be a whole number, 0 or more")
    if trip_enabled and not site.fee_trip_enabled and not warning_acknowledged:
        raise FeeSettingsError("unacknowledged", "confirm that you have read the Civil Code Art. 944 warning")
    values = dict(fee_rate_e4_per_m2=rate_e4_per_m2, fee_fixed_fen=fixed_fen, fee_trip_enabled=bool(trip_enabled))
    changed = {k: [getattr(site, k), v] for k, v in values.items() if getattr(site, k) != v}
    for name, (_, new) in changed.items():
        setattr(site, name, new)
    if changed:
        audit(session, actor, "site.fee_settings", "site", site.id, site.id, changed=changed,
              **({"art944_warning_shown": True} if trip_enabled else {}))
    return changed
