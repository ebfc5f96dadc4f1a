"""Common-area allocation (公摊): price a group's common meters for a period and split it over its shops.

The common consumption of a period is the sum of the common meters' validated interval deltas whose
reading closes inside it (interval_start in (start, end], as billing counts them), read off the daily
roll-ups for its whole business days (portal.metering.consumption: a month is whole days; only a tariff
version starting inside a day cuts that one day by instant). A run first brings the roll-ups it reads up
to date with the readings (`catch_up`: readings from before the roll-ups existed). It is priced with
the group's tariff (else the site's default), which must be flat: common meters are not metered per
time-of-use period and a tiered price per shop would make no sense for a shared meter. A price change
inside the period prices each part with its own version. Whole fen are split; the sub-fen rest carries
to the group's next run. The split is by largest remainder, so the parts add up to the total exactly:

- fixed: each member's `share`;
- area: each member's floor area in 0.01 m²;
- consumption: each member's own metered consumption (its meters of the common meters' kind).

One AllocationRun per group and period (unique) is the idempotency gate, with one AllocationLine per
member for the tenant's breakdown; the ledger key is alloc:<group>:<period>:<account>. A meter-mode shop's
part is also written into its meter as a deduction (扣费, key deduction:alloc:...), in full: it is energy,
and the meter trips itself if it runs out, as it would for its own consumption. Each shop charged is told of
its part (set-wise, once per group, period and shop).
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload

from portal.bulk import insert_rows
from portal.control.balance import enforce_where_low
from portal.control.commands import MoneyWrite, queue_many
from portal.ledger.bulk import Movement, lock_balances, post_many
from portal.metering.books_check import purses
from portal.metering.consumption import catch_up, used_between, whole_days
from portal.models import (
    Account,
    AccountStatus,
    AllocationGroup,
    AllocationLine,
    AllocationMember,
    AllocationMethod,
    AllocationRun,
    EntryKind,
    Meter,
    Site,
    allocation_sources,
    utcnow,
)
from portal.monthly.periods import PeriodError, month_bounds
from portal.notify.params import money, shops
from portal.notify.route import ShopEvent, tell_shops
from portal.settings import business_tz
from portal.tariffs.pricing import cost_e5, to_fen
from portal.tariffs.versions import Versions


@dataclass
class Outcome:
    """What happened to one group: posted now, already posted earlier, or skipped (and why)."""

    group_id: int
    group_code: str
    site_id: int
    period: str
    status: str  # posted, already, skipped; a preview's: due, already, skipped
    reason: str = ""
    #: why it was skipped, as Skip.code
    code: str = ""
    run_id: int | None = None
    total_fen: int = 0
    members: int = 0


class Skip(Exception):
    """The group cannot be allocated for this period (nothing is written; a later run may succeed).

    `code` names the reason for a page to put in the reader's language; the message is the command line's.
    """

    def __init__(self, message: str, code: str):
        super().__init__(message)
        self.code = code


def split(total: int, weights: dict[int, int]) -> dict[int, int]:
    """Split `total` over the keys in proportion to `weights` (largest remainder): parts sum to `total`.

    Ties of remainder go to the smaller key, so a split is deterministic.
    """
    weight_total = sum(weights.values())
    if weight_total <= 0 or any(w < 0 for w in weights.values()):
        raise ValueError("weights must be non-negative with a positive sum")
    parts = {k: total * w // weight_total for k, w in weights.items()}
    left = total - sum(parts.values())
    for k in sorted(weights, key=lambda k: (-(total * weights[k] % weight_total), k))[:left]:
        parts[k] += 1
    return parts


def allocate(session: Session, period: str, *, site_ids: set[int] | None = None, group_ids: set[int] | None = None,
             actor: str = "system:allocation", now: datetime | None = None) -> list[Outcome]:
    """Allocate every group (of the sites, or the groups, given) for a finished period, once; only flushes."""
    outcomes, movements = [], []
    for group, outcome, planned in _plans(session, period, site_ids, group_ids, now, lock=True):
        outcomes.append(outcome)
        if planned is None:
            continue
        run = _write_run(session, group, period, planned, actor)
        outcome.status, outcome.run_id, outcome.total_fen, outcome.members = ("posted", run.id, run.total_fen,
                                                                              len(planned.parts))
        movements += [Movement(a, -fen, f"alloc:{group.id}:{period}:{a}", memo=f"{group.code} {period}")
                      for a, fen in planned.parts.items() if fen]
    _post(session, movements, period, actor)
    return outcomes


@dataclass
class Split:
    """A group's period priced and split over its members, before anything is written.

    The run writes exactly this (portal.monthly.allocation.allocate); the billing page's preview shows it.
    """

    kind: str
    tariff_id: int
    unit_price_e4: int
    consumption: int
    cost_e5: int
    carried_in_e5: int
    total_fen: int
    remainder_e5: int
    #: {account id: weight} and {account id: fen} of the active members
    weights: dict[int, int]
    parts: dict[int, int]
    #: [{"meter_id", "code", "consumption"}] of the common meters
    sources: list[dict]

    @property
    def weight_total(self) -> int:
        return sum(self.weights.values())


def price_and_split(session: Session, group: AllocationGroup, start: datetime, end: datetime) -> Split:
    """Price the group's common meters for readings closing in (start, end] and split the whole fen over its
    members; reads only (Skip when it cannot be allocated). `end` may be now: a month so far."""
    site = session.get(Site, group.site_id)
    sources = session.execute(
        select(Meter.id, Meter.code, Meter.kind).join(allocation_sources, allocation_sources.c.meter_id == Meter.id)
        .where(allocation_sources.c.group_id == group.id).order_by(Meter.code)).all()
    if not sources:
        raise Skip("the group has no common meters", "no_sources")
    kinds = {k.value for _, _, k in sources}
    if len(kinds) > 1:
        raise Skip("the group mixes electricity and water meters", "mixed_kinds")
    kind = kinds.pop()
    tariff_id = group.tariff_id or site.default_tariff_id
    if tariff_id is None:
        raise Skip("no tariff: set one on the group or a default on the site", "no_tariff")
    source_ids = [m for m, _, _ in sources]
    cost, price, by_meter = _price(session, tariff_id, kind, source_ids, start, end)
    previous = session.execute(
        select(AllocationRun.remainder_e5).where(AllocationRun.group_id == group.id,
                                                 AllocationRun.period_start < start)
        .order_by(AllocationRun.period_start.desc()).limit(1)).scalar_one_or_none() or 0
    total_fen, remainder = to_fen(cost, previous)
    weights = member_weights(session, group, kind, start, end)
    if not weights:
        raise Skip("the group has no active member shops", "no_members")
    weight_total = sum(weights.values())
    if weight_total == 0 and total_fen:
        raise Skip(f"no {group.method.value} weight to split by (all members' weights are 0)", "no_weight")
    parts = split(total_fen, weights) if weight_total else dict.fromkeys(weights, 0)
    return Split(kind=kind, tariff_id=tariff_id, unit_price_e4=price, consumption=sum(by_meter.values()),
                 cost_e5=cost, carried_in_e5=previous, total_fen=total_fen, remainder_e5=remainder, weights=weights,
                 parts=parts, sources=[{"meter_id": m, "code": code, "consumption": by_meter.get(m, 0)}
                                       for m, code, _ in sources])


def preview(session: Session, period: str, *, site_ids: set[int] | None = None, group_ids: set[int] | None = None,
            now: datetime | None = None) -> list[Outcome]:
    """What allocate() would post now, group by group (status due, already or skipped); writes and locks nothing."""
    outcomes = []
    for _group, outcome, planned in _plans(session, period, site_ids, group_ids, now, lock=False):
        outcomes.append(outcome)
        if planned is not None:
            outcome.status, outcome.total_fen, outcome.members = "due", planned.total_fen, len(planned.parts)
    return outcomes


def _plans(session: Session, period: str, site_ids: set[int] | None, group_ids: set[int] | None,
           now: datetime | None, *, lock: bool) -> Iterator[tuple[AllocationGroup, Outcome, Split | None]]:
    """Each group of a finished period with its outcome so far ("already" run, or "skipped" and why) and, when it
    is due, its split: allocate() writes that split, preview() shows it. `lock`: the groups' rows, for a run."""
    start, end = finished_period(period, now)
    query = _groups(site_ids, group_ids)
    for group in session.execute(query.with_for_update() if lock else query).scalars().all():
        outcome = Outcome(group.id, group.code, group.site_id, period, "already")
        outcome.run_id = _run_of(session, group, period)
        planned = None
        if outcome.run_id is None:
            if lock:
                _catch_up(session, group, start, end)
            try:
                planned = price_and_split(session, group, start, end)
            except Skip as why:
                outcome.status, outcome.reason, outcome.code = "skipped", str(why), why.code
        yield group, outcome, planned


