"""The staff pages' figure of SPEC §5 (the meter list with any filter, the alarm page and the dashboard: p95 ≤
150 ms server time at 10,030 meters), over a year of alarms.

    python -m bench.staff_pages [--staff-alarms 200000] [--staff-requests 30]

The 10,030-meter site of the poll benchmarks, its meters read (9 in 10 online and seen within the hour, one in 25
off for arrears, one in 100 tripped by staff, one in 200 on keep-power, one in 20 shops in arrears); the meter list
is asked with every filter and sort it has (SPEC: "the meter list with ANY filter"), a year of alarms written with one
COPY (2 % still open), and today's takings: 3,000 paid orders over four channels. Each page is asked
`--staff-requests` times through the app in-process (the Flask test client: server time, no network), as htmx
asks it (the partial), and its p95 is held against the bar.
"""
from __future__ import annotations

import argparse
import io
import random
import time
from datetime import UTC, datetime, timedelta

from bench import farm as farm_mod
from bench.figures import Figure, page_figure

GATEWAYS, PER_GATEWAY = 170, 59
KINDS = ("low_balance_1", "low_balance_2", "arrears", "meter_offline", "gateway_offline", "over_power", "tamper")
CHANNELS = ("alipay_wap", "alipay_qr", "wechat_jsapi", "wechat_native")


def add_arguments(ap: argparse.ArgumentParser) -> None:
    """The staff pages benchmark's options (shared with python -m bench)."""
    g = ap.add_argument_group("staff pages")
    g.add_argument("--staff-only", action="store_true", help="only the staff page figures")
    g.add_argument("--no-staff", action="store_true", help="skip the staff page figures")
    g.add_argument("--staff-alarms", type=int, default=200_000, help="alarms over the past year")
    g.add_argument("--staff-requests", type=int, default=30, help="requests per page (p95 reported)")


def _copy(conn, table: str, columns: str, rows) -> None:
    buf = io.StringIO()
    for row in rows:
        buf.write("\t".join(r"\N" if v is None else str(v) for v in row) + "\n")
    buf.seek(0)
    with conn.cursor() as cur, cur.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        while chunk := buf.read(1 << 20):
            copy.write(chunk)


