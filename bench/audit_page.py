"""The audit page's figure of SPEC §5 (staff pages p95 ≤ 150 ms server time at 10,030 meters), over a year of
audit entries.

    python -m bench.audit_page [--audit-rows 1200000] [--audit-requests 30]

A year at 10,030 meters, estimated: per shop and month two payment orders (created, paid: 4 entries), about one
supply event (arrears warning, off, restored), a fifth of a counter recharge and a purse write, plus the staff's
commands, proposals and refunds: ~12 entries a shop a month, about 1.2 million a year. They are written with one
COPY (about a minute with the indexes), spread over the past 365 days, 90 % on the 10,030-meter site, 8 % on a
second site, 2 % on no site. Each scenario is asked `--audit-requests` times through the app in-process (the
Flask test client: server time, no network), and its p95 is held against the bar.

The page wants indexes no migration has made yet (portal/staff/audit.py says which); they are created here.
"""
from __future__ import annotations

import argparse
import io
import json
import random
import sys
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from bench import farm as farm_mod
from bench.figures import Figure, page_figure

SITE_CODE, OTHER_CODE = "AUDIT", "AUDIT2"
#: the indexes the page's queries want, until a migration adds them (name, columns)
WANTED_INDEXES = (
    ("ix_audit_log_at", "at"),
    ("ix_audit_log_site_at", "site_id, at"),
    ("ix_audit_log_actor_at", "actor, at"),
    ("ix_audit_log_action_at", "action, at"),
)
#: (action, target type, weight, actor kind): what a year of a mall's audit log is made of
MIX = (
    ("order.created", "payment_order", 20, "tenant"), ("order.pay_started", "payment_order", 20, "tenant"),
    ("account.arrears_warned", "account", 8, "system:balance"), ("meter.arrears", "meter", 8, "system:balance"),
    ("meter.restored", "meter", 8, "system:balance"), ("counter.recharge", "ledger_entry", 8, "cashier"),
    ("meter.purchase_written", "meter", 8, "system:poller"), ("meter.purchase_queued", "meter", 8, "cashier"),
    ("meter.trip", "meter", 3, "operator"), ("meter.close", "meter", 3, "operator"),
    ("refund.requested", "refund", 1.5, "cashier"), ("proposal.proposed", "proposal", 1.5, "cashier"),
    ("proposal.approved", "proposal", 1.5, "manager"), ("counter.reversal", "ledger_entry", 0.3, "cashier"),
    ("site.balance_rules", "site", 0.05, "manager"), ("meter.tariff.assign", "meter", 0.2, "manager"),
)
REASONS = ("inspection", "tenant asked", "meter box open", "renovation", "end of lease")


def add_arguments(ap: argparse.ArgumentParser) -> None:
    """The audit page benchmark's options (shared with python -m bench)."""
    g = ap.add_argument_group("audit page")
    g.add_argument("--audit-only", action="store_true", help="only the audit page figures")
    g.add_argument("--no-audit", action="store_true", help="skip the audit page figures")
    g.add_argument("--audit-rows", type=int, default=1_200_000, help="audit entries over the past year")
    g.add_argument("--audit-requests", type=int, default=30, help="requests per scenario (p95 reported)")


def _fill(conn, rows: int, site_id: int, other_id: int, meters: int, seed: int = 12) -> None:
    """`rows` entries over the past year, oldest first, through one COPY."""
    rng = random.Random(seed)
    actions = list(MIX)
    weights = [m[2] for m in MIX]
    now = datetime.now(UTC)
    start = now - timedelta(days=365)
    step = (now - start) / rows
    buf = io.StringIO()
    for i in range(rows):
        action, target, _, who = rng.choices(actions, weights)[0]
        shop = rng.randrange(meters) + 1
        actor = {"tenant": f"tenant:{shop}", "cashier": f"staff:cashier{rng.randrange(20):02d}",
                 "operator": f"staff:op{rng.randrange(10):02d}", "manager": f"staff:manager{rng.randrange(3)}"}.get(
                     who, who)
        r = rng.random()
        site = site_id if r < 0.90 else other_id if r < 0.98 else None
        detail = {"account": f"S{shop:05d}", "amount_fen": rng.randrange(100, 100_000)}
        if action.startswith("meter.") and who == "operator":
            detail = {"reason": rng.choice(REASONS), "supply_desired": "off" if action == "meter.trip" else "on"}
        elif action == "site.balance_rules":
            detail = {"changed": {"overdraft_limit_fen": [0, rng.randrange(10_000)]}}
        at = start + step * i
        ip = f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}" if who != "tenant" and \
            not who.startswith("system") else ""
        buf.write("\t".join((at.isoformat(), actor, action, target, str(shop), str(site) if site else r"\N",
                             json.dumps(detail).replace("\\", "\\\\"), ip or r"\N")) + "\n")
    buf.seek(0)
    with conn.cursor() as cur, cur.copy("COPY audit_log (at, actor, action, target_type, target_id, site_id, "
                                        "detail, ip) FROM STDIN") as copy:
        while chunk := buf.read(1 << 20):
            copy.write(chunk)



