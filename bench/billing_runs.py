"""The monthly-run figures of SPEC §5: property fee run, allocation run (each with its idempotent
rerun) and the monthly report, over a site of ~10,000 shops.

    python -m bench.billing_runs [--shops-gateways 170] [--shops-per-gateway 59] [--reading-minutes 240]
                                 [--entries-per-day 6]

The site is built with bulk SQL in the same kind of throwaway database as the poll-cycle farm
(bench.farm): every shop has an area and a meter; 50 common meters feed three allocation groups
covering every shop (by area, by fixed shares, by consumption); last month holds interval readings of
every meter (rolled up into its days, as the poll cycle keeps them) and a ledger history of every shop
(energy charges, a payment, a fee). The runs read consumption off the daily roll-ups and the report reads
balances off `balance_after_fen`, so their cost does not grow with the density of that history: the
defaults keep the build to about a minute;
`--reading-minutes 15 --entries-per-day 96` builds the real thing (~30 million rows each, slow to build).
"""
from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, text

from bench import farm as farm_mod
from bench.figures import Figure

RUN_BAR_S = 10.0
REPORT_BAR_S = 2.0
SITE_CODE = "BILL"
COMMON_METERS = 50


def add_arguments(ap: argparse.ArgumentParser) -> None:
    """The billing benchmark's options (shared with python -m bench)."""
    g = ap.add_argument_group("monthly runs")
    g.add_argument("--billing-only", action="store_true", help="skip the poll-cycle figures")
    g.add_argument("--no-billing", action="store_true", help="skip the monthly-run figures")
    g.add_argument("--shops-gateways", type=int, default=170, help="gateways of the billing site")
    g.add_argument("--shops-per-gateway", type=int, default=59, help="shops (meters) per gateway")
    g.add_argument("--reading-minutes", type=int, default=240,
                   help="interval readings of last month, every N minutes (the poller writes 15)")
    g.add_argument("--entries-per-day", type=int, default=6,
                   help="energy ledger entries per shop per day (15-minute billing makes 96)")


def run(args, database) -> list[Figure]:
    """Build the billing site in `database` and time the runs; the figures."""
    from portal.extensions import db
    from portal.ledger.entries import ledger_mismatches
    from portal.models import LedgerEntry, utcnow
    from portal.monthly.allocation import allocate
    from portal.monthly.fees import run_fees
    from portal.monthly.periods import month_bounds, month_of, previous_month

    tz = ZoneInfo("Asia/Shanghai")
    this_month = month_of(utcnow(), tz)
    last_month = previous_month(this_month)
    start, end = month_bounds(last_month, tz)
    app = farm_mod.make_app(database.url)
    with app.app_context():
        t = time.perf_counter()
        site_id = farm_mod.build_site(db.session, args.shops_gateways, args.shops_per_gateway, code=SITE_CODE)
        sizes = _furnish(db.session, site_id, start, end, args.reading_minutes, args.entries_per_day)
        print(f"billing site: {sizes['shops']} shops, {COMMON_METERS} common meters in 3 groups, "
              f"{sizes['readings']:,} interval readings and {sizes['entries']:,} ledger entries in {last_month}; "
              f"built in {time.perf_counter() - t:.1f} s")
        s = db.session

        def timed(label, work):
            began = time.perf_counter()
            result = work()
            s.commit()
            took = time.perf_counter() - began
            print(f"  {label}: {took:.2f} s")
            return took, result

        def count_entries():
            return s.scalar(select(func.count()).select_from(LedgerEntry))

        before = count_entries()
        fee_s, fee_runs = timed(f"fees run --month {this_month}",
                                lambda: run_fees(s, this_month, site_ids={site_id}, actor="bench"))
        charged = sum(r.charged for r in fee_runs)
        after_fees = count_entries()
        fee_again_s, again = timed("fees run again (idempotent)",
                                   lambda: run_fees(s, this_month, site_ids={site_id}, actor="bench"))
        fee_rerun_posted = count_entries() - after_fees + sum(r.charged for r in again)

        alloc_s, outcomes = timed(f"allocate --period {last_month}",
                                  lambda: allocate(s, last_month, site_ids={site_id}, actor="bench"))
        after_alloc = count_entries()
        alloc_again_s, again = timed("allocate again (idempotent)",
                                     lambda: allocate(s, last_month, site_ids={site_id}, actor="bench"))
        alloc_rerun_posted = count_entries() - after_alloc + sum(o.status == "posted" for o in again)

        report_s, rows = timed(f"monthly report {last_month} (+ CSV)", lambda: _report(s, site_id, last_month,
                                                                                        start, end))
        mismatches = len(ledger_mismatches(s))
        print(f"  checks: {charged} shops charged ({after_fees - before} fee entries), "
              f"{[o.status for o in outcomes]}, {after_alloc - after_fees} allocation entries, "
              f"{rows} report rows, ledger mismatches {mismatches}")
        s.remove()
    n = sizes["shops"]
    return [
        Figure("fee run over shops", fee_s, "s", RUN_BAR_S, note=f"{n} shops, {charged} charged"),
        Figure("fee run again: entries posted", fee_rerun_posted, "", 0, fmt="d",
               note=f"idempotent rerun in {fee_again_s:.2f} s"),
        Figure("allocation run (3 groups x all shops)", alloc_s, "s", RUN_BAR_S,
               note=f"{after_alloc - after_fees} entries"),
        Figure("allocation run again: entries posted", alloc_rerun_posted, "", 0, fmt="d",
               note=f"idempotent rerun in {alloc_again_s:.2f} s"),
        Figure("monthly statement (+ .xlsx)", report_s, "s", REPORT_BAR_S,
               note=f"{rows} shops, {sizes['entries']:,} entries in the month"),
        Figure("ledger mismatches after the runs", mismatches, "", 0, fmt="d"),
    ]