def _fill(conn, site_id: int, alarms: int, seed: int = 7) -> None:
    """Meter states, shops in arrears, a year of alarms and today's orders for the site's 10,030 meters."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    meters = conn.execute("SELECT id, account_id, gateway_id FROM meters WHERE site_id = %s ORDER BY id",
                          (site_id,)).fetchall()
    states = []
    for n, (meter_id, _account, _gateway) in enumerate(meters):
        off = n % 25 == 0 or n % 100 == 1
        seen = None if n % 10 == 0 else (now - timedelta(seconds=rng.randrange(3600))).isoformat()
        states.append((meter_id, n % 10 != 0, "off" if off else "on", "false", n * 1000, 500 + n % 3000, 0, 0,
                       seen, now.isoformat()))
    _copy(conn, "meter_states", "meter_id, online, supply_actual, supply_inferred, energy_total, power_w, "
                                "missed_polls, over_limit_reads, last_seen_at, updated_at", states)
    conn.execute("UPDATE meters SET supply_desired = 'off', desired_reason = 'arrears' "
                 "WHERE site_id = %s AND (id - (SELECT min(id) FROM meters WHERE site_id = %s)) %% 25 = 0",
                 (site_id, site_id))
    conn.execute("UPDATE meters SET supply_desired = 'off', desired_reason = 'remote' "
                 "WHERE site_id = %s AND (id - (SELECT min(id) FROM meters WHERE site_id = %s)) %% 100 = 1",
                 (site_id, site_id))
    conn.execute("UPDATE meters SET keep_power = true "
                 "WHERE site_id = %s AND (id - (SELECT min(id) FROM meters WHERE site_id = %s)) %% 200 = 2",
                 (site_id, site_id))
    conn.execute("UPDATE accounts SET balance_fen = -1500 "
                 "WHERE site_id = %s AND (id - (SELECT min(id) FROM accounts WHERE site_id = %s)) %% 20 = 3",
                 (site_id, site_id))
    start = now - timedelta(days=365)
    step = (now - start) / alarms
    rows = []
    for i in range(alarms):
        meter_id, account_id, gateway_id = meters[rng.randrange(len(meters))]
        kind = rng.choice(KINDS)
        raised = start + step * i
        still_open = i >= alarms * 0.98
        rows.append((site_id, kind, f"meter:{meter_id}:{i}", account_id, meter_id,
                     gateway_id if kind == "gateway_offline" else None, f"{kind} on meter {meter_id}",
                     raised.isoformat(), None if still_open else (raised + timedelta(hours=2)).isoformat()))
    _copy(conn, "alarms", "site_id, kind, subject, account_id, meter_id, gateway_id, message, raised_at, cleared_at",
          rows)
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    orders = []
    for i in range(3_000):
        _meter, account_id, _gw = meters[rng.randrange(len(meters))]
        paid = day + timedelta(seconds=rng.randrange(max(int((now - day).total_seconds()), 1)))
        orders.append((f"PFB{i:08d}", account_id, rng.randrange(1_000, 50_000), rng.choice(CHANNELS), "credited",
                       f"T{i:010d}", "", "bench", (paid + timedelta(minutes=15)).isoformat(), paid.isoformat(),
                       paid.isoformat(), 0, paid.isoformat()))
    _copy(conn, "payment_orders", "out_trade_no, account_id, amount_fen, channel, status, platform_trade_no, payer, "
                                  "created_by, expires_at, paid_at, credited_at, refunded_fen, created_at", orders)
    conn.execute("VACUUM ANALYZE")



def run(args, database) -> list[Figure]:
    """Build the site, its states, alarms and takings in `database`, ask for the pages; the figures."""
    import psycopg

    from portal.extensions import db
    from portal.models import Role, Site, StaffUser

    app = farm_mod.make_app(database.url)
    app.config.update(WTF_CSRF_ENABLED=False)
    with app.app_context():
        t = time.perf_counter()
        site_id = farm_mod.build_site(db.session, GATEWAYS, PER_GATEWAY, code="STAFF")
        manager = StaffUser(username="bench-pages-manager", role=Role.MANAGER, sites=[db.session.get(Site, site_id)])
        manager.set_password("bench-password")
        db.session.add(manager)
        db.session.commit()
        gateway_id = db.session.execute(db.text("SELECT min(id) FROM gateways WHERE site_id = :s"),
                                        {"s": site_id}).scalar_one()
        db.session.remove()
    with psycopg.connect(farm_mod._plain(database.url), autocommit=True) as conn:
        _fill(conn, site_id, args.staff_alarms)
    print(f"staff pages: 10,030 meters, {args.staff_alarms:,} alarms over a year and 3,000 orders today in "
          f"{time.perf_counter() - t:.1f} s")
    client = app.test_client()
    answer = client.post("/auth/staff/login", data={"username": "bench-pages-manager", "password": "bench-password"})
    assert answer.status_code in (302, 303), answer.status_code
    pages = [
        ("dashboard", "/staff/", {}),
        ("meter list: first page", "/staff/meters", {}),
        ("meter list: search a shop", "/staff/meters", {"q": "S04321"}),
        ("meter list: search a common word", "/staff/meters", {"q": "Shop 1"}),
        ("meter list: one gateway", "/staff/meters", {"gateway": str(gateway_id)}),
        ("meter list: page 150", "/staff/meters", {"page": "150"}),
        ("meter list: offline", "/staff/meters", {"online": "no"}),
        ("meter list: supply off", "/staff/meters", {"supply": "off"}),
        ("meter list: off for arrears", "/staff/meters", {"reason": "arrears"}),
        ("meter list: keep-power", "/staff/meters", {"keep_power": "yes"}),
        ("meter list: water", "/staff/meters", {"kind": "water"}),
        ("meter list: meter mode", "/staff/meters", {"mode": "meter"}),
        ("meter list: shops in arrears", "/staff/meters", {"arrears": "yes"}),
        ("meter list: sorted by balance", "/staff/meters", {"sort": "balance"}),
        ("meter list: sorted by energy, desc", "/staff/meters", {"sort": "energy", "order": "desc"}),
        ("meter list: by last seen, page 100", "/staff/meters", {"sort": "last_seen", "page": "100"}),
        ("meter list: online, in arrears, by balance", "/staff/meters",
         {"online": "yes", "arrears": "yes", "sort": "balance", "order": "desc"}),
        ("meter list: a word, by energy", "/staff/meters", {"q": "Shop 1", "sort": "energy"}),
        ("alarms: open", "/staff/alarms", {}),
        ("alarms: all, newest first", "/staff/alarms", {"state": "all"}),
        ("alarms: all, one kind", "/staff/alarms", {"state": "all", "kind": "over_power"}),
        ("alarms: past, last 7 days", "/staff/alarms", {"state": "past", "age": "7d"}),
        ("alarms: all, a shop", "/staff/alarms", {"state": "all", "shop": "S04321"}),
        ("alarms: all, page 100", "/staff/alarms", {"state": "all", "page": "100"}),
    ]
    figures: list[Figure] = []
    for name, path, query in pages:
        figure, _answer = page_figure(client, f"staff page: {name}", path, query, args.staff_requests)
        figures.append(figure)
        print(f"  {figure.line()}")
    return figures


def main(argv: list[str] | None = None) -> int:
    """Only these figures, in a throwaway database."""
    return farm_mod.run_alone("python -m bench.staff_pages", __doc__, add_arguments, run, argv)


if __name__ == "__main__":
    import sys

    sys.exit(main())
