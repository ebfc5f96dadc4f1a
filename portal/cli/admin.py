"""Administration commands: users, API tokens, site import, ledger check."""
from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

import click
from flask import Flask
from flask.cli import AppGroup
from flask_babel import force_locale
from sqlalchemy import select

from portal.extensions import db
from portal.ledger.entries import ledger_mismatches
from portal.metering.books_check import compare_books
from portal.models import ApiToken, Role, Site, StaffUser
from portal.sites.importer import ImportFailed, import_site
from portal.staffing import users as staff_users
from portal.staffing.tokens import MAX_DAYS, find_token, issue_token, revoke_token, token_state
from portal.staffing.users import CLI_ACTOR, StaffChangeRefused

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
    password = _new_password(password_stdin)
    found = []
    for code in sites:
        site = db.session.execute(select(Site).where(Site.code == code)).scalar_one_or_none()
        if site is None:
            raise click.ClickException(f"no site {code!r}")
        found.append(site)
    user = db.session.execute(select(StaffUser).where(StaffUser.username == username)).scalar_one_or_none()
    with _refused():
        if user is None:
            # whoever runs the command line chose this password: it is not a temporary one
            staff_users.create_user(db.session, None, username, Role(role), found, password, temporary=False)
        else:
            staff_users.change_access(db.session, None, user, Role(role), found)
            staff_users.reset_password(db.session, None, user, password, temporary=False)
    db.session.commit()
    verb = "updated" if user else "created"
    click.echo(f"{verb} {role} {username}" + (f" for {', '.join(sites)}" if sites else ""))


@contextmanager
def _refused() -> Iterator[None]:
    """A change the staff verbs refuse stops the command with their reason, in English, and changes nothing."""
    try:
        yield
    except StaffChangeRefused as refused:
        db.session.rollback()
        with force_locale("en"):
            raise click.ClickException(str(refused)) from None


def _new_password(from_stdin: bool) -> str:
    password = sys.stdin.readline().rstrip("\n") if from_stdin else click.prompt(
        "Password", hide_input=True, confirmation_prompt=True)
    with _refused():
        staff_users.check_new_password(password)
    return password


def _user(username: str) -> StaffUser:
    user = db.session.execute(select(StaffUser).where(StaffUser.username == username)).scalar_one_or_none()
    if user is None:
        raise click.ClickException(f"no staff user {username!r}")
    return user


def _when(moment) -> str:
    return moment.strftime("%Y-%m-%d %H:%M") if moment else "-"


@users.command("list")
def list_users():
    """Every staff user: role, sites, whether active, last login."""
    for user in db.session.execute(select(StaffUser).order_by(StaffUser.username)).scalars():
        sites = ",".join(sorted(site.code for site in user.sites)) or "*"
        state = "active" if user.active else "inactive"
        click.echo(f"{user.username}\t{user.role.value}\t{sites}\t{state}\tlast login {_when(user.last_login_at)}")


@users.command("deactivate")
@click.argument("username")
def deactivate_user(username: str):
    """Switch USERNAME off: every session ends now, logins and API tokens are refused."""
    _set_active(username, False, "sessions ended, logins and tokens refused")


@users.command("activate")
@click.argument("username")
def activate_user(username: str):
    """Let USERNAME log in again (tokens revoked meanwhile stay revoked)."""
    _set_active(username, True, "they may log in again")


def _set_active(username: str, active: bool, outcome: str) -> None:
    with _refused():
        staff_users.set_active(db.session, None, _user(username), active)
    db.session.commit()
    click.echo(f"{'activated' if active else 'deactivated'} {username}: {outcome}")


@users.command("reset-password")
@click.argument("username")
@click.option("--password-stdin", is_flag=True, help="Read the new password from standard input.")
@click.option("--temporary", is_flag=True, help="They must choose a new one at their next login.")
def reset_password(username: str, password_stdin: bool, temporary: bool):
    """Give USERNAME a new password; every session of theirs ends."""
    user = _user(username)
    with _refused():
        staff_users.reset_password(db.session, None, user, _new_password(password_stdin), temporary=temporary)
    db.session.commit()
    click.echo(f"new password set for {username}: their sessions ended"
               + (" (to be changed at their next login)" if temporary else ""))


@tokens.command("create")
@click.argument("username")
@click.option("--days", type=click.IntRange(min=0, max=MAX_DAYS), default=None,
              help="Days until it expires (default API_TOKEN_DAYS; 0: never).")
def create_api_token(username: str, days: int | None):
    """Create a bearer token acting as USERNAME and print it (shown only once)."""
    with _refused():
        _, token = issue_token(db.session, CLI_ACTOR, _user(username), days)
    db.session.commit()
    click.echo(token)


@tokens.command("list")
@click.argument("username", required=False)
def list_api_tokens(username: str | None):
    """Tokens (of USERNAME, or everyone's): id, prefix, user, created, last use, expiry, state."""
    query = select(ApiToken).join(ApiToken.user).order_by(ApiToken.id)
    if username:
        query = query.where(StaffUser.username == username)
    for t in db.session.execute(query).scalars():
        state = token_state(t).replace("_", " ")  # revoked, expired, inactive user or active
        click.echo(f"{t.id}\t{t.prefix}\t{t.user.username}\tcreated {_when(t.created_at)}\t"
                   f"last used {_when(t.last_used_at)}\texpires {_when(t.expires_at)}\t{state}")


@tokens.command("revoke")
@click.argument("token")
def revoke_api_token(token: str):
    """Revoke a token, by the id or the prefix `api-token list` shows; refused from the next call on."""
    row = find_token(db.session, token)
    if row is None:
        raise click.ClickException(f"no single token {token!r} (give its id or prefix from `api-token list`)")
    if not revoke_token(db.session, CLI_ACTOR, row):
        raise click.ClickException(f"token {row.id} ({row.prefix}) was already revoked")
    db.session.commit()
    click.echo(f"revoked token {row.id} ({row.prefix}) of {row.user.username}")


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
