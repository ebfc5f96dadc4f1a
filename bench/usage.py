"""The daily roll-ups' figures of SPEC §5: a tenant's 30-day and 12-month usage ≤ 50 ms server time, and what
keeping the roll-ups adds to steady polling (≤ 5 %), over a year of history for 10,030 meters.

    python -m bench.usage [--usage-reading-days 7] [--usage-requests 40] [--usage-cycles 3]

A site of 10,030 meters (one shop each). Its history, written set-wise in SQL (generate_series; never through
the poller): 15-minute readings for the last --usage-reading-days days (365: the full year, ~350 million rows and
~35 GB; the default keeps the bench at a few minutes), rolled up by `rebuild_daily` (timed); the roll-ups of the
rest of the year written directly, so the roll-up table holds a full year (3.66 million rows) either way — the
usage queries read nothing else. The ledger gets the year the roll-ups imply, also set-wise: each meter's energy
charge per day (3.66 million entries), a payment every ten days and a property fee every month per shop, with the
balance after each entry as the ledger keeps it. Then:
- the last complete month's energy report and energy-and-money statement of the whole site with their .xlsx
  (≤ 2 s each), and whether every shop's statement ties out and agrees with the roll-ups;
- GET /api/v1/accounts/<code>/usage for 30 and 365 days, through the app in-process (server time: the Flask
  test client, no network), shops at random, p95 against 50 ms; and the query functions alone;
- the poll cycle against the simulator: cycles that cross a 15-minute boundary (they record 10,030 readings and
  bill them: the only cycles with roll-ups to keep) alternately with the upkeep and with it switched off, the
  median of each, and the upkeep's own time inside them; and the steady cycles between boundaries. The bar is
  the upkeep's share of steady polling: its own time against the wall time of a quarter hour of cycles (the cron
  polls every minute; one cycle of the fifteen crosses the boundary and keeps the roll-ups). The boundary cycle
  with / without is printed beside it.
"""
from __future__ import annotations

import argparse
import dataclasses
import random
import re
import statistics
import time
from datetime import timedelta

from bench import farm as farm_mod
from bench.figures import CycleClock, Figure, full_cycle

GATEWAYS, PER_GATEWAY = 170, 59
USAGE_BAR_MS = 50.0
#: the upkeep's share of steady polling: what it adds to a quarter hour of cycles (≤ 5 %)
UPKEEP_BAR = 5.0
#: the cron polls every minute (worker/schedule.py): a quarter hour is 15 cycles, one of them crossing the boundary
CYCLES_A_QUARTER = 15
#: SPEC §5: a monthly report and its .xlsx over the whole site
REPORT_BAR_S = 2.0
SITE = "USAGE"


def add_arguments(ap: argparse.ArgumentParser) -> None:
    """The roll-up benchmark's options (shared with python -m bench)."""
    g = ap.add_argument_group("daily roll-ups")
    g.add_argument("--usage-only", action="store_true", help="only the roll-up figures")
    g.add_argument("--no-usage", action="store_true", help="skip the roll-up figures")
    g.add_argument("--usage-reading-days", type=int, default=7,
                   help="days of 15-minute readings written (365: the whole year); the rest of the year as roll-ups")
    g.add_argument("--usage-requests", type=int, default=40, help="usage requests per period (p95 reported)")
    g.add_argument("--usage-cycles", type=int, default=3, help="boundary cycles with and without the upkeep, each")


