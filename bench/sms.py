"""Each sending channel's throughput against its stand-in (issue 14, "throughput per channel against its stand-in").

    python -m bench.sms [--sms-messages 200] [--wechat-messages 200] [--modem-messages 100]

Each stand-in (the one its channel's tests run against) runs in a process of its own, so that its work does not
share a core's GIL with the sender, and the sender sends one message after another, as one RQ worker would:
- Aliyun SMS (tests/notify/aliyun_standin.py): through the official SDK, each request signed, one kept-alive
  connection; the stand-in verifies every signature.
- WeChat template messages (tests/notify/wechat_mp_standin.py): through wechatpy, the access token fetched once
  and kept in the process (no Redis); the stand-in (http.server, HTTP/1.0) takes a new connection per request,
  checks the token and the data's shape and keeps one message per openid and client_msg_id.
- The GSM modem (tests/notify/modem_standin.py) on a pseudo-terminal: each send opens the port, runs the set-up
  (AT, ATE0, AT+CMEE=1, AT+CPIN?, AT+CREG?, AT+CMGF=0) and AT+CMGS with the PDU, and closes it. The stand-in
  emulates the protocol only: its SIM is unlocked and registered at once, it answers every command as soon as
  it has read it, a pty moves bytes at memory speed whatever baud rate is set (no 115,200 baud line), and the
  network accepts a message at once (a real modem waits one to five seconds for the SMSC). So the figure is the
  channel's own ceiling on one modem — its set-up, its pause after ESC and its reads — not a real modem's rate,
  which the network holds to well under one message a second.
Figures per channel: messages per second, the time of one send (p50, p99), the sender's CPU per message, and the
messages the stand-in did not accept exactly once (bar: none). No database.
"""
from __future__ import annotations

import argparse
import hashlib
import multiprocessing
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence

from bench.figures import Figure

KEY_ID, SECRET, SIGN, TEMPLATE = "LTAI5tBenchKey0001", "bench-secret", "先付", "SMS_480100001"
TEXT = "尊敬的用户，您的商铺${shop}余额为${balance}元，已低于一级预警，请及时充值。"
APP_ID, APP_SECRET, WECHAT_TEMPLATE = "wx5e1f0c0ffee0bench", "the-bench-accounts-secret", "tmpl-bench-low-1"
#: a modem's text: one UCS-2 part (at most 70 characters)
MODEM_TEXT = "一楼 A-{i:03d} 茶铺：余额 ¥9.80，已低于 ¥10.00，请及时充值。"


def add_arguments(ap: argparse.ArgumentParser) -> None:
    """The sending channels' options (shared with python -m bench)."""
    g = ap.add_argument_group("SMS and WeChat channels")
    g.add_argument("--sms-only", action="store_true", help="only the sending channels' figures")
    g.add_argument("--no-sms", action="store_true", help="skip the sending channels' figures")
    g.add_argument("--sms-messages", type=int, default=200, help="messages sent through the Aliyun channel")
    g.add_argument("--wechat-messages", type=int, default=200, help="template messages sent through WeChat")
    g.add_argument("--modem-messages", type=int, default=100, help="messages sent through the GSM modem")


# --- the stand-ins, each in its own process: say where it is, then on any word answer what it accepted, stop ---


def _serve_aliyun(conn) -> None:
    # the stand-ins the tests run against: imported in their own process only
    from tests.notify.aliyun_standin import AliyunSmsStandIn

    with AliyunSmsStandIn(KEY_ID, SECRET, {SIGN}, {TEMPLATE: TEXT}) as standin:
        conn.send(standin.endpoint)
        conn.recv()
        conn.send(([s.out_id for s in standin.accepted], list(standin.answers)))


def _serve_wechat(conn) -> None:
    from tests.notify.wechat_mp_standin import OfficialAccountStandIn

    standin = OfficialAccountStandIn(APP_ID, APP_SECRET).start()
    try:
        conn.send(standin.url)
        conn.recv()
        conn.send(([d.client_msg_id for d in standin.delivered],
                   [f"{standin.send_attempts} sends", f"{standin.token_fetches} token fetches"]))
    finally:
        standin.stop()


