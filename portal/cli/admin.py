"""Administration commands: users, API tokens, site import, ledger check."""
from __future__ import annotations

import sys

import click
from flask import Flask
from flask.cli import AppGroup
from sqlalchemy import select

from portal.api.tokens import create_token
from portal.extensions import db
from portal.ledger.entries import ledger_mismatches
from portal.metering.books_check import compare_books
from portal.models import Role, Site, StaffUser
from portal.sites.importer import ImportFailed, import_site

users = AppGroup("users", help="Staff users.")
tokens = AppGroup("api-token", help="API bearer tokens.")
ledger = AppGroup("ledger", help="Ledger checks.")


@users.command("create")
@click.argument("username")
@click.option("--role", required=True, type=click.Choice([r.value for r in Role]))
@click.option("--site", "sites", multiple=True, help="Site code (repeatable); admins see every site.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def create_user(username: str, role: str, sites: tuple[str, ...], password_stdin: bool):
    """Create a staff user (or update its role, sites and password)."""
    password = sys.stdin.readline().rstrip("\n") if password_stdin else click.prompt(
        "Password", hide_input=True, confirmation_prompt=True)
    if len(password) < 8:
        raise click.ClickException("the password needs at least 8 characters")
    found = []
    for code in sites:
        site = db.session.execute(select(Site).where(Site.code == code)).scalar_one_or_none()
        if site is None:
            raise click.ClickException(f"no site {code!r}")
        found.append(site)
    if Role(role) != Role.ADMIN and not found:
        raise click.ClickException("a non-admin user needs at least one --site")
    user = db.session.execute(select(StaffUser).where(StaffUser.username == username)).scalar_one_or_none()
    verb = "updated" if user else "created"
    if user is None:
        user = StaffUser(username=username, role=Role(role))
        db.session.add(user)
    user.role = Role(role)
    user.sites = found
    user.set_password(password)
    db.session.commit()
    click.echo(f"{verb} {role} {username}" + (f" for {', '.join(sites)}" if sites else ""))


@tokens.command("create")
@click.argument("username")
def create_api_token(username: str):
    """Create a bearer token acting as USERNAME and print it (shown only once)."""
    user = db.session.execute(select(StaffUser).where(StaffUser.username == username)).scalar_one_or_none()
    if user is None:
        raise click.ClickException(f"no staff user {username!r}")
    token = create_token(user)
    db.session.commit()
    click.echo(token)


@click.command("import-site")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--site", "site_code", default=None, help="Site code (created if missing); default: 'default'.")
def import_site_command(path: str, site_code: str | None):
    """Import gateways, accounts, meters and tariffs from an .xlsx file (all or nothing)."""
    try:
        report = import_site(db.session, path, site_code)
    except ImportFailed as failed:
        db.session.rollback()
        for error in failed.errors:
            click.echo(str(error), err=True)
        raise click.ClickException(f"nothing imported: {len(failed.errors)} error(s)") from None
    db.session.commit()
    for sheet, c in report.counts.items():
        click.echo(f"{sheet}: {c['created']} created, {c['updated']} updated, {c['unchanged']} unchanged")


@ledger.command("check")
def ledger_check():
    """Verify that every account's balance equals the sum of its ledger entries, and that every meter-mode
    shop's balance equals what its meters hold plus the writes queued for them (within one price step)."""
    bad = ledger_mismatches(db.session)
    for account_id, cached, summed in bad:
        click.echo(f"account {account_id}: balance {cached} != entries {summed}", err=True)
    books = [b for b in compare_books(db.session) if not b.agree]
    for b in books:
        click.echo(f"account {b.account_id} {b.message()}", err=True)
    if bad or books:
        raise click.ClickException(f"{len(bad)} account(s) out of balance, "
                                   f"{len(books)} meter-mode shop(s) whose meters disagree with the ledger")
    click.echo("ledger ok")


def register(app: Flask) -> None:
    """Add the commands."""
    for command in (users, tokens, ledger, import_site_command):
        app.cli.add_command(command)