def _history(session, site_id: int, today, reading_days: int) -> dict:
    """A year of history: readings (and their roll-ups, by the rebuild) for the last days, roll-ups before."""
    from sqlalchemy import text

    from portal.metering.daily import day_start, rebuild_daily

    first_raw = today - timedelta(days=reading_days)
    year_ago = today - timedelta(days=365)
    p = dict(site=site_id, start=day_start(first_raw), steps=reading_days * 96, first=year_ago, raw=first_raw,
             price=farm_mod.PRICE_E4)
    # each shop's meter uses d = 1..7 hundredths of a kWh every quarter; the register moves with the deltas
    t = time.perf_counter()
    session.execute(text("SET LOCAL session_replication_role = replica"))  # no per-row foreign-key checks
    session.execute(text("""
        INSERT INTO interval_readings (meter_id, interval_start, energy_total, delta, billed)
        SELECT m.id, CAST(:start AS timestamptz) + k * interval '15 minutes', 1000000 + k * (1 + m.id % 7),
               CASE WHEN k > 0 THEN 1 + m.id % 7 END, true
        FROM meters m CROSS JOIN generate_series(0, :steps) k WHERE m.site_id = :site"""), p)
    session.commit()
    readings_s = time.perf_counter() - t
    t = time.perf_counter()
    rebuilt = rebuild_daily(session, first_raw, today - timedelta(days=1), site_id)
    session.commit()
    rebuild_s = time.perf_counter() - t
    # the year before the readings: what the upkeep would have left, one row per meter and day, written a day at a
    # time
    session.execute(text("""
        INSERT INTO daily_usage (meter_id, day, account_id, opening_reading, closing_reading, first_at, last_at,
                                 usage, charged_fen, readings, updated_at)
        SELECT m.id, d::date, m.account_id, (d::date - CAST(:first AS date)) * 96 * (1 + m.id % 7),
               (d::date - CAST(:first AS date) + 1) * 96 * (1 + m.id % 7), d, d + interval '1 day',
               96 * (1 + m.id % 7), 96 * (1 + m.id % 7) * :price / 10000, 96, now()
        FROM meters m CROSS JOIN generate_series(CAST(:first AS date), CAST(:raw AS date) - 1, interval '1 day') d
        WHERE m.site_id = :site
        ORDER BY 2, 1"""), p)  # day by day (the day, then the meter), as the upkeep writes them
    session.commit()
    session.execute(text("ANALYZE"))  # as autovacuum would have, over a year
    session.commit()
    counts = session.execute(text("SELECT (SELECT count(*) FROM interval_readings), "
                                  "(SELECT count(*) FROM daily_usage)")).one()
    return dict(readings=counts[0], rollups=counts[1], readings_s=readings_s, rebuild_s=rebuild_s,
                rebuilt_rows=rebuilt.rows, reading_days=reading_days)


def _timed_requests(client, token: str, codes: list[str], first, last, n: int) -> list[float]:
    headers = {"Authorization": f"Bearer {token}", "Accept-Encoding": "gzip"}
    times = []
    for i in range(n + 2):
        code = random.Random(i).choice(codes)
        began = time.perf_counter()
        r = client.get(f"/api/v1/accounts/{code}/usage?from={first}&to={last}", headers=headers)
        took = (time.perf_counter() - began) * 1000
        assert r.status_code == 200, r.status_code
        if i >= 2:  # two warm-ups: the pool, the first plans
            times.append(took)
    return times


def _p95(times: list[float]) -> float:
    return statistics.quantiles(times, n=20, method="inclusive")[18]


def _usage_figures(app, site_id: int, today, requests: int) -> list[Figure]:
    from sqlalchemy import select

    from portal.extensions import db
    from portal.metering.usage import account_days, by_month
    from portal.models import Account, Role, Site, StaffUser
    from portal.staffing.tokens import create_token

    with app.app_context():
        manager = StaffUser(username="bench-usage", role=Role.MANAGER, sites=[db.session.get(Site, site_id)])
        manager.set_password("bench-password")
        db.session.add(manager)
        db.session.flush()
        token = create_token(manager)
        db.session.commit()
        accounts = dict(db.session.execute(select(Account.code, Account.id).where(Account.site_id == site_id)).all())
        db.session.remove()
    codes = sorted(accounts)
    client = app.test_client()
    figures = []
    for label, days in (("30-day", 30), ("12-month", 365)):
        first, last = today - timedelta(days=days), today - timedelta(days=1)
        times = _timed_requests(client, token, codes, first, last, requests)
        figures.append(Figure(f"usage API: a shop's {label} usage", _p95(times), "ms", USAGE_BAR_MS, fmt=".1f",
                              note=f"p95 of {len(times)}, median {statistics.median(times):.1f} ms; GET "
                                   f"/api/v1/accounts/<code>/usage, {days} days"))
        with app.app_context():
            alone = []
            for i in range(requests):
                account_id = accounts[random.Random(i).choice(codes)]
                began = time.perf_counter()
                found = account_days(db.session, account_id, first, last)
                if days > 31:
                    by_month(found)
                alone.append((time.perf_counter() - began) * 1000)
            db.session.remove()
        figures.append(Figure(f"  query alone: account_days, {label}", statistics.median(alone), "ms", fmt=".2f",
                              note="median" + (", folded into months by by_month" if days > 31 else "")))
    return figures


