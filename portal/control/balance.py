"""Balance rules of a prepaid shop: low-balance alarms, arrears and its safeguards, emergency credit.

Electricity and water follow the same rules (a water valve is the shop's supply like a relay). In fen,
with T = -site.overdraft_limit_fen (透支门限) and R = max(site.restore_min_fen, T + 1) (合闸允许金额):

- Low balance: level n of `site.low_balance_levels_fen` (sorted highest first) is crossed while
  balance <= level; LOW_BALANCE_n is raised once per crossing and cleared once the balance is above it.
- Arrears: balance <= T. The first crossing warns the shop: `arrears_warned_at` and the ARREARS alarm.
  The episode ends when balance >= R: alarm cleared, warning forgotten.
- Trip: a platform-mode meter with a relay or valve goes off for arrears when balance <= T and no
  safeguard holds: keep-power on that meter (保电), the shop exempt (cold storage), a no-trip time
  (portal.control.calendar), or the warning period (now < warned_at + site.warning_minutes).
- Restore: a meter off for arrears comes back when balance >= R, or when a safeguard other than the
  warning now holds (keep-power granted, exemption granted, a no-trip time begun).
- Money in repays emergency credit first, then property-fee arrears; only the rest is the shop's.
  Energy used while a safeguard holds is simply a negative balance, which the next payment covers.
- Emergency credit (portal.control.emergency.take_emergency_credit): a fixed advance, once until repaid.
- Each low-level and arrears alarm opened is told to the shop (portal.notify.alarms); where the rules run over
  many shops at once (a fee run, billing, the arrears job) they are told together when the run is done. An
  arrears alarm raised while a safeguard holds all the shop's supply on (exempt, keep-power on every switched
  meter, a no-trip time) records it as `held`, and the shop is told it is in arrears without a trip time.

Meter-mode meters keep their own money and trip themselves; these rules leave their relays alone.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import String, case, cast, literal, or_, select, union, update
from sqlalchemy.orm import Session, joinedload, selectinload

from portal import stopwatch
from portal.alarms import clear_alarm, clear_many, raise_alarm, raise_many
from portal.audit import audit
from portal.bulk import among, chunks
from portal.control.calendar import is_no_trip_time
from portal.control.polls import request_poll
from portal.models import (
    Account,
    Alarm,
    AlarmKind,
    CommandStatus,
    ControlCommand,
    ControlMode,
    Meter,
    Site,
    Supply,
    utcnow,
)
from portal.models.meter import SWITCHABLE_PROFILES
from portal.notify.alarms import tell_raised, together

LOW_KINDS = (AlarmKind.LOW_BALANCE_1, AlarmKind.LOW_BALANCE_2, AlarmKind.LOW_BALANCE_3)
BALANCE_KINDS = (*LOW_KINDS, AlarmKind.ARREARS)


def trip_threshold(site: Site) -> int:
    """T: supply goes off for money at or below this balance (minus the overdraft limit)."""
    return -site.overdraft_limit_fen


def restore_level(site: Site) -> int:
    """R: the balance at which supply tripped for arrears comes back (at least one fen above T)."""
    return max(site.restore_min_fen, trip_threshold(site) + 1)


def low_levels(site: Site) -> list[int]:
    """The site's low-balance alarm levels in fen, highest first (at most three)."""
    return sorted((int(v) for v in site.low_balance_levels_fen or ()), reverse=True)[:len(LOW_KINDS)]


def money_switched(meter: Meter) -> bool:
    """Whether the platform switches this meter's supply for money (platform mode, relay or valve)."""
    return meter.control_mode == ControlMode.PLATFORM and meter.profile in SWITCHABLE_PROFILES