def finished_period(period: str, now: datetime | None = None) -> tuple[datetime, datetime]:
    """The period's bounds; PeriodError while it is not over in the business time zone."""
    start, end = month_bounds(period, business_tz())
    if end > (now or utcnow()):
        raise PeriodError(f"{period} is not over yet in the business time zone")
    return start, end


def _catch_up(session: Session, group: AllocationGroup, start: datetime, end: datetime) -> None:
    """Bring the roll-ups of the meters the group's split reads (its common meters; its members' own for a split
    by consumption) up to date with their readings before a run reads them."""
    days = whole_days(start, end)
    if days is None:
        return
    meters = set(session.scalars(select(allocation_sources.c.meter_id)
                                 .where(allocation_sources.c.group_id == group.id)))
    if group.method == AllocationMethod.CONSUMPTION:
        meters |= set(session.scalars(select(Meter.id).join(AllocationMember,
                                                            AllocationMember.account_id == Meter.account_id)
                                      .where(AllocationMember.group_id == group.id)))
    catch_up(session, meters, *days)


def _groups(site_ids: set[int] | None, group_ids: set[int] | None):
    query = select(AllocationGroup).order_by(AllocationGroup.id)
    if site_ids is not None:
        query = query.where(AllocationGroup.site_id.in_(site_ids))
    if group_ids is not None:
        query = query.where(AllocationGroup.id.in_(group_ids))
    return query


