"""The Aliyun SMS channel's throughput against its stand-in (issue 14, "throughput per channel against its stand-in").

    python -m bench.sms [--sms-messages 200]

The stand-in (tests/notify/aliyun_standin.py) runs in a process of its own, so that its signature checks do not
share a core's GIL with the sender; the channel sends one message after another, as one RQ worker would, through
the official SDK (signing each request, one kept-alive connection). Figures: messages per second, the time of one
send (p50, p99), the sender's CPU per message (mostly the SDK: building, signing, parsing), and the messages the
stand-in did not accept exactly once (bar: none). No database.
"""
from __future__ import annotations

import argparse
import multiprocessing
import statistics
import sys
import time

from bench.figures import Figure

KEY_ID, SECRET, SIGN, TEMPLATE = "LTAI5tBenchKey0001", "bench-secret", "先付", "SMS_480100001"
TEXT = "尊敬的用户，您的商铺${shop}余额为${balance}元，已低于一级预警，请及时充值。"


def add_arguments(ap: argparse.ArgumentParser) -> None:
    """The SMS benchmark's options (shared with python -m bench)."""
    g = ap.add_argument_group("SMS channels")
    g.add_argument("--sms-only", action="store_true", help="only the SMS channel figures")
    g.add_argument("--no-sms", action="store_true", help="skip the SMS channel figures")
    g.add_argument("--sms-messages", type=int, default=200, help="messages sent through the Aliyun channel")


def _serve(conn) -> None:
    """The stand-in's process: say its endpoint, then on any word answer what it accepted, and stop."""
    # the stand-in the tests run against: imported in its own process only
    from tests.notify.aliyun_standin import AliyunSmsStandIn

    with AliyunSmsStandIn(KEY_ID, SECRET, {SIGN}, {TEMPLATE: TEXT}) as standin:
        conn.send(standin.endpoint)
        conn.recv()
        conn.send(([s.out_id for s in standin.accepted], list(standin.answers)))


def run(args, database=None) -> list[Figure]:
    """Send --sms-messages messages through the Aliyun channel; the figures."""
    # the SDK (aiohttp and more) is loaded only when this part runs, as the other parts load the app
    from portal.notify.channels.aliyun import AliyunSmsChannel
    from portal.notify.channels.base import Message, Outcome

    n = args.sms_messages
    ours, theirs = multiprocessing.get_context("spawn").Pipe()
    server = multiprocessing.get_context("spawn").Process(target=_serve, args=(theirs,), daemon=True)
    server.start()
    try:
        endpoint = ours.recv()
        channel = AliyunSmsChannel.connect(KEY_ID, SECRET, SIGN, {"low_balance_1": TEMPLATE}, endpoint)
        messages = [Message("low_balance_1", f"139{i:08d}", "", {"shop": f"一楼 A-{i:03d}", "balance": "9.80"},
                            key=f"low_balance_1:{i}:1:aliyun") for i in range(n)]
        channel.send(Message("low_balance_1", "13800000000", "", {"shop": "预热", "balance": "0"}, key="warm-up"))
        took, outcomes = [], {}
        c0, t0 = time.process_time(), time.perf_counter()
        for message in messages:
            s = time.perf_counter()
            outcome = channel.send(message).outcome
            took.append(time.perf_counter() - s)
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        ours.send("done")
        accepted, answers = ours.recv()
    finally:
        server.join(timeout=5)
        if server.is_alive():
            server.terminate()
    keys = [m.key for m in messages]
    not_once = sum(1 for k in keys if accepted.count(k) != 1) + len(set(accepted) - {*keys, "warm-up"})
    ms = sorted(t * 1000 for t in took)
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    print(f"aliyun SMS: {n} sends in {wall:.2f} s against the stand-in at {endpoint} (its own process); "
          f"outcomes { {o.value: c for o, c in outcomes.items()} }; stand-in answers "
          f"{ {a: answers.count(a) for a in sorted(set(answers))} }")
    return [
        Figure("aliyun SMS: messages per second", n / wall, "/s", fmt=".0f",
               note=f"{n} sends one after another, one SDK client, stand-in verifying each signature"),
        Figure("aliyun SMS: one send, p50", statistics.median(ms), "ms", fmt=".1f", note=f"p99 {p99:.1f} ms"),
        Figure("aliyun SMS: sender CPU per message", cpu / n * 1000, "ms", fmt=".2f",
               note="the SDK's request, signature and answer; the stand-in's CPU not counted"),
        Figure("aliyun SMS: messages not accepted once", not_once, "", 0, fmt=".0f",
               note=f"{outcomes.get(Outcome.SENT, 0)} of {n} answered sent"),
    ]


def main(argv: list[str] | None = None) -> int:
    """Only these figures (they need no database)."""
    ap = argparse.ArgumentParser(prog="python -m bench.sms", description=__doc__.splitlines()[0])
    add_arguments(ap)
    figures = run(ap.parse_args(argv))
    print()
    for f in figures:
        print(f.line())
    return 1 if any(f.ok is False for f in figures) else 0


if __name__ == "__main__":
    sys.exit(main())