@dataclass
class Safeguards:
    """What protects an account's meters from an arrears trip at one instant (no-trip time looked up once)."""

    account: Account
    now: datetime
    _no_trip: bool | None = field(default=None, repr=False)

    def warning_ends(self) -> datetime | None:
        """When the warning period of the current arrears episode ends (None: not warned)."""
        warned = self.account.arrears_warned_at
        return None if warned is None else warned + timedelta(minutes=self.account.site.warning_minutes)

    def holding(self, meter: Meter, *, warning: bool = True) -> str | None:
        """The first safeguard that holds for this meter now, or None (the warning only when asked)."""
        if meter.keep_power:
            return "keep_power"
        if self.account.exempt:
            return "exempt"
        if self._no_trip is None:
            self._no_trip = is_no_trip_time(self.account.site, self.now)
        if self._no_trip:
            return "no_trip_time"
        ends = self.warning_ends()
        if warning and ends is not None and self.now < ends:
            return "warning"
        return None

    def holding_shop(self) -> str | None:
        """The safeguard that keeps all the shop's supply on now, whatever its balance: the shop exempt, keep-power
        on every meter the platform switches for money, or a no-trip time; None when a trip would go ahead."""
        if self.account.exempt:
            return "exempt"
        switched = [m for m in self.account.meters if money_switched(m)]
        if switched and all(m.keep_power for m in switched):
            return "keep_power"
        if self._no_trip is None:
            self._no_trip = is_no_trip_time(self.account.site, self.now)
        return "no_trip_time" if self._no_trip else None


def open_balance_alarms(session: Session, account: Account) -> set[AlarmKind]:
    """Which balance alarms (low levels, arrears) are open for the account: one indexed query."""
    return set(session.execute(select(Alarm.kind).where(
        Alarm.kind.in_(BALANCE_KINDS), Alarm.subject == f"account:{account.id}", Alarm.cleared_at.is_(None)
    )).scalars())


def _low_alarm(account_id: int, code: str, site_id: int, balance: int, n: int, level: int) -> dict:
    """The LOW_BALANCE_n alarm of a shop whose balance is at or below level n, as raise_many takes it."""
    return dict(kind=LOW_KINDS[n - 1], subject=f"account:{account_id}", site_id=site_id, account_id=account_id,
                message=f"{code} balance {balance} fen at or below low level {n} ({level} fen)",
                data=dict(what="low_balance", account=code, balance_fen=balance, level=n, level_fen=level))


def sync_balance_alarms(session: Session, account: Account, now: datetime,
                        actor: str = "system:balance", low: bool = True) -> None:
    """Raise newly crossed low-balance levels and arrears (each told to the shop once), clear those the balance
    is back above; without `low`, only arrears (the caller did the levels set-wise: sync_low_levels)."""
    site, balance, subject = account.site, account.balance_fen, f"account:{account.id}"
    is_open = open_balance_alarms(session, account)
    opened = []
    for n, (kind, level) in enumerate(zip(LOW_KINDS, low_levels(site)), start=1):
        if not low:
            break
        if balance <= level and kind not in is_open:
            opened += raise_many(session, [_low_alarm(account.id, account.code, site.id, balance, n, level)])
        elif balance > level and kind in is_open:
            clear_alarm(session, kind, subject)
    if balance <= trip_threshold(site):
        if account.arrears_warned_at is None:
            account.arrears_warned_at = now
            audit(session, actor, "account.arrears_warned", "account", account.id, site.id,
                  balance_fen=balance, warning_minutes=site.warning_minutes)
        if AlarmKind.ARREARS not in is_open:
            minutes, guard = site.warning_minutes, Safeguards(account, now)
            warning = f", supply off after a {minutes}-minute warning" if minutes else ""
            # when supply goes off unless money comes: the warning's end, or now; unless a safeguard holds all of
            # the shop's supply on now (`held`: the shop is told so, not a trip time)
            trip_at, held = max(guard.warning_ends() or now, now), guard.holding_shop()
            opened.append(raise_alarm(
                session, AlarmKind.ARREARS, subject, site.id,
                f"{account.code} balance {balance} fen: in arrears"
                + (f", supply kept on ({held})" if held else warning),
                data=dict(what="arrears", account=account.code, balance_fen=balance, warning_minutes=minutes,
                          trip_at=trip_at.isoformat(), restore_fen=restore_level(site),
                          **({"held": held} if held else {})),
                account_id=account.id))
    elif balance >= restore_level(site):
        account.arrears_warned_at = None
        if AlarmKind.ARREARS in is_open:
            clear_alarm(session, AlarmKind.ARREARS, subject)
    tell_raised(session, opened)