def _run_of(session: Session, group: AllocationGroup, period: str) -> int | None:
    return session.execute(select(AllocationRun.id).where(
        AllocationRun.group_id == group.id, AllocationRun.period == period)).scalar_one_or_none()


def _write_run(session: Session, group: AllocationGroup, period: str, s: Split, actor: str) -> AllocationRun:
    """Write the group's run for the period and its lines: exactly what price_and_split computed."""
    start, end = month_bounds(period, business_tz())
    run = AllocationRun(
        group_id=group.id, period=period, period_start=start, period_end=end, method=group.method.value,
        kind=s.kind, tariff_id=s.tariff_id, unit_price_e4=s.unit_price_e4, consumption=s.consumption,
        cost_e5=s.cost_e5, carried_in_e5=s.carried_in_e5, total_fen=s.total_fen, remainder_e5=s.remainder_e5,
        weight_total=s.weight_total, sources=s.sources, actor=actor)
    session.add(run)
    session.flush()
    insert_rows(session, AllocationLine.__table__, [dict(run_id=run.id, account_id=a, weight=s.weights[a],
                                                         amount_fen=s.parts[a]) for a in sorted(s.weights)])
    return run


def _price(session: Session, tariff_id: int, kind: str, meter_ids: list[int], start: datetime,
           end: datetime) -> tuple[int, int, dict[int, int]]:
    """(exact cost in 0.00001 fen, the last price applied, consumption per common meter) for the period."""
    first, later = None, []
    for effective, version in Versions(session, {tariff_id}).by_tariff.get(tariff_id, []):
        if effective <= start:
            first = version
        elif effective < end:
            later.append((effective, version))
    if first is None:
        raise Skip("the tariff has no price at the start of the period", "no_price")
    cuts = [(start, first), *later]
    cost, by_meter = 0, {}
    for i, (since, version) in enumerate(cuts):
        if version.kind != "flat":
            raise Skip("common-area allocation needs a flat tariff", "not_flat")
        until = cuts[i + 1][0] if i + 1 < len(cuts) else end
        used = used_between(session, meter_ids, since, until)
        for meter_id, amount in used.items():
            by_meter[meter_id] = by_meter.get(meter_id, 0) + amount
        cost += cost_e5(version, kind, sum(used.values()))
    return cost, cuts[-1][1].unit_price_e4, by_meter