def _ledger_year(session, site_id: int, today) -> dict:
    """The year's money the roll-ups imply, set-wise: the shops opened a year and a day ago; each meter charged its
    day's energy at noon, each shop paying ¥300 every ten days and a ¥100 property fee on each month's first; then
    every entry's balance_after and each shop's balance, as the ledger would have kept them."""
    from sqlalchemy import text

    from portal.metering.daily import day_start
    from portal.settings import business_tz

    t = time.perf_counter()
    tz = business_tz().key
    first = today - timedelta(days=365)
    p = dict(site=site_id, opened=day_start(first - timedelta(days=1)), first=first, today=today, tz=tz,
             price=farm_mod.PRICE_E4)
    session.execute(text("SET LOCAL session_replication_role = replica"))
    session.execute(text("UPDATE accounts SET created_at = :opened WHERE site_id = :site"), p)
    session.execute(text("""
        UPDATE ledger_entries SET created_at = :opened
        WHERE kind = 'opening' AND account_id IN (SELECT id FROM accounts WHERE site_id = :site)"""), p)
    # each entry's balance after it: the shop's opening balance plus the running sum, in the same statement
    session.execute(text("""
        WITH days AS (SELECT d::date AS day
                      FROM generate_series(CAST(:first AS date), CAST(:today AS date) - 1, interval '1 day') d)
        INSERT INTO ledger_entries (account_id, amount_fen, kind, idempotency_key, balance_after_fen, memo, actor,
                                    created_at, meter_id)
        SELECT y.account_id, y.amount_fen, y.kind, y.key,
               a.balance_fen + sum(y.amount_fen) OVER (PARTITION BY y.account_id ORDER BY y.created_at, y.key),
               'bench', 'bench', y.created_at, y.meter_id
        FROM (
            SELECT m.account_id, -(96 * (1 + m.id % 7) * :price / 10000) AS amount_fen, 'energy' AS kind,
                   'bench-energy:' || m.id || ':' || day AS key, (day + time '12:00') AT TIME ZONE :tz AS created_at,
                   m.id AS meter_id
            FROM meters m CROSS JOIN days WHERE m.site_id = :site
            UNION ALL
            SELECT a.id, 30000, 'payment', 'bench-pay:' || a.id || ':' || day, (day + time '10:00') AT TIME ZONE :tz,
                   NULL
            FROM accounts a CROSS JOIN days WHERE a.site_id = :site AND (day - CAST(:first AS date) + a.id) % 10 = 0
            UNION ALL
            SELECT a.id, -10000, 'fee', 'bench-fee:' || a.id || ':' || day, (day + time '00:05') AT TIME ZONE :tz, NULL
            FROM accounts a CROSS JOIN days WHERE a.site_id = :site AND extract(day FROM day) = 1
        ) y JOIN accounts a ON a.id = y.account_id"""), p)
    session.execute(text("""
        UPDATE accounts a SET balance_fen = s.total
        FROM (SELECT account_id, sum(amount_fen) AS total FROM ledger_entries GROUP BY account_id) s
        WHERE s.account_id = a.id AND a.site_id = :site"""), p)
    session.commit()
    session.execute(text("ANALYZE ledger_entries"))
    session.commit()
    entries = session.execute(text("SELECT count(*) FROM ledger_entries")).scalar_one()
    return dict(entries=entries, ledger_s=time.perf_counter() - t)


def _report_figures(app, site_id: int, today, runs: int = 5) -> list[Figure]:
    """The last complete month's energy report of the whole site and its .xlsx (what /staff/reports and
    /staff/reports/energy.xlsx do), timed end to end in the app."""
    from portal.extensions import db
    from portal.metering.energy_report import energy_rows, energy_xlsx
    from portal.models import Site

    month = f"{(today.replace(day=1) - timedelta(days=1)):%Y-%m}"
    times, size, meters = [], 0, 0
    with app.app_context():
        site = db.session.get(Site, site_id)
        for _ in range(runs):
            began = time.perf_counter()
            rows = energy_rows(db.session, site, month)
            size = len(energy_xlsx(rows))
            times.append(time.perf_counter() - began)
            meters = len(rows)
        db.session.remove()
    return [Figure(f"energy report + .xlsx, {month}", max(times), "s", REPORT_BAR_S, fmt=".2f",
                   note=f"worst of {runs}, median {statistics.median(times):.2f} s; {meters:,} meters, "
                        f"{size / 1024:.0f} KB")]