def sync_low_levels(session: Session, account_ids: Iterable[int], sites: Sequence[Site] | None = None) -> None:
    """The low-balance levels of many shops at once (a fee run pushes thousands across one): the levels newly
    crossed raised and those the balance is back above cleared, a few statements per 20,000 shops; the opened
    ones told to their shops (together, when inside `together`). `sites`: every site, when the caller has them."""
    levels = {site.id: low_levels(site) for site in sites or _sites(session)}
    opened = []
    for part in chunks(sorted(set(account_ids))):
        shops = session.execute(select(Account.id, Account.code, Account.site_id, Account.balance_fen)
                                .where(among(session, Account.id, part))).all()
        is_open = set(session.execute(select(Alarm.kind, Alarm.subject).where(
            Alarm.kind.in_(LOW_KINDS), Alarm.cleared_at.is_(None),
            among(session, Alarm.subject, [f"account:{a.id}" for a in shops]))).tuples())
        raised, cleared = [], {kind: [] for kind in LOW_KINDS}
        for account_id, code, site_id, balance in shops:
            subject = f"account:{account_id}"
            for n, (kind, level) in enumerate(zip(LOW_KINDS, levels[site_id]), start=1):
                if balance <= level and (kind, subject) not in is_open:
                    raised.append(_low_alarm(account_id, code, site_id, balance, n, level))
                elif balance > level and (kind, subject) in is_open:
                    cleared[kind].append(subject)
        opened += raise_many(session, raised)
        for kind, subjects in cleared.items():
            clear_many(session, kind, subjects)
    tell_raised(session, opened)


def switch_for_money(session: Session, meter: Meter, supply: Supply, actor: str, **detail) -> None:
    """Move a meter's desired supply (arrears trip or restore), replacing supply commands still waiting."""
    session.execute(
        update(ControlCommand)
        .where(ControlCommand.meter_id == meter.id, ControlCommand.status == CommandStatus.PENDING,
               ControlCommand.action.in_(("trip", "close")))
        .values(status=CommandStatus.SUPERSEDED)
    )
    meter.supply_desired = supply
    meter.desired_reason = "arrears" if supply == Supply.OFF else "restored"
    session.add(ControlCommand(meter_id=meter.id, action="trip" if supply == Supply.OFF else "close",
                               actor=actor, reason=meter.desired_reason))
    audit(session, actor, f"meter.{meter.desired_reason}", "meter", meter.id, meter.site_id, **detail)
    request_poll(session, meter.gateway_id)


def enforce_balance(session: Session, account: Account, actor: str = "system:balance",
                    now: datetime | None = None, low: bool = True) -> list[Meter]:
    """Apply every balance rule to one account at `now`; returns the meters whose desired supply changed.
    Without `low` the low-balance levels are left to the caller (sync_low_levels, for many shops at once)."""
    now = now or utcnow()
    site, balance = account.site, account.balance_fen
    sync_balance_alarms(session, account, now, actor, low=low)
    in_arrears, recovered = balance <= trip_threshold(site), balance >= restore_level(site)
    guard = Safeguards(account, now)
    changed = []
    for meter in account.meters:
        if not money_switched(meter):
            continue
        if meter.supply_desired == Supply.ON and in_arrears:
            if guard.holding(meter) is None:
                switch_for_money(session, meter, Supply.OFF, actor, balance_fen=balance)
                changed.append(meter)
        elif meter.supply_desired == Supply.OFF and meter.desired_reason == "arrears":
            because = "balance" if recovered else guard.holding(meter, warning=False)
            if because is not None:
                switch_for_money(session, meter, Supply.ON, actor, balance_fen=balance, because=because)
                changed.append(meter)
    return changed


class RuleError(ValueError):
    """Balance settings that the rules refuse; the message is for the manager."""


#: the longest warning period a site may set: one week
MAX_WARNING_MINUTES = 7 * 24 * 60


