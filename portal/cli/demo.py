"""`demo seed`: the embedded demo site, its users and tenants (`demo run` is the worker's: worker.cli)."""
from __future__ import annotations

from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from portal.extensions import db
from portal.settings import DEFAULT_PUBLIC_BASE_URL
from portal.sites.demo import login_lines, seed

demo = AppGroup("demo", help="The embedded demo site.")


@demo.command("seed")
@click.option("--port", type=int, default=None, help="The port `demo run` will serve on (for the printed links).")
def seed_command(port: int | None):
    """Create (or refresh) the demo site, users and tenants, and print the logins."""
    lines = seed(db.session, Path(current_app.instance_path))
    db.session.commit()
    base = current_app.config["PUBLIC_BASE_URL"]
    if port is not None and base == DEFAULT_PUBLIC_BASE_URL:
        base = f"http://127.0.0.1:{port}"
    for line in lines + login_lines(base):
        click.echo(line)


def register(app: Flask) -> None:
    """Add the commands."""
    app.cli.add_command(demo)