def _serve_modem(conn) -> None:
    from tests.notify.modem_pdu import read_submit
    from tests.notify.modem_standin import StandinModem

    with StandinModem() as modem:
        conn.send(modem.device)
        conn.recv()
        conn.send(([read_submit(pdu).number for pdu in modem.pdus], [f"{len(modem.log)} commands and PDUs"]))


class _StandIn:
    """A stand-in's process: `where` it listens, then `accepted()`: what it accepted and a few words on it."""

    def __init__(self, serve: Callable):
        context = multiprocessing.get_context("spawn")
        self._ours, theirs = context.Pipe()
        self._process = context.Process(target=serve, args=(theirs,), daemon=True)

    def __enter__(self) -> _StandIn:
        self._process.start()
        self.where = self._ours.recv()
        return self

    def accepted(self) -> tuple[list[str], list[str]]:
        self._ours.send("done")
        return self._ours.recv()

    def __exit__(self, *exc) -> None:
        self._process.join(timeout=5)
        if self._process.is_alive():
            self._process.terminate()


# --- timing, the same for every channel ---


def _timed(channel, messages: Sequence) -> tuple[list[float], dict, float, float]:
    """Send one after another: each send's seconds, the outcomes counted, the wall and CPU seconds of all."""
    took, outcomes = [], {}
    c0, t0 = time.process_time(), time.perf_counter()
    for message in messages:
        s = time.perf_counter()
        outcome = channel.send(message).outcome
        took.append(time.perf_counter() - s)
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    return took, outcomes, time.perf_counter() - t0, time.process_time() - c0


def _figures(label: str, took: list[float], outcomes: dict, wall: float, cpu: float, not_once: int, *,
             rate_note: str, cpu_note: str) -> list[Figure]:
    from portal.notify.channels.base import Outcome

    n = len(took)
    ms = sorted(t * 1000 for t in took)
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    return [
        Figure(f"{label}: messages per second", n / wall, "/s", fmt=".0f", note=rate_note),
        Figure(f"{label}: one send, p50", statistics.median(ms), "ms", fmt=".1f", note=f"p99 {p99:.1f} ms"),
        Figure(f"{label}: sender CPU per message", cpu / n * 1000, "ms", fmt=".2f", note=cpu_note),
        Figure(f"{label}: messages not accepted once", not_once, "", 0, fmt=".0f",
               note=f"{outcomes.get(Outcome.SENT, 0)} of {n} answered sent"),
    ]


def _not_once(expected: Sequence[str], accepted: Sequence[str], warm_up: str) -> int:
    """Messages accepted other than exactly once, and acceptances of something never sent."""
    return sum(1 for k in expected if accepted.count(k) != 1) + len(set(accepted) - {*expected, warm_up})


def _print(label: str, n: int, wall: float, where: str, outcomes: dict, said: Sequence[str]) -> None:
    print(f"{label}: {n} sends in {wall:.2f} s against the stand-in at {where} (its own process); "
          f"outcomes { {o.value: c for o, c in outcomes.items()} }; stand-in: {', '.join(said)}")


# --- the channels ---


def aliyun(n: int) -> list[Figure]:
    """n messages through the Aliyun SMS channel."""
    # the SDK (aiohttp and more) is loaded only when this part runs, as the other parts load the app
    from portal.notify.channels.aliyun import AliyunSmsChannel
    from portal.notify.channels.base import Message

    with _StandIn(_serve_aliyun) as standin:
        channel = AliyunSmsChannel.connect(KEY_ID, SECRET, SIGN, {"low_balance_1": TEMPLATE}, standin.where)
        messages = [Message("low_balance_1", f"139{i:08d}", "", {"shop": f"一楼 A-{i:03d}", "balance": "9.80"},
                            key=f"low_balance_1:{i}:1:aliyun") for i in range(n)]
        channel.send(Message("low_balance_1", "13800000000", "", {"shop": "预热", "balance": "0"}, key="warm-up"))
        took, outcomes, wall, cpu = _timed(channel, messages)
        accepted, answers = standin.accepted()
    return _report("aliyun SMS", n, wall, standin.where, outcomes,
                   [f"{answers.count(a)} answered {a}" for a in sorted(set(answers))], took, cpu,
                   _not_once([m.key for m in messages], accepted, "warm-up"),
                   rate_note=f"{n} sends one after another, one SDK client, stand-in verifying each signature",
                   cpu_note="the SDK's request, signature and answer; the stand-in's CPU not counted")