def set_safeguards(session: Session, site: Site, actor: str, *, overdraft_limit_fen: int,
                   restore_min_fen: int, max_balance_fen: int | None, low_balance_levels_fen: list[int],
                   warning_minutes: int, protect_holidays: bool, emergency_credit_fen: int) -> dict:
    """Change a site's balance rules once they make sense together; returns what changed (old, new)."""
    amounts = dict(overdraft_limit_fen=overdraft_limit_fen, restore_min_fen=restore_min_fen,
                   warning_minutes=warning_minutes, emergency_credit_fen=emergency_credit_fen)
    if any(type(v) is not int or v < 0 for v in [*amounts.values(), *low_balance_levels_fen]):
        raise RuleError(_l("Amounts and minutes must be whole numbers, 0 or more."))
    if len(low_balance_levels_fen) > len(LOW_KINDS):
        raise RuleError(_l("At most three low-balance levels."))
    if warning_minutes > MAX_WARNING_MINUTES:
        raise RuleError(_l("The warning period is at most one week (10080 minutes)."))
    if max_balance_fen is not None and (type(max_balance_fen) is not int
                                        or max_balance_fen <= restore_min_fen):
        raise RuleError(_l("The maximum balance must be above the minimum balance for restoring supply."))
    values = dict(amounts, max_balance_fen=max_balance_fen, protect_holidays=bool(protect_holidays),
                  low_balance_levels_fen=sorted(set(low_balance_levels_fen), reverse=True))
    changed = {k: [getattr(site, k), v] for k, v in values.items() if getattr(site, k) != v}
    for name, (_, new) in changed.items():
        setattr(site, name, new)
    if changed:
        audit(session, actor, "site.balance_rules", "site", site.id, site.id, changed=changed)
    return changed


def set_exempt(session: Session, account: Account, exempt: bool, actor: str,
               now: datetime | None = None) -> list[Meter]:
    """Exempt a shop from arrears trips (cold storage...) or end it; the rules apply again at once."""
    if account.exempt != bool(exempt):
        account.exempt = bool(exempt)
        audit(session, actor, "account.exempt_on" if exempt else "account.exempt_off", "account", account.id,
              account.site_id, balance_fen=account.balance_fen)
    return enforce_balance(session, account, actor=actor, now=now)


def enforce_where_low(session: Session, after: dict[int, int], actor: str) -> int:
    """Apply the balance rules to accounts that debits left at or below a low-balance level or the trip
    point (alarms once per crossing, arrears trips); returns how many meters changed supply."""
    ceilings: dict[int, int] = {}
    low = []
    for part in chunks(sorted(after)):
        for account_id, site_id in session.execute(
                select(Account.id, Account.site_id).where(among(session, Account.id, part))).tuples():
            if site_id not in ceilings:
                site = session.get(Site, site_id)
                ceilings[site_id] = max([trip_threshold(site), *low_levels(site)])
            if after[account_id] <= ceilings[site_id]:
                low.append(account_id)
    return _apply_rules(session, low, actor, None)


def apply_balance_rules(session: Session, account_ids: Iterable[int], now: datetime | None,
                        actor: str = "system:billing") -> None:
    """The balance rules for every account charged, skipping those where they cannot change anything.

    enforce_balance does nothing for a shop above every low level and the restore level, with no balance
    alarm open, no arrears warning and no meter off for arrears. One query per 20,000 shops finds the
    others (each site's level as a CASE, the alarm and the meter as indexed EXISTS probes), and only those
    are loaded: after a cycle's debits they are a handful.
    """
    ids = sorted(set(account_ids))
    if not ids:
        return
    with stopwatch.part("rules"):
        _apply_where_busy(session, ids, actor, now)


def _apply_where_busy(session: Session, ids: list[int], actor: str, now: datetime | None) -> None:
    """apply_balance_rules' work: the shops the rules can concern found set-wise, the rules applied to them."""
    a, m = Account.__table__, Meter.__table__
    sites = _sites(session)  # once for the batch: the levels, the trip points, the low levels
    # not idle at or below this balance: the highest low level, the trip point, or below the restore level
    below = {site.id: max([*low_levels(site), trip_threshold(site), restore_level(site) - 1]) for site in sites}
    level = case(*((a.c.site_id == site_id, value) for site_id, value in below.items()), else_=None)
    alarmed = select(Alarm.id).where(Alarm.kind.in_(BALANCE_KINDS), Alarm.cleared_at.is_(None),
                                     Alarm.subject == literal("account:") + cast(a.c.id, String))
    tripped = select(m.c.id).where(m.c.account_id == a.c.id, m.c.supply_desired == Supply.OFF,
                                   m.c.desired_reason == "arrears")
    busy = []
    for part in chunks(ids):
        busy += session.execute(select(a.c.id).where(among(session, a.c.id, part), or_(
            a.c.balance_fen <= level, a.c.arrears_warned_at.is_not(None), alarmed.exists(), tripped.exists())
        )).scalars().all()
    _apply_rules(session, busy, actor, now, sites)


