"""The poll cycle with every meter of the farm in meter mode (内控): usage debits and the books check included.

The same 10,030 meters and buses as the platform-mode figures, switched to meter mode in the database and
served by a new simulator process whose meters hold what the ledger says (their energy registers carry on).
Each steady cycle then reads every meter, debits what each meter charged itself since the last read (about
every meter moves: the simulator runs 60x real time), and checks every shop's ledger against its meter.
"""
from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime

from bench import farm as farm_mod
from bench.figures import CycleClock, Figure, Timing, floor_cycle, full_cycle, median, say_cycle
from bench.simproc import SimProcess

CYCLE_BAR_S = 10.0
FLOOR_AIM = 3.0


def add_arguments(ap: argparse.ArgumentParser) -> None:
    """The meter-mode benchmark's options (shared with python -m bench)."""
    g = ap.add_argument_group("meter mode")
    g.add_argument("--no-meter-mode", action="store_true", help="skip the meter-mode poll-cycle figures")
    g.add_argument("--meter-mode-only", action="store_true",
                   help="of the poll-cycle figures, only the floor, platform steady and meter-mode ones")


def run(args, app, site_id: int, clock: CycleClock, floor: Timing, platform_steady: float) -> list[Figure]:
    """Switch the farm to meter mode, serve it from a fresh simulator, time its cycles."""
    from sqlalchemy import update

    from portal.extensions import db
    from portal.models import ControlMode, Meter
    from worker.simulator.sites import specs_for_site

    with app.app_context():
        db.session.execute(update(Meter).where(Meter.site_id == site_id).values(
            control_mode=ControlMode.METER, books_remaining_fen=None, books_count=None, books_net_fen=None,
            books_read_at=None))
        db.session.commit()
        specs = specs_for_site(db.session, farm_mod.SITE_CODE)
        db.session.remove()
    n = sum(len(s.meters) for s in specs)
    start = datetime.now(UTC).replace(hour=4, minute=0, second=0, microsecond=0)  # 12:00 Shanghai, busy
    with SimProcess(specs, start=start, speed=60) as sim:
        print(f"meter mode: all {n} meters switched; a new simulator process whose meters hold the ledger's "
              "balance, 60x real time")
        with app.app_context():
            farm_mod.set_ports(db.session, site_id, sim.ports)
            db.session.remove()
        first = full_cycle(app, clock)
        say_cycle("meter mode: first cycle (the books start)", first)
        # each timed cycle set against the bare client's floor run on this simulator just before and just after it,
        # the faster of the two, as the platform-mode cycles are (a shared machine's speed drifts over a run)
        farm = [("127.0.0.1", sim.ports[s.code], [m.unit_id for m in s.meters]) for s in specs]
        around = [floor_cycle(farm).wall]
        steady, debits, ratios = [], [], []
        for i in range(args.steady):
            time.sleep(1.0)  # a simulated minute: every meter charges itself something
            before = _usage_debits(app)
            profile = args.profile and i == args.steady - 1
            if profile:
                import cProfile  # only when asked: --profile FILE

                prof = cProfile.Profile()
                prof.enable()
            c = full_cycle(app, clock)
            if profile:
                prof.disable()
                prof.dump_stats(f"{args.profile}.meter-mode")
                print(f"  (profiled into {args.profile}.meter-mode)")
            steady.append(c)
            debits.append(_usage_debits(app) - before)
            around.append(floor_cycle(farm).wall)
            ratios.append(c.wall / min(around[-2:]))
            say_cycle(f"meter mode: steady cycle {i + 1} (usage debits + books check)", c,
                      f"{debits[-1]} usage debits; {ratios[-1]:.2f}x the floor around it ({around[-2]:.3f} s, "
                      f"{around[-1]:.3f} s)")
        checks = _checks(app)
        print(f"  after them: {checks}")
    wall = median([c.wall for c in steady])
    cpu = median([c.cpu for c in steady])
    return [
        Figure("meter mode: full cycle, steady", wall, "s", CYCLE_BAR_S,
               note=f"median of {len(steady)}; {n} meters, {min(debits)}-{max(debits)} usage debits a cycle; "
                    f"platform mode {platform_steady:.2f} s"),
        Figure("aim: meter-mode steady cycle / floor", median(ratios), "x", FLOOR_AIM, fmt=".2f",
               note=f"median of each cycle over the faster floor run beside it (over the platform-mode run's best "
                    f"floor: {wall / floor.wall:.2f}x; platform mode {platform_steady / floor.wall:.2f}x)"),
        Figure("meter mode: cycle CPU per meter, steady", cpu / n * 1e6, "µs", fmt=".0f",
               note=f"{cpu:.2f} s CPU per cycle"),
        Figure("meter mode: books mismatches after the cycles", checks["mismatches"], "", 0, fmt=".0f",
               note=f"ledger mismatches {checks['ledger_mismatches']}"),
    ]


def _usage_debits(app) -> int:
    from sqlalchemy import func, select

    from portal.extensions import db
    from portal.models import LedgerEntry

    with app.app_context():
        count = db.session.scalar(select(func.count()).where(LedgerEntry.idempotency_key.like("usage:%")))
        db.session.remove()
    return count


def _checks(app) -> dict:
    from portal.extensions import db
    from portal.ledger.entries import ledger_mismatches
    from portal.metering.books_check import compare_books

    with app.app_context():
        s = db.session
        books = compare_books(s)
        out = dict(shops_compared=len(books), mismatches=sum(not b.agree for b in books),
                   ledger_mismatches=len(ledger_mismatches(s)))
        s.remove()
    return out
