"""One demo shop's year of money, day by day, from its meters' readings: what the platform would have posted.

A shop (`ShopYear`) starts a year ago from its opening balance and lives the year the way the platform's rules
would have booked it:

- each meter's day is charged once, at 23:59:59 business time, at its tariff's exact cost with the sub-fen
  remainder carried (portal.tariffs.pricing); platform-mode meters as ENERGY or WATER keyed
  `energy:<meter>:history:<day>` (the live cycle keys per interval, `energy:<meter>:<interval>`), meter-mode ones
  as the usage debit that mirrors the meter, `usage:<meter>:history:<day>`. The memo says it is a day of the
  demo's history;
- supply goes off the quarter-hour the day's charges take the balance to the trip point (cold stores are
  exempt, as SPEC §3 allows) and comes back when a payment lifts it to the restore level: no use in between;
- tenants pay when the days left run short (keeping enough for the 1st's bill at the end of a month), and top
  up a little now and then (WeChat Pay, Alipay, or cash at the counter); a few late payers wait until they are
  cut off;
- on the 1st, the property fee (00:05) as the fee run splits it, then the common areas (00:30) as allocated;
  money in repays fee arrears first (`fee-repay:<cause>`), as a payment's crediting does;
- a meter-mode shop's purchases and deductions count in its meter's one write sequence.

Everything comes out as rows (ledger entries in order with their balance after, orders, fee charges, commands),
written set-wise by portal.sites.demo_history.
"""
from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from portal.models import Channel, EntryKind
from portal.sites.demo_shapes import quarter_hours
from portal.tariffs.pricing import E5_PER_UNIT, FEN_E5

#: how tenants pay: online channels and the counter's cash, with their weights
CHANNELS = (("wechat_jsapi", 35), ("wechat_native", 15), ("alipay_wap", 20), ("alipay_qr", 10), ("cash", 20))
CHARGE_TIME = timedelta(hours=23, minutes=59, seconds=59)
FEE_TIME, ALLOCATION_TIME = timedelta(minutes=5), timedelta(minutes=30)


@dataclass
class DemoMeter:
    """A shop meter as the history needs it."""

    id: int
    code: str
    kind: str  #: electric or water
    meter_mode: bool
    trade: str
    peak: int  #: W, or L/h for water
    price_e4: int
    register: int  #: where its register stood a year ago
    remainder_e5: int = 0
    writes: int = 0  #: meter mode: purchases and deductions acknowledged
    purchased_fen: int = 0
    deducted_fen: int = 0


@dataclass
class Month:
    """What the 1st of a month brings a shop: its fee (fee, basis) and its allocation parts (key, fen, memo)."""

    fee: tuple[int, str] | None
    parts: list[tuple[str, int, str]]