def wechat(n: int) -> list[Figure]:
    """n template messages through the WeChat channel (its token fetched by the warm-up send)."""
    from portal.notify.channels.base import Message
    from portal.notify.channels.wechat import WeChatTemplateChannel

    def client_msg_id(key: str) -> str:  # as the channel makes it: the stand-in keeps one message per id
        return hashlib.sha256(key.encode()).hexdigest()[:32]

    with _StandIn(_serve_wechat) as standin:
        channel = WeChatTemplateChannel(APP_ID, APP_SECRET, {"low_balance_1": WECHAT_TEMPLATE},
                                        api_base=standin.where, public_base_url="https://pay.example.com")
        params = {"shop": "一楼 A-001", "shop_name": "茶铺", "balance": "9.80", "level": "10.00"}
        messages = [Message("low_balance_1", f"o-bench-{i:06d}", "", {**params, "shop": f"一楼 A-{i:03d}"},
                            link=f"/t/a/{i}", key=f"low_balance_1:{i}:1:wechat") for i in range(n)]
        channel.send(Message("low_balance_1", "o-bench-warm-up", "", params, key="warm-up"))
        took, outcomes, wall, cpu = _timed(channel, messages)
        accepted, said = standin.accepted()
    return _report("WeChat template", n, wall, standin.where, outcomes, said, took, cpu,
                   _not_once([client_msg_id(m.key) for m in messages], accepted, client_msg_id("warm-up")),
                   rate_note=f"{n} sends one after another, one wechatpy client, the token kept in the process",
                   cpu_note="wechatpy's request (a new connection each) and its answer; the stand-in's not counted")


def modem(n: int) -> list[Figure]:
    """n texts through the GSM modem channel on the stand-in's pseudo-terminal."""
    from portal.notify.channels.base import Message
    from portal.notify.channels.modem import ModemChannel

    with _StandIn(_serve_modem) as standin, tempfile.TemporaryDirectory() as state:
        channel = ModemChannel(standin.where, 115_200, state_dir=state)
        messages = [Message("low_balance_1", f"139{i:08d}", MODEM_TEXT.format(i=i), key=f"low_balance_1:{i}:1:modem")
                    for i in range(n)]
        channel.send(Message("low_balance_1", "13800000000", "预热", key="warm-up"))
        took, outcomes, wall, cpu = _timed(channel, messages)
        accepted, said = standin.accepted()
    return _report("GSM modem", n, wall, "a pty", outcomes, said, took, cpu,
                   _not_once([m.recipient for m in messages], accepted, "13800000000"),
                   rate_note=f"{n} sends one after another, port opened and set up per send; no line rate, no "
                             "network wait emulated",
                   cpu_note="PDU encoding and the AT exchange; the stand-in's CPU not counted")


def _report(label: str, n: int, wall: float, where: str, outcomes: dict, said: Sequence[str], took: list[float],
            cpu: float, not_once: int, **notes: str) -> list[Figure]:
    _print(label, n, wall, where, outcomes, said)
    return _figures(label, took, outcomes, wall, cpu, not_once, **notes)


def run(args, database=None) -> list[Figure]:
    """Send through each channel against its stand-in; the figures."""
    return aliyun(args.sms_messages) + wechat(args.wechat_messages) + modem(args.modem_messages)


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
