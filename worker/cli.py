"""The worker's commands: `worker [QUEUE...]`, `cron`, `relay`, `poll --once`, `simulator`, and `demo run`.

They share the `flask --app wsgi` command line with the portal's: `wsgi.py` adds them to the app with
`init_app`, so the portal itself never imports the worker.
"""
from __future__ import annotations

import socket
from pathlib import Path

import click
from flask import Flask, current_app
from rq import Queue, SimpleWorker
from sqlalchemy import select
from werkzeug.serving import run_simple

from portal.extensions import db
from portal.logs import job_context
from portal.models import Gateway, Site
from portal.queue.dispatch import redis_connection
from portal.queue.names import QUEUES
from portal.queue.relay import run_relay
from portal.settings import DEFAULT_PUBLIC_BASE_URL
from portal.sites.demo import SITE_CODE, login_lines
from worker.jobs.polling import schedule_polls
from worker.poller import run_cycle
from worker.schedule import InProcessCron, build_cron_scheduler
from worker.simulator.runner import SimulatorThread, run_forever
from worker.simulator.sites import specs_for_site, specs_from_file


def _redis():
    conn = redis_connection(current_app)
    if conn is None:
        raise click.ClickException(
            "REDIS_URL is not set: jobs run inside the web process (the embedded demo). "
            "Set REDIS_URL to run separate workers.")
    return conn


class Worker(SimpleWorker):
    """RQ's SimpleWorker whose records of a job, RQ's own among them (done, failed, the traceback), name the job
    and the web request that queued it (portal/logs.py)."""

    def execute_job(self, job, queue):
        with job_context(job.id, job.meta.get("request_id")):
            return super().execute_job(job, queue)


@click.command("worker")
@click.argument("queues", nargs=-1)
@click.option("--burst", is_flag=True, help="Exit when the queues are empty.")
def worker_command(queues: tuple[str, ...], burst: bool):
    """Run an RQ worker with the app's context (all queues when none is named)."""
    unknown = set(queues) - set(QUEUES)
    if unknown:
        raise click.ClickException(f"unknown queue(s): {', '.join(sorted(unknown))}; known: {', '.join(QUEUES)}")
    conn = _redis()
    # SimpleWorker runs jobs in this process: no fork per job, one warm DB pool per worker.
    w = Worker([Queue(name, connection=conn) for name in queues or QUEUES], connection=conn)
    w.work(burst=burst, with_scheduler=False)


@click.command("cron")
def cron_command():
    """Run the RQ cron scheduler with every periodic job."""
    settings = current_app.config["SETTINGS"]
    build_cron_scheduler(_redis(), settings.core.tz, settings.polling.interval).start()


@click.command("relay")
def relay_command():
    """Hand committed outbox rows to RQ from this process, so that requests need not (portal.queue.relay)."""
    _redis()
    try:
        run_relay(current_app._get_current_object())
    except RuntimeError as exc:
        raise click.ClickException(str(exc)) from None


@click.command("poll")
@click.option("--once", is_flag=True, required=True, help="One full cycle of every gateway, then exit.")
@click.option("--gateway", "gateways", multiple=True, help="Only these gateway codes.")
@click.option("--timeout", type=float, default=None, help="Per-request timeout in seconds [POLL_REQUEST_TIMEOUT].")
def poll_command(once: bool, gateways: tuple[str, ...], timeout: float | None):
    """Poll every gateway once: read, store, validate, bill and reconcile relays."""
    ids = None
    if gateways:
        ids = list(db.session.execute(select(Gateway.id).where(Gateway.code.in_(gateways))).scalars())
        if len(ids) != len(set(gateways)):
            raise click.ClickException("unknown gateway code(s)")
    stats = run_cycle(db.session, ids, timeout=timeout)
    db.session.commit()
    click.echo(f"{stats.gateways} gateways, {stats.meters} meters: {stats.read} read, {stats.missed} missed, "
               f"{stats.writes} writes; loading {stats.load_seconds:.2f} s, bus {stats.io_seconds:.2f} s, "
               f"after the bus {stats.record_seconds:.2f} s")