@dataclass
class ShopYear:
    """One shop's year: feed it days in order (`live`), then read its rows."""

    account_id: int
    code: str
    meters: list[DemoMeter]
    balance: int
    rng: random.Random
    split_fee: Callable[[int, int], tuple[int, int]]
    late_payer: bool = False
    exempt: bool = False  #: a cold store: never cut off for money
    restore_at: int = 1  #: the restore level R, fen
    trip_at: int = 0  #: the trip point T, fen
    fee_arrears: int = 0
    off_since: datetime | None = None
    entries: list[dict] = field(default_factory=list)
    orders: list[dict] = field(default_factory=list)
    fees: list[dict] = field(default_factory=list)
    commands: list[dict] = field(default_factory=list)
    trips: int = 0
    #: per meter: what it used in each quarter-hour of the year (its readings' deltas)
    deltas: dict[int, list[int]] = field(default_factory=dict)
    _daily: float = 0.0  # a running mean of the daily charge, fen: how long the balance lasts

    def __post_init__(self) -> None:
        # what a day costs, as the tenant reckons it: first from a typical day, then from the days charged
        typical = random.Random(0)
        self._daily = sum(sum(quarter_hours(m.trade, m.peak, date(2026, 3, 3), typical)) * m.price_e4
                          * E5_PER_UNIT[m.kind] for m in self.meters) / FEN_E5
        self.threshold_days = self.rng.uniform(3, 9)
        self._bill = int(10 * self._daily)  # the 1st's fee and common areas, as last month's were
        self.patience = self.rng.randint(1, 3)
        for m in self.meters:
            self.deltas[m.id] = []

    # -- a day ------------------------------------------------------------------------------------

    def live(self, day: date, midnight: datetime, quarters: int, month: Month | None) -> None:
        """One business day from `midnight` (UTC instant of 00:00), `quarters` of its 96 quarter-hours (fewer on
        the history's last day, which ends at its last reading: nothing is dated after it)."""
        self._day_end = midnight + (CHARGE_TIME if quarters == 96 else timedelta(minutes=15 * quarters))
        if month is not None:
            self._first_of_month(day, midnight, month)
        pay_at = midnight + timedelta(hours=self.rng.randint(9, 20), minutes=self.rng.randint(0, 59),
                                      seconds=self.rng.randint(0, 59))
        was_off = self.off_since is not None
        if quarters * 900 > (pay_at - midnight).total_seconds():
            self._maybe_pay(day, pay_at)
        if self.off_since is not None:
            dark = quarters
        elif was_off:  # restored by today's payment: dark until then
            dark = int((pay_at - midnight).total_seconds() // 900) + 1
        else:
            dark = 0
        used = {m.id: quarter_hours(m.trade, m.peak, day, self.rng)[:quarters] for m in self.meters}
        for d in used.values():
            d[:dark] = [0] * min(dark, len(d))
        self._charge_day(day, midnight, used, quarters)

    def _charge_day(self, day: date, midnight: datetime, used: dict[int, list[int]], quarters: int) -> None:
        """Walk the day's quarter-hours; trip where the money runs out; post each meter's day at 23:59:59."""
        cost = {m.id: sum(used[m.id]) * m.price_e4 * E5_PER_UNIT[m.kind] for m in self.meters}
        owed = sum((cost[m.id] + m.remainder_e5) // FEN_E5 for m in self.meters)
        tripped_at = None
        if not self.exempt and self.off_since is None and self.balance - owed <= self.trip_at:
            tripped_at = self._trip_point(midnight, used, quarters)
            cost = {m.id: sum(used[m.id]) * m.price_e4 * E5_PER_UNIT[m.kind] for m in self.meters}
        charged = 0
        for m in self.meters:
            d = used[m.id]
            self.deltas[m.id].extend(d)
            fen, m.remainder_e5 = divmod(cost[m.id] + m.remainder_e5, FEN_E5)
            charged += fen
            if fen:
                unit = "m³" if m.kind == "water" else "kWh"
                amount = sum(d) / (1000 if m.kind == "water" else 100)
                what = "usage" if m.meter_mode else m.kind.replace("electric", "energy")
                kind = EntryKind.WATER if m.kind == "water" else EntryKind.ENERGY
                self._post(kind, -fen, f"{what}:{m.id}:history:{day.isoformat()}", self._day_end,
                           memo=f"{m.code} {day.isoformat()} {amount:.2f} {unit}: the day's readings (demo history)",
                           actor="system:billing", meter_id=m.id)
        if self.off_since is None and not tripped_at:
            self._daily = 0.8 * self._daily + 0.2 * charged
        if tripped_at is not None:
            self._switch("trip", tripped_at)

    def _trip_point(self, midnight: datetime, used: dict[int, list[int]], quarters: int) -> datetime | None:
        """The quarter-hour the day's use takes the balance to the trip point: supply off, nothing used after."""
        cost = dict.fromkeys(used, 0)
        for q in range(quarters):
            for m in self.meters:
                cost[m.id] += used[m.id][q] * m.price_e4 * E5_PER_UNIT[m.kind]
            if self.balance - sum((cost[m.id] + m.remainder_e5) // FEN_E5 for m in self.meters) <= self.trip_at:
                for d in used.values():
                    d[q + 1:] = [0] * (len(d) - q - 1)
                return midnight + timedelta(minutes=15 * (q + 1))
        return None

    def _first_of_month(self, day: date, midnight: datetime, month: Month) -> None:
        self._bill = (month.fee[0] if month.fee else 0) + sum(fen for _, fen, _ in month.parts)
        if month.fee is not None:
            fee, basis = month.fee
            held = self.balance
            posted, owed = self.split_fee(fee, held)
            label = day.strftime("%Y-%m")
            at = midnight + FEE_TIME
            self.fees.append(dict(account_id=self.account_id, month=label, fee_fen=fee, posted_fen=posted,
                                  arrears_fen=owed, basis=basis, actor="system:fees", created_at=at))
            if posted:
                self._post(EntryKind.FEE, -posted, f"fee:{self.account_id}:{label}", at, memo=f"{label} {basis}",
                           actor="system:fees")
                self._meter_write(-posted)
            self.fee_arrears += owed
        for key, fen, memo in month.parts:
            if fen:
                self._post(EntryKind.ALLOCATION, -fen, key, midnight + ALLOCATION_TIME, memo=memo,
                           actor="system:allocation")
                self._meter_write(-fen)
        if self.off_since is None and not self.exempt and self.balance <= self.trip_at:
            self._switch("trip", midnight + ALLOCATION_TIME)

    # -- payments ---------------------------------------------------------------------------------

    def _maybe_pay(self, day: date, at: datetime) -> None:
        daily = max(self._daily, 500.0)
        if self.off_since is not None:
            if not self.late_payer or (at - self.off_since).days >= self.patience:
                owed = self.fee_arrears + max(-self.balance, 0)
                self._pay(day, at, owed + _round_up(daily * self.rng.uniform(20, 40)))
            return
        if self.late_payer:
            return  # they wait for the cut
        # the bill of the 1st is no surprise: a tenant keeps enough for it in the last days of a month
        upcoming = self._bill if day.day >= 25 else 0
        days_left = (self.balance - upcoming) / daily
        if days_left < self.threshold_days:
            self._pay(day, at, upcoming + _round_up(daily * self.rng.uniform(20, 45)))
        elif self.rng.random() < 0.06:
            self._pay(day, at, self.rng.choice((5_000, 10_000, 20_000, 30_000)))

    def _pay(self, day: date, at: datetime, amount: int) -> None:
        channel = self.rng.choices([c for c, _ in CHANNELS], weights=[w for _, w in CHANNELS])[0]
        n = len(self.orders) + sum(1 for e in self.entries if e["kind"] == EntryKind.CASH)
        if channel == "cash":
            key = f"cash:counter:demo-history-{self.code}-{n:03d}"
            self._post(EntryKind.CASH, amount, key, at, memo="", actor="staff:cashier", method="cash")
        else:
            trade_no = f"DH{day:%y%m%d}{self.account_id:05d}{n:03d}"
            platform = (f"4200{self.account_id:06d}{day:%Y%m%d}{n:04d}" if channel.startswith("wechat")
                        else f"{day:%Y%m%d}2200{self.account_id:06d}{n:04d}")
            # created now; paid and credited by the state machine when written (portal.sites.demo_history)
            self.orders.append(dict(out_trade_no=trade_no, account_id=self.account_id, amount_fen=amount,
                                    channel=Channel(channel), payer="", created_by=f"tenant:{self.code}",
                                    expires_at=at + timedelta(minutes=30), refunded_fen=0,
                                    created_at=at - timedelta(seconds=40), paid_at=at, platform_trade_no=platform))
            key = f"payment:{trade_no}"
            self._post(EntryKind.PAYMENT, amount, key, at, memo=f"{channel} {platform}", actor=f"pay:{channel}",
                       order=trade_no)
        left = amount
        repay = min(self.fee_arrears, left)
        if repay:
            self._post(EntryKind.FEE, -repay, f"fee-repay:{key}", at, memo=f"repaid first from {key}",
                       actor="system:fees")
            self.fee_arrears -= repay
            left -= repay
        self._meter_write(left)
        if self.off_since is not None and self.balance >= self.restore_at:
            self._switch("close", at + timedelta(seconds=2))

    # -- writing ----------------------------------------------------------------------------------

    def _post(self, kind: EntryKind, amount: int, key: str, at: datetime, *, memo: str, actor: str,
              meter_id: int | None = None, method: str | None = None, order: str | None = None) -> None:
        if type(amount) is not int:  # money is integer fen, as post_entry insists
            raise TypeError(f"{key}: amount must be an int, got {amount!r}")
        if self.entries and at <= self.entries[-1]["created_at"]:
            at = self.entries[-1]["created_at"] + timedelta(microseconds=1)  # distinct, ordered instants
        self.balance += amount
        self.entries.append(dict(account_id=self.account_id, amount_fen=amount, kind=kind, idempotency_key=key,
                                 balance_after_fen=self.balance, memo=memo[:200], actor=actor, approved_by=None,
                                 method=method, order_id=None, meter_id=meter_id, reverses_id=None, created_at=at,
                                 order=order))

    def _meter_write(self, amount: int) -> None:
        """Money into (or out of) a meter-mode shop's meter: one more write in its count sequence."""
        purse = next((m for m in self.meters if m.meter_mode), None)
        if purse is None or amount == 0:
            return
        purse.writes += 1
        if amount > 0:
            purse.purchased_fen += amount
        else:
            purse.deducted_fen -= amount

    def _switch(self, action: str, at: datetime) -> None:
        """Supply off for arrears, or back on: each meter's command, applied at once (the gateway was up)."""
        self.off_since = at if action == "trip" else None
        self.trips += action == "trip"
        for m in self.meters:
            if m.meter_mode:
                continue  # the meter trips and restores itself
            self.commands.append(dict(meter_id=m.id, action=action, actor="system:balance",
                                      reason="arrears" if action == "trip" else "restored", payload=None,
                                      status="applied", applied_at=at + timedelta(seconds=20), error="",
                                      idempotency_key=None, created_at=at, at=at))


def _round_up(fen: float) -> int:
    """A tenant's round amount: whole hundreds of yuan, at least ¥100."""
    return max(10_000, math.ceil(fen / 10_000) * 10_000)