def _statement_checks(app, site_id: int, month: str) -> list[Figure]:
    """Whether every shop's statement of the month ties out and agrees with the roll-ups (the page's two checks)."""
    from portal.extensions import db
    from portal.models import Site
    from portal.monthly.periods import month_bounds
    from portal.monthly.statement import read_statement, totals
    from portal.settings import business_tz

    start, end = month_bounds(month, business_tz())
    with app.app_context():
        total = totals(read_statement(db.session, db.session.get(Site, site_id), month, start, end))
        db.session.remove()
    return [Figure("statement: shops that do not tie out / disagree with the roll-ups",
                   len(total.untied) + len(total.roll_up_gaps), "", 0, fmt="d",
                   note=f"{len(total.untied)} / {len(total.roll_up_gaps)}")]


def _shop_report_figures(app, site_id: int, today, runs: int = 5) -> list[Figure]:
    """The last complete month's energy per shop (/staff/reports/shops), the site's 12 months it loads after
    (/staff/reports/months), and the shops' .xlsx, each timed through the app as the manager asks for it."""
    from sqlalchemy import text

    from portal.extensions import db
    from portal.monthly.periods import month_bounds
    from portal.settings import business_tz

    month = f"{(today.replace(day=1) - timedelta(days=1)):%Y-%m}"
    start, end = month_bounds(month, business_tz())
    with app.app_context():  # the ledger's year (_ledger_year) pays every shop every ten days
        added = db.session.execute(text("SELECT count(*) FROM ledger_entries WHERE kind = 'payment' AND "
                                        "created_at >= :start AND created_at < :end"), dict(start=start, end=end))\
            .scalar_one()
        db.session.remove()
    app.config.update(WTF_CSRF_ENABLED=False)  # the bench signs in without fetching the form first
    client = app.test_client()
    answer = client.post("/auth/staff/login", data={"username": "bench-usage", "password": "bench-password"})
    assert answer.status_code in (302, 303), answer.status_code
    figures = []
    for label, path in (("statement page (every shop's checks)", f"/staff/reports/statement?site={SITE}&month={month}"),
                        ("statement .xlsx", f"/staff/reports/statement.xlsx?site={SITE}&month={month}"),
                        ("energy per shop page", f"/staff/reports/shops?site={SITE}&month={month}&sort=electric"),
                        ("  its 12 months (loaded after it)", f"/staff/reports/months?site={SITE}&month={month}"),
                        ("energy per shop .xlsx", f"/staff/reports/shops.xlsx?site={SITE}&month={month}")):
        times, size = [], 0
        for i in range(runs + 1):
            began = time.perf_counter()
            r = client.get(path)
            took = time.perf_counter() - began
            assert r.status_code == 200, (path, r.status_code)
            size = len(r.data)
            if i:  # one warm-up
                times.append(took)
        figures.append(Figure(f"{label}, {month}", max(times), "s", REPORT_BAR_S, fmt=".2f",
                              note=f"worst of {runs}, median {statistics.median(times):.2f} s; 10,030 shops, "
                                   f"{added:,} payments; {size / 1024:.0f} KB"))
    return figures + _statement_checks(app, site_id, month)


#: SPEC §5: the tenant's home page at 10,000 accounts with a year of history
HOME_BAR_MS, HOME_WEIGHT_BAR_KB = 50.0, 150.0
_ASSET = re.compile(r'<(?:script[^>]*\ssrc|link[^>]*\shref)="(/static/[^"]+)"')


