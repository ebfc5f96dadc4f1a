"""`accounts binding-codes`: shops' binding codes and sticker tokens, for the bills and meter-box stickers.

The codes are written out once, to a spreadsheet or standard output, and cannot be read back (only their hashes
are kept: portal.auth.binding). So a file of codes is written in full before the new hashes are committed, and
never over an existing file; a shop that has a code keeps it unless --reissue says otherwise, since reissuing
voids the code already printed on its sticker. The sticker's QR token is made once and kept.
"""
from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path

import click
from flask import Flask
from flask.cli import AppGroup
from sqlalchemy import select

from portal.auth.binding import STICKER_PATH, issue_binding_codes, printed
from portal.extensions import db
from portal.models import Account, AccountStatus, Site
from portal.settings import public_url
from portal.sheets import CsvWriter, report_xlsx

accounts = AppGroup("accounts", help="Shops' accounts: binding codes and sticker tokens.")

#: the columns written out, and each one's note (a cell comment in the .xlsx, as the reports have)
COLUMNS = ("account", "name", "tenant", "binding_code", "sticker_url")
NOTES = ("账户编号", "商铺名称", "租户", "绑定码（只显示这一次）", "电表箱贴纸二维码地址")
#: who the audit log says issued the codes
ACTOR = "cli:accounts"


@accounts.command("binding-codes")
@click.option("--site", "site_code", required=True, help="The site's code.")
@click.option("--account", "account_code", default=None, help="One shop's account code (default: every open shop).")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="A new .xlsx or .csv file to write the codes to (default: standard output).")
@click.option("--reissue", is_flag=True, help="Replace codes already issued: the printed ones stop working.")
def binding_codes(site_code: str, account_code: str | None, output: Path | None, reissue: bool):
    """Issue binding codes (and sticker tokens) to a site's shops and write them out once."""
    if output is not None and output.suffix.lower() not in (".xlsx", ".csv"):
        raise click.BadParameter("the file must end in .xlsx or .csv", param_hint="--output")
    if output is not None and output.exists():
        raise click.ClickException(f"{output} exists: choose a new file (codes are never written over others)")
    if output is not None and not output.parent.is_dir():
        raise click.ClickException(f"no folder {output.parent}")
    site = db.session.scalar(select(Site).where(Site.code == site_code))
    if site is None:
        raise click.ClickException(f"no site {site_code!r}")
    query = select(Account).where(Account.site_id == site.id, Account.status == AccountStatus.ACTIVE)
    if account_code is not None:
        query = query.where(Account.code == account_code)
    shops = list(db.session.scalars(query.order_by(Account.code)))
    if account_code is not None and not shops:
        raise click.ClickException(f"no open shop {account_code!r} on site {site_code!r}")
    issued = issue_binding_codes(db.session, shops, ACTOR, reissue=reissue)
    rows = [(a.code, a.name, a.tenant_name, printed(code), public_url(STICKER_PATH + a.sticker_token))
            for a, code in issued]
    kept = len(shops) - len(issued)
    if output is None:
        db.session.commit()
        for row in rows:
            click.echo("\t".join(row))
    else:
        _write_then_commit(output, rows)
    click.echo(f"{site_code}: {len(issued)} binding code(s) issued" + (f", written to {output}" if output else "")
               + (f"; {kept} shop(s) kept the code they have (--reissue replaces it)" if kept else ""), err=True)


def _write_then_commit(output: Path, rows: list[tuple[str, ...]]) -> None:
    """The file first (a temporary one beside it), then the hashes, then the file under its name: the codes are
    never stored without being written out, nor written out without being stored."""
    if output.suffix.lower() == ".xlsx":
        data = report_xlsx("binding_codes", COLUMNS, NOTES, ((row, None) for row in rows), widths=(12, 24, 16, 14, 48))
    else:
        text = io.StringIO()
        writer = CsvWriter(text)
        writer.writerow(COLUMNS)
        for row in rows:
            writer.writerow(row)
        data = text.getvalue().encode("utf-8-sig")  # with a BOM: Excel and WPS then read the Chinese right
    fd, temporary = tempfile.mkstemp(dir=output.parent, prefix=".binding-codes-", suffix=output.suffix)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.chmod(temporary, 0o600)  # codes that bind shops: for whoever ran the command
        db.session.commit()
    except BaseException:
        db.session.rollback()
        Path(temporary).unlink(missing_ok=True)
        raise
    os.replace(temporary, output)  # should this fail, its error names the temporary file, which holds the codes


def register(app: Flask) -> None:
    """Add the commands."""
    app.cli.add_command(accounts)
