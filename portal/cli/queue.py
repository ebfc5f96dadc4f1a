"""Queue processes: `worker [QUEUE...]` and `cron`."""
from __future__ import annotations

import click
from flask import Flask, current_app

from portal.jobs import QUEUES, redis_connection


def _redis():
    conn = redis_connection(current_app)
    if conn is None:
        raise click.ClickException(
            "REDIS_URL is not set: jobs run inside the web process (the embedded demo). "
            "Set REDIS_URL to run separate workers.")
    return conn


@click.command("worker")
@click.argument("queues", nargs=-1)
@click.option("--burst", is_flag=True, help="Exit when the queues are empty.")
def worker_command(queues: tuple[str, ...], burst: bool):
    """Run an RQ worker with the app's context (all queues when none is named)."""
    from rq import Queue, SimpleWorker

    import worker.registry  # noqa: F401  (registers every job)

    unknown = set(queues) - set(QUEUES)
    if unknown:
        raise click.ClickException(f"unknown queue(s): {', '.join(sorted(unknown))}; known: {', '.join(QUEUES)}")
    conn = _redis()
    # SimpleWorker runs jobs in this process: no fork per job, one warm DB pool per worker.
    w = SimpleWorker([Queue(name, connection=conn) for name in queues or QUEUES], connection=conn)
    w.work(burst=burst, with_scheduler=False)


@click.command("cron")
def cron_command():
    """Run the RQ cron scheduler with every periodic job."""
    from worker.schedule import build_cron_scheduler

    build_cron_scheduler(_redis()).start()


@click.command("poll")
@click.option("--once", is_flag=True, required=True, help="One full cycle of every gateway, then exit.")
@click.option("--gateway", "gateways", multiple=True, help="Only these gateway codes.")
@click.option("--timeout", default=1.0, show_default=True, help="Per-request timeout in seconds.")
def poll_command(once: bool, gateways: tuple[str, ...], timeout: float):
    """Poll every gateway once: read, store, validate, bill and reconcile relays."""
    from sqlalchemy import select

    from portal.extensions import db
    from portal.models import Gateway
    from worker.poller import run_cycle

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


def register(app: Flask) -> None:
    """Add the commands."""
    app.cli.add_command(worker_command)
    app.cli.add_command(cron_command)
    app.cli.add_command(poll_command)