def _tenant_home_figures(database_url: str, site_id: int, shops: int = 40, runs: int = 5) -> list[Figure]:
    """A shop's page (/t/a/<id>, where a tenant with one shop lands) as its tenant asks for it: server time p95
    over `shops` shops at random, `runs` times each after a warm-up; and what a first visit transfers, gzip as
    the app sends it: the page and every script and stylesheet it links."""
    import os

    from sqlalchemy import select

    from portal.extensions import db
    from portal.models import Account, TenantBinding, TenantUser

    os.environ["TENANT_DEMO_LOGIN"] = "1"  # the bench signs tenants in by account code and phone
    try:
        app = farm_mod.make_app(database_url)
    finally:
        os.environ.pop("TENANT_DEMO_LOGIN", None)
    app.config.update(WTF_CSRF_ENABLED=False)
    with app.app_context():
        ids = db.session.execute(select(Account.id, Account.code).where(Account.site_id == site_id)).all()
        chosen = random.Random(13).sample(ids, shops)
        for n, (account_id, _code) in enumerate(chosen):
            tenant = TenantUser(name="bench", phone=f"1370000{n:04d}")
            db.session.add(tenant)
            db.session.flush()
            db.session.add(TenantBinding(tenant_user_id=tenant.id, account_id=account_id))
        db.session.commit()
        db.session.remove()
    times, weight = [], 0
    for n, (account_id, code) in enumerate(chosen):
        client = app.test_client()
        answer = client.post("/auth/tenant/login", data={"account": code, "phone": f"1370000{n:04d}"})
        assert answer.status_code in (302, 303), answer.status_code
        for i in range(runs + 1):
            began = time.perf_counter()
            page = client.get(f"/t/a/{account_id}", headers={"Accept-Encoding": "gzip"})
            took = time.perf_counter() - began
            assert page.status_code == 200, page.status_code
            if i:
                times.append(took * 1000)
        if n == 0:
            html = client.get(f"/t/a/{account_id}").get_data(as_text=True)
            weight = len(page.data) + sum(len(client.get(path, headers={"Accept-Encoding": "gzip"}).data)
                                          for path in sorted(set(_ASSET.findall(html))))
    return [Figure("tenant home (a shop's page): server time p95", _p95(times), "ms", HOME_BAR_MS, fmt=".1f",
                   note=f"median {statistics.median(times):.1f} ms; {shops} shops x {runs}, a year of history"),
            Figure("tenant home: transferred on a first visit", weight / 1024, "KB", HOME_WEIGHT_BAR_KB, fmt=".1f",
                   note="the page and its scripts and stylesheets, gzip")]