def _report(session, site_id, month, start, end) -> int:
    from portal.metering.energy_report import energy_rows
    from portal.models import Site
    from portal.monthly.statement import statement, statement_xlsx

    rows = statement(session, site_id, month, start, end, energy_rows(session, session.get(Site, site_id), month))
    statement_xlsx(rows)
    return len(rows)


def _furnish(session, site_id: int, start: datetime, end: datetime, reading_minutes: int,
             entries_per_day: int) -> dict:
    """Areas, fee settings, common meters and groups, and last month's readings and ledger history."""
    from portal.metering.daily import rebuild_daily
    from portal.models import AllocationGroup, AllocationMember, AllocationMethod, Gateway, Meter, MeterKind, Protocol

    now = datetime.now(UTC)
    p = dict(site=site_id, start=start, end=end, before=start - timedelta(days=20))
    session.execute(text("UPDATE sites SET fee_rate_e4_per_m2 = 52500 WHERE id = :site"), p)
    # 20.00 to 219.99 m²; one shop in ten pays a fixed 300 yuan instead
    session.execute(text("""
        UPDATE accounts SET area_m2 = 20 + (id % 20000) / 100.0,
               fee_fixed_fen = CASE WHEN id % 10 = 0 THEN 30000 END
        WHERE site_id = :site"""), p)
    # the shops opened, with their opening balances, before last month began
    session.execute(text("UPDATE accounts SET created_at = :before WHERE site_id = :site"), p)
    session.execute(text("""
        UPDATE ledger_entries SET created_at = :before
        WHERE account_id IN (SELECT id FROM accounts WHERE site_id = :site)"""), p)
    common_gw = Gateway(site_id=site_id, code="COMMON", name="common meters", host="127.0.0.1", port=1,
                        protocol=Protocol.MODBUS_TCP, created_at=now)
    session.add(common_gw)
    session.flush()
    common = [Meter(site_id=site_id, code=f"C{i + 1:03d}", name=f"common {i + 1}", kind=MeterKind.ELECTRIC,
                    profile="chint-dtsu666", gateway_id=common_gw.id, unit_id=i + 1, created_at=now)
              for i in range(COMMON_METERS)]
    session.add_all(common)
    session.flush()
    accounts = session.execute(text("SELECT id FROM accounts WHERE site_id = :site ORDER BY id"), p).scalars().all()
    plans = (("LIGHTS", AllocationMethod.AREA, common[:20]), ("LIFTS", AllocationMethod.FIXED, common[20:30]),
             ("HVAC", AllocationMethod.CONSUMPTION, common[30:]))
    for code, method, sources in plans:
        group = AllocationGroup(site_id=site_id, code=code, name=code.title(), method=method, created_at=now)
        group.sources = sources
        session.add(group)
        session.flush()
        session.execute(AllocationMember.__table__.insert(),
                        [dict(group_id=group.id, account_id=a, share=1 + a % 3) for a in accounts])
    session.commit()
    # every meter: a baseline reading as last month began, then one each interval (delta 1..7 x 0.01 kWh
    # for shops, 50..99 for common meters), the register moving with the deltas as the poller writes it
    session.execute(text("""
        INSERT INTO interval_readings (meter_id, interval_start, energy_total, delta, billed)
        SELECT m.id, CAST(:start AS timestamptz) + k * make_interval(mins => :step), k * d.d,
               CASE WHEN k > 0 THEN d.d END, true
        FROM generate_series(0, CAST(EXTRACT(EPOCH FROM CAST(:end AS timestamptz) - CAST(:start AS timestamptz))
                                     / 60 / :step AS int)) k
        CROSS JOIN meters m
        CROSS JOIN LATERAL (SELECT CASE WHEN m.account_id IS NULL THEN 50 + m.id % 50 ELSE 1 + m.id % 7 END) d(d)
        WHERE m.site_id = :site"""), dict(p, step=reading_minutes))
    readings = session.scalar(text("SELECT count(*) FROM interval_readings"))
    # the poll cycle keeps the days as it writes the readings; written in bulk here, they are rolled up at once
    days = [d.astimezone(ZoneInfo("Asia/Shanghai")).date() for d in (start, end)]
    rebuild_daily(session, days[0] - timedelta(days=1), days[1], site_id)
    # every shop: an energy charge every 86400/per_day s through last month, the month's fee just after
    # it began and a payment on the 5th; running balances computed in closed form (no window sort)
    steps = int((end - start).total_seconds() * entries_per_day // 86400)
    step = 86400 / entries_per_day
    fee_at, pay_at = 7, 4 * 86400 + 7  # seconds into the month, off the energy grid
    q = dict(p, steps=steps, step=step, fee_at=fee_at, pay_at=pay_at, opening=farm_mod.OPENING_FEN,
             before_pay=int(pay_at // step) + 1)
    session.execute(text("""
        INSERT INTO ledger_entries (account_id, amount_fen, kind, idempotency_key, balance_after_fen, memo, actor,
                                    created_at)
        SELECT a.id, -(1 + a.id % 5), 'energy', 'bench-energy:' || a.id || ':' || n,
               :opening - (1 + a.id % 5) * (n + 1) - CASE WHEN n * :step > :fee_at THEN 20000 ELSE 0 END
                 + CASE WHEN n * :step > :pay_at THEN 50000 ELSE 0 END,
               '', 'bench', CAST(:start AS timestamptz) + make_interval(secs => n * :step)
        FROM generate_series(0, :steps - 1) n CROSS JOIN accounts a
        WHERE a.site_id = :site"""), q)
    session.execute(text("""
        INSERT INTO ledger_entries (account_id, amount_fen, kind, idempotency_key, balance_after_fen, memo, actor,
                                    created_at)
        SELECT a.id, -20000, 'fee', 'bench-fee:' || a.id, :opening - (1 + a.id % 5) - 20000, '', 'bench',
               CAST(:start AS timestamptz) + make_interval(secs => :fee_at)
        FROM accounts a WHERE a.site_id = :site
        UNION ALL
        SELECT a.id, 50000, 'payment', 'bench-pay:' || a.id,
               :opening - (1 + a.id % 5) * :before_pay - 20000 + 50000, '', 'bench',
               CAST(:start AS timestamptz) + make_interval(secs => :pay_at)
        FROM accounts a WHERE a.site_id = :site"""), q)
    session.execute(text("""
        UPDATE accounts SET balance_fen = :opening - 20000 + 50000 - (1 + id % 5) * :steps
        WHERE site_id = :site"""), q)
    session.commit()
    session.execute(text("ANALYZE"))
    session.commit()
    entries = session.scalar(text("SELECT count(*) FROM ledger_entries "
                                  "WHERE created_at >= :start AND created_at < :end"),
                             p)
    return dict(shops=len(accounts), readings=readings, entries=entries)


def main(argv: list[str] | None = None) -> int:
    """Only these figures, in a throwaway database."""
    return farm_mod.run_alone("python -m bench.billing_runs", __doc__, add_arguments, run, argv)


if __name__ == "__main__":
    sys.exit(main())