def member_weights(session: Session, group: AllocationGroup, kind: str, start: datetime,
                   end: datetime) -> dict[int, int]:
    """{account id: weight} of the group's active members under its method."""
    members = (select(AllocationMember.account_id, AllocationMember.share, Account.area_m2)
               .join(Account, Account.id == AllocationMember.account_id)
               .where(AllocationMember.group_id == group.id, Account.status == AccountStatus.ACTIVE))
    rows = session.execute(members).all()
    if group.method == AllocationMethod.FIXED:
        return {a: int(share) for a, share, _ in rows}
    if group.method == AllocationMethod.AREA:
        return {a: int(area * 100) if area else 0 for a, _, area in rows}
    owners = dict(session.execute(
        select(Meter.id, Meter.account_id).join(AllocationMember, AllocationMember.account_id == Meter.account_id)
        .where(AllocationMember.group_id == group.id, Meter.kind == kind)).tuples().all())
    used: dict[int, int] = {}
    for meter_id, amount in used_between(session, owners, start, end).items():
        used[owners[meter_id]] = used.get(owners[meter_id], 0) + amount
    return {a: max(used.get(a, 0), 0) for a, _, _ in rows}


def _post(session: Session, movements: list[Movement], period: str, actor: str) -> None:
    """Post every group's parts at once, tell the shops, then apply the balance rules where they left a shop low."""
    if not movements:
        return
    balances = lock_balances(session, (m.account_id for m in movements))
    after = dict(balances)
    posted = post_many(session, movements, EntryKind.ALLOCATION, actor=actor, balances=balances)
    for m in posted:
        after[m.account_id] += m.amount_fen
    in_meters = purses(session, {m.account_id for m in posted})
    queue_many(session, [MoneyWrite(in_meters[m.account_id].meter_id, in_meters[m.account_id].gateway_id,
                                    m.amount_fen, f"deduction:{m.key}", f"common area {m.memo}")
                         for m in posted if m.account_id in in_meters], actor)
    found = shops(session, after)
    tell_shops(session, [ShopEvent(m.account_id, "allocation_posted", m.key, {
        **found[m.account_id].params(), "amount": money(-m.amount_fen), "month": period,
        "balance": money(found[m.account_id].balance_fen)}) for m in posted])
    enforce_where_low(session, after, actor)


def breakdown(session: Session, account_id: int) -> list[tuple[AllocationRun, AllocationLine]]:
    """The shop's lines of its latest allocation period (every group of it), for the tenant page."""
    latest = session.execute(
        select(func.max(AllocationRun.period)).join(AllocationLine, AllocationLine.run_id == AllocationRun.id)
        .where(AllocationLine.account_id == account_id)).scalar_one_or_none()
    if latest is None:
        return []
    return list(session.execute(
        select(AllocationRun, AllocationLine).join(AllocationLine, AllocationLine.run_id == AllocationRun.id)
        .where(AllocationLine.account_id == account_id, AllocationRun.period == latest)
        .options(joinedload(AllocationRun.group))
        .order_by(AllocationRun.group_id)).tuples().all())