class _Upkeep:
    """The roll-ups' upkeep in the cycle (portal.metering.daily.DayTotals: gathering a batch's readings and
    money, and writing their days), timed, and switched off on demand."""

    def __init__(self) -> None:
        from portal.metering.daily import DayTotals

        self.cls, self.names = DayTotals, ("add_readings", "add_charges", "flush")
        self.real = {name: getattr(DayTotals, name) for name in self.names}
        self.on, self.seconds = True, 0.0
        for name, real in self.real.items():
            setattr(DayTotals, name, self._wrap(real))

    def _wrap(self, real):
        def upkeep(*args, **kwargs):
            if not self.on:
                return 0
            began = time.perf_counter()
            try:
                return real(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - began
        return upkeep

    def restore(self) -> None:
        for name, real in self.real.items():
            setattr(self.cls, name, real)


def _cycle_figures(app, site_id: int, cycles: int) -> list[Figure]:
    from sqlalchemy import text

    from bench.simproc import SimProcess
    from portal.extensions import db
    from worker.simulator.sites import specs_for_site

    with app.app_context():
        specs = specs_for_site(db.session, SITE)
        # the simulated registers carry on from the generated history (else every meter looks reset: tamper)
        energy = dict(db.session.execute(text("""
            SELECT m.gateway_id || ':' || m.unit_id, r.energy_total FROM meters m CROSS JOIN LATERAL (
              SELECT energy_total FROM interval_readings WHERE meter_id = m.id ORDER BY interval_start DESC LIMIT 1
            ) r WHERE m.site_id = :s"""), {"s": site_id}).all())
        ids = dict(db.session.execute(text("SELECT code, id FROM gateways WHERE site_id = :s"), {"s": site_id}).all())
        db.session.remove()
    specs = [dataclasses.replace(s, meters=tuple(dataclasses.replace(
        m, energy_start=energy.get(f"{ids[s.code]}:{m.unit_id}", 0) + 10) for m in s.meters)) for s in specs]
    from datetime import UTC, datetime

    upkeep = _Upkeep()
    try:
        with SimProcess(specs, start=datetime.now(UTC).replace(hour=4, minute=0, second=0, microsecond=0),
                        speed=60) as sim:
            with app.app_context():
                farm_mod.set_ports(db.session, site_id, sim.ports)
                db.session.remove()
            clock = CycleClock()
            gateway_ids = list(ids.values())
            full_cycle(app, clock, gateway_ids)  # warm-up: states, and a first reading after the history
            runs: dict[bool, list[float]] = {True: [], False: []}
            spent: dict[bool, list[float]] = {True: [], False: []}  # inside the upkeep
            steady = []
            for i in range(2 * cycles):
                upkeep.on = i % 2 == 0
                clock.next_interval()
                upkeep.seconds = 0.0
                c = full_cycle(app, clock, gateway_ids)
                runs[upkeep.on].append(c.wall)
                spent[upkeep.on].append(upkeep.seconds)
                print(f"  boundary cycle {'with' if upkeep.on else 'without'} the upkeep: {c.wall:.3f} s wall"
                      + (f", {upkeep.seconds * 1000:.0f} ms of it the upkeep" if upkeep.on else ""))
                upkeep.on = True
                steady.append(full_cycle(app, clock, gateway_ids).wall)
    finally:
        upkeep.restore()
    with_, without = statistics.median(runs[True]), statistics.median(runs[False])
    extra, steady_wall = statistics.median(spent[True]), statistics.median(steady)
    quarter = with_ + (CYCLES_A_QUARTER - 1) * steady_wall  # the polling of a quarter hour, upkeep included
    return [
        Figure("roll-up upkeep: its share of steady polling", extra / (quarter - extra) * 100, "%", UPKEEP_BAR,
               fmt=".2f", note=f"its {extra * 1000:.0f} ms against a quarter hour's {CYCLES_A_QUARTER} cycles "
                               f"({quarter:.1f} s without it): one crosses the boundary, the rest have none to keep"),
        Figure("roll-up upkeep: boundary cycle with / without", with_ / without, "x", fmt=".3f",
               note=f"medians of {cycles}: {with_:.2f} s / {without:.2f} s; each records and bills 10,030 readings"),
        Figure("roll-up upkeep: its own time per boundary cycle", extra * 1000, "ms", fmt=".0f",
               note=f"{extra / without * 100:.1f} % of the cycle without it (timed inside the cycles, median)"),
        Figure("steady cycle (no boundary: nothing to roll up)", steady_wall, "s", fmt=".2f",
               note=f"median of {len(steady)}, with the upkeep on"),
    ]


def run(args, database) -> list[Figure]:
    """Build the site and its year, time the usage queries and the cycles' upkeep; the figures."""
    from portal.extensions import db
    from portal.metering.daily import posting_day
    from portal.models import utcnow

    app = farm_mod.make_app(database.url)
    today = posting_day(utcnow())
    with app.app_context():
        t = time.perf_counter()
        site_id = farm_mod.build_site(db.session, GATEWAYS, PER_GATEWAY, code=SITE)
        money = _ledger_year(db.session, site_id, today)
        h = _history(db.session, site_id, today, args.usage_reading_days)
        db.session.remove()
    print(f"roll-ups: {GATEWAYS * PER_GATEWAY} meters; {h['readings']:,} readings of the last {h['reading_days']} days "
          f"written in {h['readings_s']:.1f} s; {h['rollups']:,} daily roll-ups (a year); built in "
          f"{time.perf_counter() - t:.1f} s; {money['entries']:,} ledger entries in {money['ledger_s']:.1f} s")
    figures = [Figure(f"rebuild-daily: {h['reading_days']} days x {GATEWAYS * PER_GATEWAY} meters",
                      h["rebuild_s"], "s", fmt=".1f",
                      note=f"{h['rebuilt_rows']:,} meter-days from {h['readings']:,} readings and the ledger")]
    figures += _usage_figures(app, site_id, today, args.usage_requests)
    figures += _report_figures(app, site_id, today)
    figures += _shop_report_figures(app, site_id, today)
    figures += _tenant_home_figures(database.url, site_id)
    for f in figures:
        print(f"  {f.line()}")
    cycle_figures = _cycle_figures(app, site_id, args.usage_cycles)
    for f in cycle_figures:
        print(f"  {f.line()}")
    return figures + cycle_figures


def main(argv: list[str] | None = None) -> int:
    """Only these figures, in a throwaway database."""
    return farm_mod.run_alone("python -m bench.usage", __doc__, add_arguments, run, argv)


if __name__ == "__main__":
    import sys

    sys.exit(main())