def _sites(session: Session) -> list[Site]:
    return session.execute(select(Site)).scalars().all()


def _apply_rules(session: Session, account_ids: list[int], actor: str, now: datetime | None,
                 sites: Sequence[Site] | None = None) -> int:
    """The balance rules for many shops: their low levels set-wise (a fee run pushes thousands across one), then
    the arrears rules shop by shop for the few they can concern (at or below the trip point, or in an arrears
    episode: warned, alarmed or off for arrears), all told together; returns how many meters changed supply.
    `sites`: every site, when the caller has them."""
    a, m = Account.__table__, Meter.__table__
    sites = sites or _sites(session)
    trip = case(*((a.c.site_id == site.id, trip_threshold(site)) for site in sites), else_=None)
    alarmed = select(Alarm.id).where(Alarm.kind == AlarmKind.ARREARS, Alarm.cleared_at.is_(None),
                                     Alarm.subject == literal("account:") + cast(a.c.id, String))
    tripped = select(m.c.id).where(m.c.account_id == a.c.id, m.c.supply_desired == Supply.OFF,
                                   m.c.desired_reason == "arrears")
    switched = 0
    with together(session):
        sync_low_levels(session, account_ids, sites)
        for part in chunks(sorted(account_ids)):
            arrears = session.execute(select(a.c.id).where(among(session, a.c.id, part), or_(
                a.c.balance_fen <= trip, a.c.arrears_warned_at.is_not(None), alarmed.exists(), tripped.exists())
            )).scalars().all()
            if not arrears:
                continue
            for account in session.execute(select(Account).where(among(session, Account.id, arrears)).options(
                    joinedload(Account.site), selectinload(Account.meters))
                    .execution_options(populate_existing=True)).scalars().all():
                switched += len(enforce_balance(session, account, actor=actor, now=now, low=False))
    return switched


def arrears_candidates(session: Session) -> list[int]:
    """Ids of accounts at or below their site's trip threshold, or with a meter off for arrears."""
    in_arrears = (select(Account.id).join(Site, Site.id == Account.site_id)
                  .where(Account.balance_fen <= -Site.overdraft_limit_fen))
    tripped = select(Meter.account_id).where(
        Meter.supply_desired == Supply.OFF, Meter.desired_reason == "arrears", Meter.account_id.is_not(None))
    return sorted(session.execute(union(in_arrears, tripped)).scalars())


def enforce_arrears(session: Session, now: datetime, actor: str = "system:arrears") -> int:
    """Decide again for every shop in arrears or off for arrears at `now`; returns how many meters switched.

    Billing and payments apply the balance rules when money moves. Time alone changes the answer too: a
    warning period runs out, a no-trip window or a holiday ends (trip now) or begins (restore now), a
    site's limits are edited. Shops in arrears are few, so this simply re-applies the rules to all of
    them; the rules only write when something changes, so running it twice is harmless.
    """
    switched = 0
    with together(session):  # shops whose warning ran out at the same minute are told at once
        for account_id in arrears_candidates(session):
            # A payment or a poll cycle holding the account applies the same rules itself: skip, never wait
            # (waiting could deadlock with a cycle that locks accounts in another order).
            account = session.execute(
                select(Account).where(Account.id == account_id).with_for_update(skip_locked=True, of=Account)
                .options(joinedload(Account.site), selectinload(Account.meters))
                .execution_options(populate_existing=True)
            ).scalar_one_or_none()
            if account is not None:
                switched += len(enforce_balance(session, account, actor=actor, now=now))
    return switched
