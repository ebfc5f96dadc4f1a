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
    from werkzeug.serving import run_simple

    from worker.poller import schedule_polls

    _start_simulator(app)
    InProcessCron(app).start()
    # Read every meter now rather than at the next minute, so the pages show live state at once.
    app.extensions["payfirst.dispatcher"].runner.submit(schedule_polls, [])
    click.echo(f"PayFirst demo on http://{host}:{port}  (Ctrl-C stops)")
    run_simple(host, port, app, threaded=True, use_reloader=False)


def _start_simulator(app: Flask) -> None:
    """Serve the demo site's meters on loopback, as real gateways would."""
    from portal.demo import SITE_CODE
    from worker.simulate import specs_for_site
    from worker.simulator.runner import SimulatorThread

    SimulatorThread(specs_for_site(db.session, SITE_CODE)).start()


@click.command("simulator")
@click.option("--site", "site_code", help="Serve the gateways and meters of this site (from the database).")
@click.option("--file", "path", type=click.Path(exists=True, dir_okay=False), help="Or of an import file.")
@click.option("--baud", type=int, default=None, help="Emulate RS485 timing at this baud rate (e.g. 9600).")
def simulator_command(site_code: str | None, path: str | None, baud: int | None):
    """Serve simulated meters on one TCP port per gateway, exactly per METERS.md."""
    import logging

    from worker.simulate import specs_for_site, specs_from_file
    from worker.simulator.runner import run_forever

    if bool(site_code) == bool(path):
        raise click.ClickException("name exactly one of --site CODE or --file FILE.xlsx")
    try:
        specs = specs_from_file(path, baud) if path else specs_for_site(db.session, site_code, baud)
    except (LookupError, ValueError, KeyError) as exc:
        raise click.ClickException(str(exc)) from None
    db.session.remove()
    logging.basicConfig(level=logging.INFO)
    for spec in specs:
        click.echo(f"{spec.code}: {spec.protocol} {spec.host}:{spec.port}, {len(spec.meters)} meters")
    run_forever(specs)


def register(app: Flask) -> None:
    """Add the commands."""
    app.cli.add_command(demo)
    app.cli.add_command(simulator_command)