@click.command("simulator")
@click.option("--site", "site_code", help="Serve the gateways and meters of this site (from the database).")
@click.option("--file", "path", type=click.Path(exists=True, dir_okay=False), help="Or of an import file.")
@click.option("--baud", type=int, default=None, help="Emulate RS485 timing at this baud rate (e.g. 9600).")
def simulator_command(site_code: str | None, path: str | None, baud: int | None):
    """Serve simulated meters on one TCP port per gateway, exactly per METERS.md."""
    if bool(site_code) == bool(path):
        raise click.ClickException("name exactly one of --site CODE or --file FILE.xlsx")
    try:
        specs = specs_from_file(Path(path), baud) if path else specs_for_site(db.session, site_code, baud)
    except (LookupError, ValueError, KeyError) as exc:
        raise click.ClickException(str(exc)) from None
    db.session.remove()
    for spec in specs:
        click.echo(f"{spec.code}: {spec.protocol} {spec.host}:{spec.port}, {len(spec.meters)} meters")
    run_forever(specs)


@click.command("run")
@click.option("--port", default=5000, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True)
def demo_run_command(port: int, host: str):
    """Serve web + in-process jobs and cron + the meter simulator, all in this process."""
    app = current_app._get_current_object()
    if app.config["REDIS_URL"]:
        raise click.ClickException("demo run uses the in-process queue: unset REDIS_URL")
    if not _free(host, port):
        taken, port = port, _any_free_port(host)
        click.echo(f"port {taken} is taken: the demo uses {port}")
    if app.config["PUBLIC_BASE_URL"] == DEFAULT_PUBLIC_BASE_URL:
        # the sandbox's pay page posts its notify to this address: make it this process's own
        app.config["PUBLIC_BASE_URL"] = f"http://{host}:{port}"
    for line in _claim_gateway_ports(SITE_CODE):
        click.echo(line)
    # The demo site's meters on loopback, as real gateways would serve them.
    SimulatorThread(specs_for_site(db.session, SITE_CODE)).start()
    InProcessCron(app).start()
    # Read every meter now rather than at the next minute, so the pages show live state at once.
    app.extensions["payfirst.dispatcher"].runner.submit(schedule_polls, [])
    for line in login_lines(app.config["PUBLIC_BASE_URL"]):
        click.echo(line)
    click.echo(f"PayFirst demo on http://{host}:{port}  (Ctrl-C stops)")
    run_simple(host, port, app, threaded=True, use_reloader=False)


def _free(host: str, port: int) -> bool:
    """Whether nothing listens on host:port now (another demo, another service)."""
    with socket.socket() as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def _any_free_port(host: str) -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def _claim_gateway_ports(site_code: str) -> list[str]:
    """Move the demo's simulated gateways whose port is taken on this machine to free ones; what moved."""
    moved = []
    site = db.session.execute(select(Site).where(Site.code == site_code)).scalar_one_or_none()
    gateways = db.session.execute(select(Gateway).where(Gateway.site_id == site.id)).scalars() if site else []
    for gw in gateways:
        if not _free(gw.host, gw.port):
            old, gw.port = gw.port, _any_free_port(gw.host)
            moved.append(f"gateway {gw.code}: port {old} is taken, simulated on {gw.port}")
    db.session.commit()
    return moved


def init_app(app: Flask) -> None:
    """Add the worker's commands to the app's command line, and `run` to the portal's `demo` group."""
    for command in (worker_command, cron_command, relay_command, poll_command, simulator_command):
        app.cli.add_command(command)
    # Found on the app rather than imported: importing portal.cli would load every blueprint into the worker.
    app.cli.commands["demo"].add_command(demo_run_command)
