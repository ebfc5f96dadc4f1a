"""Payment recovery commands: `payments sweep` and `payments reconcile --date YYYY-MM-DD`."""
from __future__ import annotations

from datetime import date

import click
from flask import Flask
from flask.cli import AppGroup

from portal.extensions import db
from portal.models import utcnow
from portal.money import format_yuan
from portal.payments import recovery
from portal.payments.reconciliation import download_bills, reconciliation_report, yesterday

payments = AppGroup("payments", help="Payment recovery: the open-order sweep and the daily reconciliation.")


@payments.command("sweep")
def sweep_command():
    """Query the platform for orders left open; credit the paid ones, close the expired ones."""
    result = recovery.sweep_open_orders(db.session, utcnow())
    click.echo(f"{result['queried']} orders queried: {result['credited']} credited, {result['closed']} closed, "
               f"{result['waiting']} still open")
    for error in result["errors"]:
        click.echo(f"error: {error}", err=True)
    if result["errors"]:
        raise SystemExit(1)


def _day(ctx, param, value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter("expected YYYY-MM-DD") from None


@payments.command("reconcile")
@click.option("--date", "day", callback=_day, help="Bill day, YYYY-MM-DD (Beijing); yesterday when omitted.")
@click.option("--no-download", is_flag=True, help="Use the bills already stored; download nothing.")
def reconcile_command(day: date | None, no_download: bool):
    """Download the day's bills and list every mismatch with our orders (exit 1 when there is one)."""
    day = day or yesterday()
    failed = False
    if not no_download:
        downloaded = download_bills(day)
        db.session.commit()
        if not downloaded:
            click.echo("no payment platform is configured: nothing to download", err=True)
        for source, outcome in sorted(downloaded.items()):
            if isinstance(outcome, str):
                failed = True
                click.echo(f"{source}: {outcome}", err=True)
            else:
                click.echo(f"{source}: {outcome} new bill lines")
    report = reconciliation_report(day)
    money = lambda fen: "-" if fen is None else f"¥{format_yuan(fen)}"  # noqa: E731
    for m in report:
        click.echo(f"{m.kind}\t{m.source}\t{m.out_trade_no}\t{m.platform_trade_no or '-'}\t"
                   f"bill {money(m.bill_fen)}\torder {money(m.order_fen)}\t{m.detail}")
    click.echo(f"{day}: {len(report)} mismatches")
    if report or failed:
        raise SystemExit(1)


def register(app: Flask) -> None:
    """Add the command group."""
    app.cli.add_command(payments)
