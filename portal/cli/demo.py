"""`demo seed`: the embedded demo site, its users and tenants, and a year of history (`demo run` is the worker's:
worker.cli).

The history's monthly parts are the monthly runs' own rules (portal.monthly), which portal.sites may not import
(they are siblings in the layer contract): they are composed here, the one place above both.
"""
from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.bulk import insert_rows
from portal.cli.demo_notify import notify_lines, seed_binding_codes, seed_recipients
from portal.control.balance import trip_threshold
from portal.extensions import db
from portal.models import Account, AllocationLine, AllocationMember, AllocationRun, Meter, Site
from portal.monthly.allocation import Skip, price_and_split
from portal.monthly.fees import fee_for, set_fee_settings, split_fee
from portal.monthly.groups import add_source, create_group
from portal.settings import DEFAULT_PUBLIC_BASE_URL
from portal.sites.demo import SITE_CODE, login_lines, openings, seed
from portal.sites.demo_history import MonthlyRules, backfill, fast_sqlite
from portal.sites.demo_shapes import common_trade

demo = AppGroup("demo", help="The embedded demo site.")
#: the demo's property fee: ¥3.00 per m² a month
FEE_RATE_E4 = 30_000
#: the demo's allocation groups: code, name, the common meters' trade
GROUPS = (("LIGHT", "公共照明 common lighting", "lighting"), ("LIFT", "扶梯电梯 escalators and lifts", "escalator"))


@demo.command("seed")
@click.option("--port", type=int, default=None, help="The port `demo run` will serve on (for the printed links).")
@click.option("--history-days", type=click.IntRange(0, 366), default=365, show_default=True,
              help="Days of readings and money to backfill on a new demo site (0: none).")
def seed_command(port: int | None, history_days: int):
    """Create (or refresh) the demo site, users and tenants, backfill its history, and print the logins."""
    began = time.perf_counter()
    session = db.session
    instance = Path(current_app.instance_path)
    with fast_sqlite(session):
        lines = seed(session, instance, history=history_days > 0)
        site = session.execute(select(Site).where(Site.code == SITE_CODE)).scalar_one()
        if history_days:
            lines += backfill(session, site, openings(), lambda: _monthly_rules(session, site),
                              days=history_days).lines()
        recipients = seed_recipients(session, site)
        codes, shown = seed_binding_codes(session, site, instance)
        lines.append(f"Staff recipients: {recipients} added; binding codes: {codes} issued.")
        session.commit()
    base = current_app.config["PUBLIC_BASE_URL"]
    if port is not None and base == DEFAULT_PUBLIC_BASE_URL:
        base = f"http://127.0.0.1:{port}"
    for line in [*lines, f"Seeded in {time.perf_counter() - began:.1f} s.", *login_lines(base),
                 *notify_lines(base, shown)]:
        click.echo(line)


def _monthly_rules(session: Session, site: Site) -> MonthlyRules:
    """The fee and allocation as the monthly runs decide them, for the history of a new site (its fee rate and
    allocation groups set up here first; a site that has them already is left as it is)."""
    if not site.fee_rate_e4_per_m2 and not site.fee_fixed_fen:
        set_fee_settings(session, site, "system:demo", rate_e4_per_m2=FEE_RATE_E4, fixed_fen=0, trip_enabled=False)
    accounts = session.execute(select(Account).where(Account.site_id == site.id).order_by(Account.id)).scalars().all()
    due = {}
    for a in accounts:
        fee, basis = fee_for(site.fee_rate_e4_per_m2 if a.fee_rate_e4_per_m2 is None else a.fee_rate_e4_per_m2,
                             a.area_m2, site.fee_fixed_fen if a.fee_fixed_fen is None else a.fee_fixed_fen)
        if fee > 0:
            due[a.id] = (fee, basis)
    groups = _allocation_groups(session, site, accounts)
    trip_point, trip_enabled = trip_threshold(site), site.fee_trip_enabled

    def allocate(period: str, start: datetime, end: datetime) -> dict[int, list[tuple[str, int, str]]]:
        parts: dict[int, list[tuple[str, int, str]]] = {}
        for group in groups:
            try:
                planned = price_and_split(session, group, start, end)
            except Skip:
                continue
            _write_run(session, group, period, start, end, planned)
            for account_id, fen in planned.parts.items():
                parts.setdefault(account_id, []).append((f"alloc:{group.id}:{period}:{account_id}", fen,
                                                         f"{group.code} {period}"))
        return parts

    return MonthlyRules(fees_due=due, split_fee=lambda fee, balance: split_fee(fee, balance, trip_point, trip_enabled),
                        allocate=allocate)


def _allocation_groups(session: Session, site: Site, accounts: list[Account]) -> list:
    """Two groups sharing the common meters by floor area over every shop: lighting, escalators and lifts."""
    commons = session.execute(select(Meter).where(Meter.site_id == site.id, Meter.account_id.is_(None))
                              .order_by(Meter.code)).scalars().all()
    groups = []
    for code, name, trade in GROUPS:
        group = create_group(session, site, "system:demo", code=code, name=name, method="area")
        for meter in commons:
            if common_trade(int(meter.code[-2:])) == trade:
                add_source(session, group, meter, "system:demo")
        # every shop, by floor area: set-wise (the page's verb, one shop at a time, takes seconds for 300)
        insert_rows(session, AllocationMember.__table__,
                    [dict(group_id=group.id, account_id=a.id, share=1) for a in accounts])
        groups.append(group)
    return groups


def _write_run(session: Session, group, period: str, start: datetime, end: datetime, s) -> None:
    """The group's run for the period and its lines, as the allocation run writes them, dated when it ran."""
    run = AllocationRun(
        group_id=group.id, period=period, period_start=start, period_end=end, method=group.method.value,
        kind=s.kind, tariff_id=s.tariff_id, unit_price_e4=s.unit_price_e4, consumption=s.consumption,
        cost_e5=s.cost_e5, carried_in_e5=s.carried_in_e5, total_fen=s.total_fen, remainder_e5=s.remainder_e5,
        weight_total=s.weight_total, sources=s.sources, actor="system:allocation", created_at=end)
    session.add(run)
    session.flush()
    insert_rows(session, AllocationLine.__table__, [dict(run_id=run.id, account_id=a, weight=s.weights[a],
                                                         amount_fen=s.parts[a]) for a in sorted(s.weights)])


def register(app: Flask) -> None:
    """Add the commands."""
    app.cli.add_command(demo)
