"""Scale-out on RQ, shown: the cron and N polling workers (processes) against the 10,030-meter farm at 9600 baud.

    python -m bench.scaleout [--scale-workers 1,4,8,16,24,32] [--scale-minutes 5] [--scale-interval 30]
                             [--baud 9600]

The deployment as docs/deploy.md runs it, nothing of the bench in between: `flask --app wsgi cron` (RQ's cron
scheduler: `schedule_polls` every minute, which queues one poll job per gateway unless one still waits) and N
`flask --app wsgi worker polling` processes, against the simulator emulating 9600-baud RS485 (each bus carries a
gateway's 59 meters at the speed of the wire). For each N, once the cron has queued its first minute's jobs and
the workers have polled every gateway once (or --scale-minutes have passed), the worst age of any gateway's last
poll (now - gateways.last_seen_at, the instant its poll began) is sampled every two seconds for --scale-minutes
minutes; the figure is the worst sample. A gateway within 60 s is polled every minute, as the cron asks.

The cron queues the jobs every --scale-interval seconds (POLL_INTERVAL_SECONDS; shorter than a round, so the
queue stays fed and the workers poll round after round: with one job queued a minute, a gateway would wait for
the next minute once its poll was done, and its age reach 60 s plus a poll). How many workers a farm needs then
follows from one poll job's length t (a gateway's bus at its baud rate, plus the recording): a round of G gateways
takes G * t / N, and a gateway's age reaches a round plus its own poll, so every gateway within T seconds needs
N >= G * t / (T - t) workers, as long as the machine's cores keep up with the recording (the bench prints t
measured here and the CPU the workers used).
"""
from __future__ import annotations

import argparse
import dataclasses
import math
import os
import subprocess
import sys
import time
from datetime import UTC, datetime

from bench import farm as farm_mod
from bench.figures import Figure, full_cycle

GATEWAYS, PER_GATEWAY = 170, 59
SITE = "SCALE"
#: every gateway polled within a minute: what the cron asks for
AGE_BAR_S = 60.0


def add_arguments(ap: argparse.ArgumentParser) -> None:
    g = ap.add_argument_group("scale-out on RQ")
    g.add_argument("--scale-only", action="store_true", help="only the scale-out figures")
    g.add_argument("--no-scale", action="store_true", help="skip the scale-out figures")
    g.add_argument("--scale-workers", default="1,4,8,16,24,32", help="numbers of polling workers to run, in turn")
    g.add_argument("--scale-minutes", type=float, default=5.0, help="minutes each number of workers is watched")
    g.add_argument("--scale-interval", type=int, default=30,
                   help="POLL_INTERVAL_SECONDS for the cron: how often it queues every gateway's poll job")


