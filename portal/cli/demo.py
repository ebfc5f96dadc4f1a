"""`demo seed`: the embedded demo site, its users and tenants (`demo run` is the worker's: worker.cli)."""
from __future__ import annotations

from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from portal.extensions import db
from portal.sites.demo import seed

demo = AppGroup("demo", help="The embedded demo site.")


@demo.command("seed")
def seed_command():
    """Create (or refresh) the demo site, users and tenants, and print the logins."""
    lines = seed(db.session, Path(current_app.instance_path))
    db.session.commit()
    for line in lines:
        click.echo(line)


def register(app: Flask) -> None:
    """Add the commands."""
    app.cli.add_command(demo)