def run(args, database) -> list[Figure]:
    """Build the audit site and its year of entries in `database`, ask for the page; the figures."""
    import psycopg

    from portal.extensions import db
    from portal.models import Role, Site, StaffUser

    app = farm_mod.make_app(database.url)
    app.config.update(WTF_CSRF_ENABLED=False)
    with app.app_context():
        t = time.perf_counter()
        site_id = farm_mod.build_site(db.session, 170, 59, code=SITE_CODE)
        other = Site(code=OTHER_CODE, name="Second mall")
        db.session.add(other)
        db.session.flush()
        sites = {SITE_CODE: db.session.get(Site, site_id), OTHER_CODE: other}
        for name, role, mine in (("bench-admin", Role.ADMIN, []), ("bench-manager", Role.MANAGER, [SITE_CODE]),
                                 ("bench-manager2", Role.MANAGER, [SITE_CODE, OTHER_CODE]),
                                 ("bench-auditor", Role.AUDITOR, [SITE_CODE])):
            user = StaffUser(username=name, role=role, sites=[sites[c] for c in mine])
            user.set_password("bench-password")
            db.session.add(user)
        db.session.commit()
        other_id = other.id
        db.session.remove()
    built = time.perf_counter() - t
    with psycopg.connect(farm_mod._plain(database.url), autocommit=True) as conn:
        t = time.perf_counter()
        for name, columns in WANTED_INDEXES:
            conn.execute(f"CREATE INDEX IF NOT EXISTS {name} ON audit_log ({columns})")
        _fill(conn, args.audit_rows, site_id, other_id, 170 * 59)
        conn.execute("VACUUM ANALYZE audit_log")
        filled = time.perf_counter() - t
        size = conn.execute("SELECT pg_size_pretty(pg_total_relation_size('audit_log'))").fetchone()[0]
    print(f"audit page: site of 10,030 meters built in {built:.1f} s; {args.audit_rows:,} audit entries over a "
          f"year (COPY, indexes, analyze) in {filled:.1f} s; audit_log with its indexes: {size}")

    month_ago = (datetime.now(UTC) - timedelta(days=200)).date()
    scenarios = [
        ("bench-manager", "first page (manager of the site)", {}),
        ("bench-admin", "first page (admin, every site)", {}),
        ("bench-auditor", "first page (auditor: site + no site)", {}),
        ("bench-manager2", "first page (manager of two sites)", {}),
        ("bench-manager", "by who (a cashier)", {"who": "cashier07"}),
        ("bench-manager", "by action (common: order.created)", {"action": "order.created"}),
        ("bench-manager", "by action (rare: site.balance_rules)", {"action": "site.balance_rules"}),
        ("bench-admin", "by site (the second site)", {"site": OTHER_CODE}),
        ("bench-manager", "by days (one week, 200 days ago)",
         {"from": month_ago.isoformat(), "to": (month_ago + timedelta(days=6)).isoformat()}),
        ("bench-manager", "by target (a meter code)", {"target": "M04321"}),
        ("bench-manager", "by action and days", {"action": "meter.trip", "from": month_ago.isoformat()}),
        ("bench-manager", "free text (common: inspection; last 7 days)", {"q": "inspection"}),
        ("bench-manager", "free text (rare: a shop code; last 7 days)", {"q": "S04321"}),
        ("bench-manager", "free text + who (a shop code, a cashier)", {"q": "S04321", "who": "cashier07"}),
        ("bench-manager", "free text + action (a shop code, last 7 days)",
         {"q": "S04321", "action": "counter.recharge"}),
        ("bench-manager", "free text + a week", {"q": "S04321", "from": month_ago.isoformat(),
                                                   "to": (month_ago + timedelta(days=6)).isoformat()}),
    ]
    figures: list[Figure] = []
    clients = {}
    for username in {s[0] for s in scenarios}:
        clients[username] = app.test_client()
        answer = clients[username].post("/auth/staff/login", data={"username": username,
                                                                    "password": "bench-password"})
        assert answer.status_code in (302, 303), answer.status_code
    with app.app_context():
        deep = db.session.execute(text("SELECT id FROM audit_log WHERE site_id = :s ORDER BY at DESC, id DESC "
                                       "OFFSET 2500 LIMIT 1"), {"s": site_id}).scalar_one()
        db.session.remove()
    scenarios.append(("bench-manager", "page 51 (keyset cursor)", {"before": str(deep)}))
    for username, name, query in scenarios:
        figure, response = page_figure(clients[username], f"audit page: {name}", "/staff/audit", query,
                                       args.audit_requests)
        figure.note += f", {response.get_data(as_text=True).count('data-entry=')} rows"
        figures.append(figure)
        print(f"  {figure.line()}")
    return figures


def main(argv: list[str] | None = None) -> int:
    """Only these figures, in a throwaway database."""
    return farm_mod.run_alone("python -m bench.audit_page", __doc__, add_arguments, run, argv)


if __name__ == "__main__":
    sys.exit(main())
