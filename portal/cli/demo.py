"""`demo seed` and `demo run`: the embedded demo."""
from __future__ import annotations

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from portal.extensions import db

demo = AppGroup("demo", help="The embedded demo site.")


@demo.command("seed")
def seed_command():
    """Create (or refresh) the demo site, users and tenants, and print the logins."""
    from pathlib import Path

    from portal.demo import seed

    lines = seed(db.session, Path(current_app.instance_path))
    db.session.commit()
    for line in lines:
        click.echo(line)


@demo.command("run")
@click.option("--port", default=5000, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True)
def run_command(port: int, host: str):
    """Serve web + in-process jobs and cron + the meter simulator, all in this process."""
    from worker.schedule import InProcessCron

    app = current_app._get_current_object()
    if app.config["REDIS_URL"]:
        raise click.ClickException("demo run uses the in-process queue: unset REDIS_URL")
    _start_simulator(app)
    InProcessCron(app).start()
    click.echo(f"PayFirst demo on http://{host}:{port}  (Ctrl-C stops)")
    app.run(host=host, port=port, threaded=True, use_reloader=False)


def _start_simulator(app: Flask) -> None:
    """Serve the demo site's meters on loopback, as real gateways would."""
    from portal.simulation import start_site_simulator

    start_site_simulator(app)


def register(app: Flask) -> None:
    """Add the commands."""
    app.cli.add_command(demo)