def _env(database_url: str, redis_url: str, interval: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLASK_", "PAYFIRST_"))}
    env.update(DATABASE_URL=database_url, REDIS_URL=redis_url, SECRET_KEY="bench-secret", SMS_BACKEND="log",
               PYTHONUNBUFFERED="1", POLL_INTERVAL_SECONDS=str(interval))
    return env


def _flask(*args: str) -> list[str]:
    return [sys.executable, "-m", "flask", "--app", "wsgi", *args]


def _ages(engine, site_id: int, since) -> tuple[float, int]:
    """The worst age of any gateway's last poll (seconds), and how many were not polled since `since`."""
    from sqlalchemy import text

    with engine.connect() as conn:
        worst, behind = conn.execute(text(
            "SELECT extract(epoch FROM max(now() - last_seen_at)), count(*) FILTER (WHERE last_seen_at < :since) "
            "FROM gateways WHERE site_id = :s"), {"s": site_id, "since": since}).one()
    return float(worst), int(behind)


class _RealTime:
    """The poll cycles' clock here: real time, as the workers' own cycles use (the other benches' CycleClock
    shifts time to land cycles inside an interval, which would put these gateways' last polls in the future)."""

    @staticmethod
    def now() -> datetime:
        return datetime.now(UTC)


def _alive(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        if p.poll() is not None:
            raise RuntimeError(f"{p.args} exited: {p.stderr.read().decode(errors='replace')[-2000:]}")


def _cpu_seconds(pids: list[int]) -> float:
    """User + system CPU of these processes so far (Linux /proc), in seconds."""
    tick, total = os.sysconf("SC_CLK_TCK"), 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except OSError:
            pass
    return total / tick


def _watch(app, engine, site_id: int, redis_url: str, workers: int, minutes: float, interval: int) -> dict:
    """The cron and `workers` polling workers for `minutes`; the worst gateway age seen, and what they cost."""
    import redis

    redis.Redis.from_url(redis_url).flushdb()
    env = _env(app.config["SQLALCHEMY_DATABASE_URI"], redis_url, interval)
    procs = [subprocess.Popen(_flask("cron"), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)]
    procs += [subprocess.Popen(_flask("worker", "polling"), env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE) for _ in range(workers)]
    try:
        queue = redis.Redis.from_url(redis_url)
        deadline = time.monotonic() + 150
        while not queue.exists("rq:queue:polling") and time.monotonic() < deadline:  # the cron's first minute
            time.sleep(0.5)
        began = datetime.now(UTC)
        # the first round: until every gateway was polled by these workers (at most the watch's length)
        first_round = time.monotonic()
        while _ages(engine, site_id, began)[1] and time.monotonic() - first_round < minutes * 60:
            _alive(procs)
            time.sleep(2)
        round_s, behind = time.monotonic() - first_round, _ages(engine, site_id, began)[1]
        started, cpu0 = time.monotonic(), _cpu_seconds([p.pid for p in procs])
        worst, samples = 0.0, 0
        while time.monotonic() - started < minutes * 60:
            _alive(procs)
            worst = max(worst, _ages(engine, site_id, began)[0])
            samples += 1
            time.sleep(2)
        cpu = _cpu_seconds([p.pid for p in procs]) - cpu0
        return dict(worst=worst, samples=samples, cpu=cpu, seconds=time.monotonic() - started, round=round_s,
                    behind=behind)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                p.kill()


def run(args, database) -> list[Figure]:
    """Build the farm, start the 9600-baud simulator, time one poll job, then watch each number of workers."""
    from sqlalchemy import create_engine, select

    from bench.simproc import SimProcess
    from portal.extensions import db
    from portal.models import Gateway, Meter, MeterState
    from worker.simulator.sites import specs_for_site

    counts = [int(n) for n in str(args.scale_workers).split(",") if n.strip()]
    redis_url = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0").rsplit("/", 1)[0] + "/15"
    app = farm_mod.make_app(database.url)
    with app.app_context():
        site_id = farm_mod.build_site(db.session, GATEWAYS, PER_GATEWAY, code=SITE)
        specs = specs_for_site(db.session, SITE)
        db.session.remove()
    figures: list[Figure] = []
    with SimProcess(specs, speed=60) as sim:  # a first cycle at full speed makes every meter's state
        with app.app_context():
            farm_mod.set_ports(db.session, site_id, sim.ports)
            db.session.remove()
        full_cycle(app, _RealTime())
    with app.app_context():
        energy = {(code, unit): e for code, unit, e in db.session.execute(
            select(Gateway.code, Meter.unit_id, MeterState.energy_total).join(Meter, Meter.gateway_id == Gateway.id)
            .join(MeterState, MeterState.meter_id == Meter.id).where(Gateway.site_id == site_id)).all()}
        one_id = db.session.execute(select(Gateway.id).where(Gateway.site_id == site_id).limit(1)).scalar_one()
        db.session.remove()
    timed = [dataclasses.replace(s, baud=args.baud, meters=tuple(
        dataclasses.replace(m, energy_start=energy.get((s.code, m.unit_id)) or 0) for m in s.meters)) for s in specs]
    engine = create_engine(database.url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with SimProcess(timed, speed=60) as sim:
            with app.app_context():
                farm_mod.set_ports(db.session, site_id, sim.ports)
                db.session.remove()
            job = min(full_cycle(app, _RealTime(), [one_id]).wall for _ in range(3))  # one gateway, as one job
            print(f"scale-out: {GATEWAYS} gateways x {PER_GATEWAY} meters at {args.baud} baud; one poll job "
                  f"(a gateway's bus and its recording) {job:.2f} s")
            figures.append(Figure(f"scale-out: one poll job at {args.baud} baud", job, "s", fmt=".2f",
                                  note=f"best of 3; {PER_GATEWAY} meters on the bus"))
            for n in counts:
                seen = _watch(app, engine, site_id, redis_url, n, args.scale_minutes, args.scale_interval)
                need = math.ceil(GATEWAYS * job / (AGE_BAR_S - job))
                first = (f"first round {seen['round']:.0f} s" if not seen["behind"]
                         else f"{seen['behind']} gateways not reached in the first {seen['round']:.0f} s")
                print(f"  {n:>2} polling workers: {first}; then worst gateway age {seen['worst']:.0f} s over "
                      f"{seen['seconds'] / 60:.1f} min ({seen['samples']} samples); cron + workers used "
                      f"{seen['cpu']:.0f} CPU-s ({seen['cpu'] / seen['seconds'] * 100:.0f} % of one core)")
                figures.append(Figure(f"scale-out: {n} polling workers, worst gateway age", seen["worst"], "s",
                                      AGE_BAR_S if n >= need else None, fmt=".0f",
                                      note=f"over {args.scale_minutes:g} min after the {first}; "
                                           f"{seen['cpu'] / seen['seconds']:.2f} cores busy; "
                                           f"{GATEWAYS} x {job:.2f} s / (60 - {job:.2f}) s = {need} workers needed; "
                                           f"POLL_INTERVAL_SECONDS={args.scale_interval}"))
    finally:
        engine.dispose()
        import redis

        redis.Redis.from_url(redis_url).flushdb()
    return figures


def main(argv: list[str] | None = None) -> int:
    """Only these figures, in a throwaway database."""
    def with_baud(ap: argparse.ArgumentParser) -> None:
        add_arguments(ap)
        ap.add_argument("--baud", type=int, default=9600)
    return farm_mod.run_alone("python -m bench.scaleout", __doc__, with_baud, run, argv)


if __name__ == "__main__":
    sys.exit(main())
