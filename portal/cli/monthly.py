"""Monthly billing commands: `fees run --month YYYY-MM` and `allocate --period YYYY-MM` (SPEC §4)."""
from __future__ import annotations

import time

import click
from flask import Flask
from flask.cli import AppGroup
from sqlalchemy import select

from portal.extensions import db
from portal.models import AllocationGroup, Site
from portal.money import format_yuan
from portal.monthly.allocation import allocate
from portal.monthly.fees import run_fees
from portal.monthly.periods import PeriodError, parse_month

fees = AppGroup("fees", help="Property fee (物业费).")


def _month(ctx, param, value: str) -> str:
    try:
        parse_month(value)
    except PeriodError as exc:
        raise click.BadParameter(str(exc)) from None
    return value


def _site_ids(codes: tuple[str, ...]) -> set[int] | None:
    if not codes:
        return None
    found = dict(db.session.execute(select(Site.code, Site.id).where(Site.code.in_(codes))).tuples().all())
    missing = sorted(set(codes) - set(found))
    if missing:
        raise click.ClickException(f"no site {', '.join(missing)}")
    return set(found.values())


@fees.command("run")
@click.option("--month", required=True, callback=_month, help="Business month to charge, YYYY-MM.")
@click.option("--site", "sites", multiple=True, help="Site code (repeatable); every site when none is named.")
def fees_run(month: str, sites: tuple[str, ...]):
    """Charge each active shop its property fee for the month, once (a second run posts nothing)."""
    began = time.perf_counter()
    try:
        runs = run_fees(db.session, month, site_ids=_site_ids(sites), actor="cli:fees")
    except PeriodError as exc:
        raise click.ClickException(str(exc)) from None
    db.session.commit()
    for r in runs:
        click.echo(f"{r.site_code} {month}: {r.charged} shops charged ¥{format_yuan(r.fee_fen)} "
                   f"(debited ¥{format_yuan(r.posted_fen)}, fee arrears ¥{format_yuan(r.arrears_fen)})"
                   + (f", {r.switched} meters off for arrears" if r.switched else ""))
    click.echo(f"{sum(r.charged for r in runs)} shops charged in {time.perf_counter() - began:.2f} s")


@click.command("allocate")
@click.option("--period", required=True, callback=_month, help="Business month to allocate, YYYY-MM.")
@click.option("--site", "sites", multiple=True, help="Site code (repeatable); every site when none is named.")
@click.option("--group", "groups", multiple=True, help="Allocation group code (repeatable).")
def allocate_command(period: str, sites: tuple[str, ...], groups: tuple[str, ...]):
    """Price each group's common meters for the period and split it over its shops, once."""
    began = time.perf_counter()
    site_ids = _site_ids(sites)
    group_ids = None
    if groups:
        query = select(AllocationGroup.id).where(AllocationGroup.code.in_(groups))
        group_ids = set(db.session.execute(query).scalars())
        if not group_ids:
            raise click.ClickException(f"no allocation group {', '.join(groups)}")
    try:
        outcomes = allocate(db.session, period, site_ids=site_ids, group_ids=group_ids, actor="cli:allocate")
    except PeriodError as exc:
        raise click.ClickException(str(exc)) from None
    db.session.commit()
    for o in outcomes:
        detail = {"posted": f"¥{format_yuan(o.total_fen)} over {o.members} shops",
                  "already": "already allocated, nothing posted", "skipped": f"skipped: {o.reason}"}[o.status]
        click.echo(f"{o.group_code} {period}: {detail}", err=o.status == "skipped")
    posted = [o for o in outcomes if o.status == "posted"]
    click.echo(f"{len(posted)} groups allocated in {time.perf_counter() - began:.2f} s")


def register(app: Flask) -> None:
    """Add the commands."""
    app.cli.add_command(fees)
    app.cli.add_command(allocate_command)
