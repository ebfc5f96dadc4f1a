"""The notifications' burst of SPEC §5: a fee run that pushes 10,000 shops across a low-balance level queues every
message in ≤ 10 s and sends none twice; a supply-off queued after the burst is not held up behind it.

    python -m bench.notify_burst [--burst-gateways 170] [--burst-per-gateway 59] [--burst-senders 2]

A site of 10,030 shops (bench.farm), each with a phone and a fixed property fee that leaves it just below its
first low-balance level (50.00 yuan). Then:
- the fee run, committed with everything it queues: each shop's fee posted and its low-balance level crossed, both
  told to the shop in the fee run's transaction — the figure is the time until every message is queued and
  committed, against the bar (quiet hours off, so that the burst is sent whatever the hour);
- one shop's supply goes off after the burst (an urgent message queued last);
- --burst-senders senders at once (threads of this process, as RQ workers on the `notify` queue would be; the
  demo's log channel, SMS_BACKEND=log) send everything: the time, how many were sent more than once (bar: none;
  each claim is `FOR UPDATE SKIP LOCKED`), and which batch the supply-off was claimed in (bar: the first batch
  of one of the senders).
The in-process queue's jobs are counted, not run: the senders here are the bench's.
"""
from __future__ import annotations

import argparse
import os
import sys
import threading
import time

from sqlalchemy import func, select, text

from bench import farm as farm_mod
from bench.figures import Figure

QUEUE_BAR_S = 10.0
SITE = "BURST"
LEVEL_FEN = 5_000  # bench.farm's first low-balance level
LEFT_FEN = 4_900  # what the fee leaves each shop: just below it


def add_arguments(ap: argparse.ArgumentParser) -> None:
    """The notification burst's options (shared with python -m bench)."""
    g = ap.add_argument_group("notification burst")
    g.add_argument("--burst-only", action="store_true", help="only the notification burst's figures")
    g.add_argument("--no-burst", action="store_true", help="skip the notification burst's figures")
    g.add_argument("--burst-gateways", type=int, default=170, help="gateways of the burst's site")
    g.add_argument("--burst-per-gateway", type=int, default=59, help="shops (meters) per gateway")
    g.add_argument("--burst-senders", type=int, default=2, help="senders at once")


def run(args, database) -> list[Figure]:
    """Build the site, run the fee, send the burst; the figures."""
    # the app's modules only when this part runs, as the other parts load them
    from portal.extensions import db
    from portal.models import Account, Delivery, utcnow
    from portal.monthly.fees import run_fees
    from portal.monthly.periods import month_of
    from portal.notify.route import tell_shop
    from portal.notify.send import BATCH

    # the burst is timed whatever the hour: quiet hours (22:00-08:00 by default) would hold it until morning
    os.environ["NOTIFY_QUIET_HOURS"] = "off"
    app = farm_mod.make_app(database.url)
    asked: list[str] = []
    # the kicks after each commit are counted, not run: the bench runs its own senders
    app.extensions["payfirst.dispatcher"].runner.submit = lambda func, args: asked.append(func.job_name)
    with app.app_context():
        s = db.session
        t = time.perf_counter()
        site_id = farm_mod.build_site(s, args.burst_gateways, args.burst_per_gateway, code=SITE)
        s.execute(text("UPDATE accounts SET phone = '139' || lpad(id::text, 8, '0'), fee_fixed_fen = :fee "
                       "WHERE site_id = :site"), dict(fee=farm_mod.OPENING_FEN - LEFT_FEN, site=site_id))
        s.commit()
        shops = s.scalar(select(func.count()).select_from(Account).where(Account.site_id == site_id))
        print(f"burst site: {shops} shops with phones, each fee leaving {LEFT_FEN / 100:.2f} yuan (level 1: "
              f"{LEVEL_FEN / 100:.2f}); built in {time.perf_counter() - t:.1f} s")

        month = month_of(utcnow(), app.config["SETTINGS"].core.tz)
        t = time.perf_counter()
        run_fees(s, month, site_ids={site_id}, actor="bench")
        s.commit()
        fee_s = time.perf_counter() - t
        ours = select(func.count()).select_from(Delivery).where(Delivery.site_id == site_id)
        told = s.scalar(ours)
        queued_s = fee_s
        kicks = len(asked)
        print(f"  fee run {fee_s:.2f} s, telling the shops itself: {told} messages queued")

        last = s.scalar(select(func.max(Account.id)).where(Account.site_id == site_id))
        tell_shop(s, last, "supply_off", "bench:off", {"shop": f"S{last:05d}", "reason": "bench"})
        s.commit()
        s.remove()

    sent, took = _send(app, args.burst_senders)
    with app.app_context():
        s = db.session
        rows = s.execute(select(Delivery.event, Delivery.status, Delivery.attempts, Delivery.provider_id,
                                Delivery.claimed_at).where(Delivery.site_id == site_id)).all()
        s.remove()
    order = sorted(int(r.provider_id.removeprefix("log-")) for r in rows if r.provider_id)
    # the batches in the order they were claimed (a claim stamps its batch's claimed_at)
    off = next(r for r in rows if r.event == "supply_off")
    batch_no = sorted({r.claimed_at for r in rows}).index(off.claimed_at) + 1
    # a second claim of a delivery would count a second attempt; a second send, a second provider id
    twice = sum(1 for r in rows if r.attempts != 1) + len(rows) - len(set(order))
    unsent = sum(1 for r in rows if r.status.value != "sent")
    print(f"  {args.burst_senders} senders: {sum(sent)} sent ({sent}) in {took:.2f} s, {unsent} of the site's "
          f"not sent; the supply-off was in claimed batch #{batch_no}; sender jobs asked for by the commits: {kicks}")
    figures = [
        Figure("burst: fee run to every message queued", queued_s, "s", QUEUE_BAR_S,
               note=f"{told} messages (the fee and the level crossed, per shop), in the fee run's transaction"),
        Figure("burst: messages sent more than once", twice, "", 0, fmt="d",
               note=f"{len(rows)} sent by {args.burst_senders} senders in {took:.2f} s, "
                    f"{len(rows) / took:.0f}/s (log channel)"),
        Figure("burst: messages not sent", unsent, "", 0, fmt="d"),
        Figure("burst: supply-off queued last, in batch #", batch_no, "", args.burst_senders, fmt="d",
               note=f"of {len({r.claimed_at for r in rows})} batches of up to {BATCH}; bar: the senders' first"),
    ]
    return figures


def _send(app, senders: int) -> tuple[list[int], float]:
    """Run `senders` senders at once until everything due is sent; what each sent, and the time."""
    from portal.notify.send import send_due  # as in run(): only when this part runs

    sent = [0] * senders

    def sender(i: int) -> None:
        with app.app_context():
            sent[i] = send_due(("log",))["sent"]

    threads = [threading.Thread(target=sender, args=(i,)) for i in range(senders)]
    t = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sent, time.perf_counter() - t


def main(argv: list[str] | None = None) -> int:
    """Only these figures, in a throwaway database."""
    return farm_mod.run_alone("python -m bench.notify_burst", __doc__, add_arguments, run, argv)


if __name__ == "__main__":
    sys.exit(main())
