"""Energy commands: `energy rebuild-daily` (the daily roll-ups recomputed) and `energy partitions` (the readings'
monthly partitions made ahead and, past READINGS_RETENTION_MONTHS, dropped), both as the cron's job does."""
from __future__ import annotations

import time
from datetime import date

import click
from flask import Flask
from flask.cli import AppGroup
from sqlalchemy import select

from portal.extensions import db
from portal.metering.daily import business_today, earliest_reading, reading_day, rebuild_daily
from portal.metering.partitions import drop_expired, ensure_ahead, partitioned, retained_from
from portal.models import Site, utcnow
from portal.settings import current
from portal.web.params import BadParameter, parse_day

energy = AppGroup("energy", help="Daily energy roll-ups and the 15-minute readings' partitions.")


def _day(ctx, param, value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return parse_day(f"--{param.name}", value)
    except BadParameter as exc:
        raise click.BadParameter(str(exc)) from None


@energy.command("rebuild-daily")
@click.option("--from", "first", callback=_day, help="First business day, YYYY-MM-DD (default: the first read).")
@click.option("--to", "last", callback=_day, help="Last business day, YYYY-MM-DD (default: today).")
@click.option("--site", help="Site code; every site when none is named.")
def rebuild_daily_command(first: date | None, last: date | None, site: str | None):
    """Recompute the days' roll-ups from the readings and the ledger (idempotent: run it again, nothing moves)."""
    began = time.perf_counter()
    site_id = None
    if site is not None:
        site_id = db.session.scalar(select(Site.id).where(Site.code == site))
        if site_id is None:
            raise click.ClickException(f"no site {site}")
    last = last or business_today()
    if first is None:
        earliest = earliest_reading(db.session)
        if earliest is None:
            click.echo("no readings yet: nothing to roll up")
            return
        first = reading_day(earliest)
    if first > last:
        raise click.ClickException("--from must be on or before --to")
    done = rebuild_daily(db.session, first, last, site_id, retained_from=retained_from(db.session))
    db.session.commit()
    if done.skipped:
        click.echo(f"{done.skipped} days skipped: their readings are partly dropped (READINGS_RETENTION_MONTHS), "
                   "their roll-ups kept as they were", err=True)
    if done.first is not None:
        click.echo(f"{done.first} to {done.last}: {done.rows} meter-days rolled up "
                   f"in {time.perf_counter() - began:.2f} s")


@energy.command("partitions")
def partitions_command():
    """Create the readings' partitions ahead and drop those past READINGS_RETENTION_MONTHS (PostgreSQL)."""
    if not partitioned(db.session):
        click.echo("interval_readings is one table here (SQLite): nothing to do")
        return
    now = utcnow()
    created = ensure_ahead(db.session, now)
    dropped = drop_expired(db.session, now, current().polling.readings_retention_months)
    db.session.commit()
    for name in created:
        click.echo(f"created {name}")
    for d in dropped:
        click.echo(f"dropped {d.name} ({d.rolled_up.rows} meter-days rolled up first)")
    if not created and not dropped:
        click.echo("partitions up to date")


def register(app: Flask) -> None:
    """Add the command group."""
    app.cli.add_command(energy)
