"""The payment figures of SPEC §5: verified Alipay notifies per second through gunicorn (against the
floor of a bare verify-only route), exactly-once crediting, and paid -> supply restored.

    python -m bench --notify-only [--notify-seconds 10] [--notify-connections 4] [--notify-orders 12000]
                                  [--notify-workers 4] [--restore-meters 20]

Notify rate: N accounts with one open order each (bulk insert), RSA keys made in a temporary folder,
every notify body signed beforehand (as Alipay signs: SHA256withRSA over the sorted k=v pairs without
sign, sign_type and empty values; `cryptography`, no code shared with portal/), one body in ten sent
again later as a duplicate. `gunicorn -w 4 -k sync wsgi:app` (the web process as the Procfile runs it: WEB_WORKERS,
4 by default) with REDIS_URL on a dedicated Redis db
(flushed before and after); wrk at a fixed number of connections for a fixed time; then
`flask --app wsgi worker --burst payments` credits what was accepted and the books are checked:
every accepted order credited once, no order twice, no ledger mismatch, no outbox row left over.
The floor is bench/floor_app.py (the same SDK verify, answers `success`) under the same gunicorn
settings, measured by the same wrk run, before the app. (The floor waits on nothing, so its rate is its CPU's on
two workers or four; the app's workers wait on PostgreSQL's commit, which the Procfile's four overlap.)

Restore: one gateway of M platform-mode meters (payfirst-prepaid-v1) in a simulator process, every
account in arrears and its relay tripped by a real poll cycle; the app under gunicorn and one RQ worker
(`flask --app wsgi worker`, every queue); one signed notify per account, a new one every 250 ms; the
time from sending a notify to the simulated meter's relay being closed (asked of the simulator
process every 10 ms).
"""
from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import urlencode

from bench.figures import Figure

NOTIFY_RATE_BAR = 300.0  # verified notifies per second, sustained
#: gunicorn's sync workers, as the Procfile runs the web process (WEB_WORKERS unset)
WEB_WORKERS = 4
NOTIFY_P99_BAR_MS = 100.0
FLOOR_SHARE_AIM = 1 / 3  # the notify rate should reach a third of the verify-only floor
RESTORE_P95_BAR_S = 3.0
ROOT = Path(__file__).resolve().parent.parent
APP_ID = "2021004100000099"
SELLER_ID = "2088000000000999"
BEIJING = timezone(timedelta(hours=8))
REDIS_DB = 14  # the bench's own Redis database index (flushed before and after)
NOTIFY_SITE, RESTORE_SITE = "PAYN", "PAYR"


@dataclass
class AtLeast(Figure):
    """A figure whose bar is a minimum."""

    @property
    def ok(self) -> bool | None:
        return None if self.bar is None else self.value >= self.bar

    def line(self) -> str:
        value = f"{self.value:{self.fmt}} {self.unit}"
        bar = f"≥ {self.bar:{self.fmt}} {self.unit}" if self.bar is not None else "-"
        verdict = {None: "info", True: "PASS", False: "FAIL"}[self.ok]
        text = f"{self.name:<44} {value:>14}  {bar:>16}  {verdict}"
        return f"{text}  ({self.note})" if self.note else text


def add_arguments(ap: argparse.ArgumentParser) -> None:
    """The payment benchmark's options (shared with python -m bench)."""
    g = ap.add_argument_group("payment notifies")
    g.add_argument("--notify-only", action="store_true", help="only the payment figures")
    g.add_argument("--no-notify", action="store_true", help="skip the payment figures")
    g.add_argument("--notify-seconds", type=float, default=10.0, help="wrk duration of each notify run")
    g.add_argument("--notify-connections", type=int, default=4, help="wrk connections (2 threads)")
    g.add_argument("--notify-workers", type=int, default=WEB_WORKERS,
                   help="gunicorn sync workers, for the floor and the app alike (the Procfile's default)")
    g.add_argument("--notify-orders", type=int, default=12000,
                   help="open orders for the notify run (a faster app must not run out of them)")
    g.add_argument("--restore-meters", type=int, default=20, help="meters in arrears for the restore figure")
    g.add_argument("--no-relay", action="store_true",
                   help="no outbox relay beside gunicorn: each request hands its credit job to RQ itself")


# --- keys and signing (as Alipay signs notifies; shares no code with portal/) ---------------------------

def _key_pair() -> tuple[bytes, bytes]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return private, public


def make_keys(folder: Path) -> dict[str, str]:
    """The app's pair and the 'platform' pair in `folder`; the ALIPAY_* variables pointing at them."""
    app_private, _ = _key_pair()
    platform_private, platform_public = _key_pair()
    (folder / "app_private.pem").write_bytes(app_private)
    (folder / "platform_public.pem").write_bytes(platform_public)
    (folder / "platform_private.pem").write_bytes(platform_private)
    return {"ALIPAY_APP_ID": APP_ID, "ALIPAY_APP_PRIVATE_KEY_FILE": str(folder / "app_private.pem"),
            "ALIPAY_PUBLIC_KEY_FILE": str(folder / "platform_public.pem"), "ALIPAY_SELLER_ID": SELLER_ID,
            "ALIPAY_GATEWAY": "http://127.0.0.1:9/gateway.do", "PAYFIRST_SANDBOX": "0"}


def notify_fields(out_trade_no: str, trade_no: str, amount_fen: int, seq: int) -> dict[str, str]:
    """A trade_status_sync notify as Alipay sends it (unsigned)."""
    now = datetime.now(BEIJING).strftime("%Y-%m-%d %H:%M:%S")
    yuan = f"{amount_fen // 100}.{amount_fen % 100:02d}"
    return {
        "gmt_create": now, "charset": "utf-8", "seller_email": "shop@example.com", "subject": "先付充值 bench",
        "sign_type": "RSA2", "buyer_id": "2088102177846880", "invoice_amount": yuan, "notify_id": f"2024{seq:028d}",
        "fund_bill_list": json.dumps([{"amount": yuan, "fundChannel": "ALIPAYACCOUNT"}], separators=(",", ":")),
        "notify_type": "trade_status_sync", "trade_status": "TRADE_SUCCESS", "receipt_amount": yuan,
        "app_id": APP_ID, "buyer_pay_amount": yuan, "seller_id": SELLER_ID, "gmt_payment": now, "notify_time": now,
        "version": "1.0", "out_trade_no": out_trade_no, "total_amount": yuan, "trade_no": trade_no,
        "auth_app_id": APP_ID, "buyer_logon_id": "158****1562", "point_amount": "0.00",
    }


def _sign_chunk(private_pem: bytes, items: list[tuple[str, str, int, int]]) -> list[str]:
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding

    key = serialization.load_pem_private_key(private_pem, password=None)
    out = []
    for out_trade_no, trade_no, amount_fen, seq in items:
        fields = notify_fields(out_trade_no, trade_no, amount_fen, seq)
        content = "&".join(f"{k}={v}" for k, v in sorted(fields.items()) if k not in ("sign", "sign_type") and v != "")
        fields["sign"] = base64.b64encode(key.sign(content.encode(), padding.PKCS1v15(), hashes.SHA256())).decode()
        out.append(urlencode(fields))
    return out


def sign_bodies(private_pem: bytes, orders: list[tuple[str, int]], first_seq: int = 0) -> list[str]:
    """One signed urlencoded notify body per (out_trade_no, amount_fen), signed on every core."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    items = [(no, f"2024{first_seq + i:024d}", fen, first_seq + i) for i, (no, fen) in enumerate(orders)]
    workers = max(1, min(os.cpu_count() or 1, 4))
    if len(items) < 200:
        return _sign_chunk(private_pem, items)
    size = -(-len(items) // workers)
    with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn")) as pool:
        parts = pool.map(_sign_chunk, [private_pem] * workers, [items[i:i + size] for i in range(0, len(items), size)])
        return [body for part in parts for body in part]


# --- processes -----------------------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _bin(name: str) -> str:
    return str(Path(sys.executable).parent / name)


@contextmanager
def gunicorn(module: str, env: dict[str, str], port: int, log: Path, workers: int = WEB_WORKERS):
    """`gunicorn -w <workers> -k sync -b 127.0.0.1:port module` until the block ends."""
    with open(log, "ab") as out:
        proc = subprocess.Popen([_bin("gunicorn"), "-w", str(workers), "-k", "sync", "-b", f"127.0.0.1:{port}", module],
                                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"gunicorn {module} exited ({proc.returncode}); see {log}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"gunicorn {module} did not listen; see {log}") from None
                time.sleep(0.1)
        yield proc
    finally:
        _stop(proc)


@contextmanager
def relay(env: dict[str, str], log: Path, off: bool = False):
    """`flask --app wsgi relay` (the Procfile's outbox relay) until the block ends, once it is handing over;
    nothing with `off`."""
    import redis

    if off:
        yield None
        return

    from portal.queue.dispatch import RELAY_KEY, RELAY_LOOK_EVERY

    with open(log, "ab") as out:
        proc = subprocess.Popen([_bin("flask"), "--app", "wsgi", "relay"], cwd=ROOT, env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        conn = redis.Redis.from_url(env["REDIS_URL"])
        deadline = time.monotonic() + 60
        while not conn.exists(RELAY_KEY):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the outbox relay did not start; see {log}")
            time.sleep(0.1)
        time.sleep(RELAY_LOOK_EVERY)  # every web worker now leaves its rows to the relay
        yield proc
    finally:
        _stop(proc)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _post(port: int, body: str) -> tuple[int, str]:
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("POST", "/pay/alipay/notify", body=body.encode(),
                     headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
        r = conn.getresponse()
        return r.status, r.read().decode(errors="replace")
    finally:
        conn.close()


WRK_LUA = r"""
local n = 0
local threads = {}
function setup(thread)
  thread:set("id", n)
  table.insert(threads, thread)
  n = n + 1
end
function init(args)
  local nthreads = tonumber(args[2])
  bodies = {}
  local i = 0
  for line in io.lines(args[1]) do
    if i % nthreads == id then bodies[#bodies + 1] = line end
    i = i + 1
  end
  idx = 0
  wrapped = 0
  not_success = 0
  wrk.method = "POST"
  wrk.path = "/pay/alipay/notify"
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded; charset=utf-8"
end
function request()
  idx = idx + 1
  if idx > #bodies then idx = 1; wrapped = wrapped + 1 end
  return wrk.format(nil, nil, nil, bodies[idx])
end
function response(status, headers, body)
  if status ~= 200 or body ~= "success" then not_success = not_success + 1 end
end
function done(summary, latency, requests)
  local bad, wraps = 0, 0
  for _, t in ipairs(threads) do
    bad = bad + t:get("not_success")
    wraps = wraps + t:get("wrapped")
  end
  local e = summary.errors
  io.write(string.format(
    'BENCHJSON {"requests":%d,"duration_us":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,' ..
    '"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,"not_success":%d,"wrapped":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, e.connect, e.read, e.write, e.status, e.timeout, bad, wraps))
end
"""


def wrk(port: int, bodies_file: Path, seconds: float, connections: int, script: Path) -> dict:
    """One wrk run (2 threads) over the bodies in the file; its summary."""
    threads = min(2, connections)
    out = subprocess.run(["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds:g}s", "--timeout", "5s",
                          "-s", str(script), f"http://127.0.0.1:{port}/pay/alipay/notify", "--",
                          str(bodies_file), str(threads)], capture_output=True, text=True, timeout=seconds + 60)
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("BENCHJSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk gave no summary: {out.stdout[-500:]} {out.stderr[-500:]}")
    r = json.loads(line.removeprefix("BENCHJSON "))
    r["rate"] = r["requests"] / (r["duration_us"] / 1e6)
    r["errors"] = r["connect"] + r["read"] + r["write"] + r["timeout"]
    return r


def _redis_url() -> str:
    base = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    head, _, tail = base.rpartition("/")
    return f"{head}/{REDIS_DB}" if tail.isdigit() else f"{base.rstrip('/')}/{REDIS_DB}"


def _env(database_url: str, keys: dict[str, str], port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ALIPAY_", "WECHAT_"))}
    env.update(keys, DATABASE_URL=database_url, REDIS_URL=_redis_url(), SECRET_KEY="bench-secret",
               PUBLIC_BASE_URL=f"http://127.0.0.1:{port}", PYTHONUNBUFFERED="1")
    return env


# --- the site ----------------------------------------------------------------------------------------------

def _open_orders(session, site_code: str, amount_fen) -> list[tuple[int, str, int]]:
    """One open Alipay order for every account of the site: (order id, out_trade_no, amount)."""
    from sqlalchemy import insert, select

    from portal.models import Account, Channel, OrderStatus, PaymentOrder, Site

    now = datetime.now(UTC)
    accounts = session.execute(select(Account.id).join(Site).where(Site.code == site_code).order_by(Account.id)
                               ).scalars().all()
    rows = [dict(out_trade_no=f"PB{site_code}{a:010d}", account_id=a, amount_fen=amount_fen(i),
                 channel=Channel.ALIPAY_WAP, status=OrderStatus.CREATED, payer="", created_by="bench",
                 expires_at=now + timedelta(hours=2), refunded_fen=0, created_at=now) for i, a in enumerate(accounts)]
    ids = session.execute(insert(PaymentOrder).returning(PaymentOrder.id, sort_by_parameter_order=True), rows
                          ).scalars().all()
    session.commit()
    return [(i, r["out_trade_no"], r["amount_fen"]) for i, r in zip(ids, rows)]


def run(args, database) -> list[Figure]:
    """Both payment figures; the figures."""
    if not shutil.which("wrk"):
        raise RuntimeError("the notify figure needs wrk (apt-get install wrk)")
    import redis

    from bench import farm as farm_mod

    work = Path(tempfile.mkdtemp(prefix="payfirst-bench-notify-"))
    r = redis.Redis.from_url(_redis_url())
    r.flushdb()
    try:
        t = time.perf_counter()
        keys = make_keys(work)
        app = farm_mod.make_app(database.url)
        print(f"payments: RSA keys in {work}, Redis {_redis_url()}, setup {time.perf_counter() - t:.1f} s")
        figures = run_notify(args, app, database.url, keys, work)
        figures += run_restore(args, app, database.url, keys, work)
        return figures
    finally:
        r.flushdb()
        shutil.rmtree(work, ignore_errors=True)


def run_notify(args, app, database_url: str, keys: dict[str, str], work: Path) -> list[Figure]:
    from bench import farm as farm_mod
    from portal.extensions import db

    n = args.notify_orders
    warm_n = 80
    t = time.perf_counter()
    with app.app_context():
        per = 200
        farm_mod.build_site(db.session, -(-(n + warm_n) // per), per, code=NOTIFY_SITE)
        orders = _open_orders(db.session, NOTIFY_SITE, lambda i: 1000 + i % 997)[: n + warm_n]
        db.session.remove()
    built = time.perf_counter() - t
    t = time.perf_counter()
    private = (work / "platform_private.pem").read_bytes()
    bodies = sign_bodies(private, [(no, fen) for _, no, fen in orders])
    signed = time.perf_counter() - t
    warm, main = bodies[:warm_n], bodies[warm_n:]
    # one body in ten is sent again, a few hundred requests later (possibly by the other wrk thread)
    mixed: list[str] = []
    for i, b in enumerate(main):
        mixed.append(b)
        if i % 9 == 8 and i >= 300:
            mixed.append(main[i - 300 + (i * 7) % 300])
    dupes = len(mixed) - len(main)
    (work / "warm.txt").write_text("\n".join(warm) + "\n")
    (work / "bodies.txt").write_text("\n".join(mixed) + "\n")
    script = work / "notify.lua"
    script.write_text(WRK_LUA)
    print(f"notify site: {len(orders)} accounts with an open order each, built in {built:.1f} s; "
          f"{len(bodies)} notifies signed in {signed:.1f} s; {len(mixed)} bodies to send ({dupes} duplicates)")

    secs, conns = args.notify_seconds, args.notify_connections
    port = _free_port()
    env = _env(database_url, keys, port)
    log = work / "gunicorn.log"
    with gunicorn("bench.floor_app:app", env, port, log, args.notify_workers):
        _warm_up(port, warm)
        before = _cpu_by_program()
        floor = wrk(port, work / "bodies.txt", secs, conns, script)
        floor_cpu = _cpu_by_program().get("gunicorn", 0.0) - before.get("gunicorn", 0.0)
    _say("floor (verify-only Flask route)", floor)
    print(f"  CPU per request: gunicorn {floor_cpu / max(floor['requests'], 1) * 1000:.2f} ms")
    with gunicorn("wsgi:app", env, port, log, args.notify_workers), relay(env, log, args.no_relay):
        _warm_up(port, warm)  # accepts the warm-up orders (credited and checked with the rest)
        before = _cpu_by_program()
        real = wrk(port, work / "bodies.txt", secs, conns, script)
        used = {k: v - before.get(k, 0.0) for k, v in _cpu_by_program().items()}
    _say("notify route (wsgi:app, " + ("no relay)" if args.no_relay else "with the outbox relay)"), real)
    print("  CPU per notify: " + ", ".join(f"{name} {used.get(name, 0.0) / max(real['requests'], 1) * 1000:.2f} ms"
                                          for name in ("gunicorn", "relay", "postgres", "redis-server", "wrk")))

    t = time.perf_counter()
    burst = subprocess.run([_bin("flask"), "--app", "wsgi", "worker", "--burst", "payments"], cwd=ROOT, env=env,
                           capture_output=True, text=True, timeout=600)
    credit_s = time.perf_counter() - t
    if burst.returncode != 0:
        print(burst.stderr[-2000:])
    books = _notify_books(app)
    print(f"  credit: `flask worker --burst payments` exit {burst.returncode} in {credit_s:.1f} s; books {books}")
    if real["wrapped"]:
        print(f"  note: the app run went through every body and resent some ({real['wrapped']} wraps): "
              "raise --notify-orders")

    bad = real["not_success"] + real["errors"]
    return [
        AtLeast("notify floor: verify-only route", floor["rate"], "/s",
                note=f"gunicorn -w{args.notify_workers} sync, wrk {conns} conns {secs:g} s, "
                     f"p99 {floor['p99_us'] / 1000:.1f} ms",
                fmt=".0f"),
        AtLeast("notify: verified notifies through gunicorn", real["rate"], "/s", NOTIFY_RATE_BAR, fmt=".0f",
                note=f"wrk {conns} conns, {real['requests']} requests in {real['duration_us'] / 1e6:.1f} s, "
                     f"{bad} not `success`"),
        Figure("notify: p99 latency", real["p99_us"] / 1000, "ms", NOTIFY_P99_BAR_MS, fmt=".1f",
               note=f"p50 {real['p50_us'] / 1000:.1f} ms, max {real['max_us'] / 1000:.0f} ms"),
        AtLeast("aim: notify rate / floor", real["rate"] / floor["rate"], "x", FLOOR_SHARE_AIM, fmt=".2f",
                note="SPEC aim: at least a third of the floor"),
        Figure("notify: answers other than `success`", bad, "", 0, fmt="d"),
        Figure("notify: orders credited twice", books["credited_twice"], "", 0, fmt="d",
               note=f"{books['duplicate']} duplicate notifies answered"),
        Figure("notify: accepted but not credited", books["accepted_not_credited"], "", 0, fmt="d",
               note=f"{books['accepted']} accepted, {books['credited']} credited in {credit_s:.1f} s by 1 worker"),
        Figure("notify: ledger mismatches", books["ledger_mismatches"], "", 0, fmt="d",
               note=f"{books['outbox_pending']} outbox rows pending"),
    ]


def _cpu_by_program() -> dict[str, float]:
    """CPU seconds used so far by every running process, summed by program name (Linux /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    found: dict[str, float] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue  # the process ended
        name = text[text.index("(") + 1:text.rindex(")")]
        fields = text[text.rindex(")") + 2:].split()
        name = "gunicorn" if "gunicorn" in name else name
        if name == "flask" and b" relay" in _cmdline(stat.parent):
            name = "relay"
        found[name] = found.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / tick
    return found


def _cmdline(proc: Path) -> bytes:
    try:
        return (proc / "cmdline").read_bytes().replace(b"\0", b" ")
    except OSError:
        return b""


def _warm_up(port: int, bodies: list[str]) -> None:
    """Each gunicorn worker's first notify loads keys, SDK client and pools (over a second): done before timing,
    by requests that are answered before the timed run starts."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda b: _post(port, b), bodies))
    bad = [a for a in answers if a != (200, "success")]
    if bad:
        print(f"  warm-up: {len(bad)} of {len(answers)} answers not `success`, e.g. {bad[0]}")


def _say(what: str, r: dict) -> None:
    print(f"  {what}: {r['rate']:.0f}/s, {r['requests']} requests, p50 {r['p50_us'] / 1000:.1f} ms, "
          f"p90 {r['p90_us'] / 1000:.1f} ms, p99 {r['p99_us'] / 1000:.1f} ms, max {r['max_us'] / 1000:.0f} ms; "
          f"{r['not_success']} not success, {r['errors']} socket errors, {r['wrapped']} wraps")


def _notify_books(app) -> dict:
    from sqlalchemy import func, select

    from portal.extensions import db
    from portal.ledger.entries import ledger_mismatches
    from portal.models import (
        Account,
        EntryKind,
        LedgerEntry,
        NotifyOutcome,
        OrderStatus,
        OutboxMessage,
        PaymentNotification,
        PaymentOrder,
        Site,
    )

    with app.app_context():
        s = db.session
        site_orders = (select(PaymentOrder.id).join(Account, Account.id == PaymentOrder.account_id).join(Site)
                       .where(Site.code == NOTIFY_SITE))
        outcomes = dict(s.execute(select(PaymentNotification.outcome, func.count())
                                  .where(PaymentNotification.order_id.in_(site_orders))
                                  .group_by(PaymentNotification.outcome)).all())
        accepted_orders = select(PaymentNotification.order_id).where(
            PaymentNotification.outcome == NotifyOutcome.ACCEPTED, PaymentNotification.order_id.in_(site_orders))
        per_order = (select(LedgerEntry.order_id, func.count().label("n")).where(LedgerEntry.kind == EntryKind.PAYMENT)
                     .where(LedgerEntry.order_id.in_(site_orders)).group_by(LedgerEntry.order_id).subquery())
        out = dict(
            accepted=outcomes.get(NotifyOutcome.ACCEPTED, 0),
            duplicate=outcomes.get(NotifyOutcome.DUPLICATE, 0),
            other=sum(v for k, v in outcomes.items() if k not in (NotifyOutcome.ACCEPTED, NotifyOutcome.DUPLICATE)),
            credited=s.scalar(select(func.count()).where(PaymentOrder.id.in_(site_orders),
                                                         PaymentOrder.status == OrderStatus.CREDITED)),
            accepted_not_credited=s.scalar(select(func.count()).where(
                PaymentOrder.id.in_(accepted_orders), PaymentOrder.status != OrderStatus.CREDITED)),
            accepted_twice=s.scalar(select(func.count()).select_from(
                select(PaymentNotification.order_id).where(PaymentNotification.outcome == NotifyOutcome.ACCEPTED,
                                                           PaymentNotification.order_id.in_(site_orders))
                .group_by(PaymentNotification.order_id).having(func.count() > 1).subquery())),
            credited_twice=s.scalar(select(func.count()).select_from(per_order).where(per_order.c.n > 1)),
            entries_without_acceptance=s.scalar(select(func.count()).select_from(per_order).where(
                per_order.c.order_id.not_in(accepted_orders))),
            outbox_pending=s.scalar(select(func.count()).where(OutboxMessage.dispatched_at.is_(None))),
            ledger_mismatches=len(ledger_mismatches(s)),
        )
        s.remove()
    return out


# --- paid -> supply restored ------------------------------------------------------------------------------

class RelaySim:
    """The simulator in its own process (as bench.simproc), also answering which relays are closed."""

    def __init__(self, specs) -> None:
        import dataclasses

        self.specs = [dataclasses.replace(s, port=0) for s in specs]

    def __enter__(self) -> RelaySim:
        import multiprocessing as mp

        ctx = mp.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=_sim_child, args=(child, self.specs), name="bench-relay-sim", daemon=True)
        self._proc.start()
        child.close()
        if not self._conn.poll(120):
            self._proc.kill()
            raise RuntimeError("simulator process did not start")
        self.ports = self._conn.recv()
        return self

    def closed(self) -> dict[tuple[str, int], bool]:
        """(gateway code, unit id) -> relay closed."""
        self._conn.send("supply")
        return self._conn.recv()

    def __exit__(self, *exc) -> None:
        try:
            self._conn.send("stop")
            self._conn.recv()
        except (EOFError, OSError):
            pass
        self._proc.join(30)
        if self._proc.is_alive():
            self._proc.kill()
            self._proc.join()


def _sim_child(conn, specs) -> None:
    import asyncio

    from worker.simulator import RealClock, Simulator

    async def main() -> None:
        sim = Simulator(specs, RealClock())
        await sim.start()
        conn.send({code: gw.port for code, gw in sim.gateways.items()})
        done = asyncio.Event()

        def on_message() -> None:
            what = conn.recv()
            if what == "supply":
                conn.send({(s.code, m.unit_id): sim.meter(s.code, m.unit_id).supply_on
                           for s in specs for m in s.meters})
            elif what == "stop":
                done.set()

        asyncio.get_running_loop().add_reader(conn.fileno(), on_message)
        await done.wait()
        await sim.stop()
        conn.send(True)

    asyncio.run(main())


def run_restore(args, app, database_url: str, keys: dict[str, str], work: Path) -> list[Figure]:
    import redis
    from rq import Worker
    from sqlalchemy import select, update

    from bench import farm as farm_mod
    from portal.extensions import db
    from portal.models import Account, EntryKind, Gateway, LedgerEntry, Meter, Supply
    from worker.poller import run_cycle
    from worker.simulator.sites import specs_for_site

    m = args.restore_meters
    arrears = -500
    with app.app_context():
        s = db.session
        site_id = farm_mod.build_site(s, 1, m, code=RESTORE_SITE)
        accounts = select(Account.id).where(Account.site_id == site_id)
        s.execute(update(Account).where(Account.site_id == site_id).values(balance_fen=arrears))
        s.execute(update(LedgerEntry).where(LedgerEntry.account_id.in_(accounts), LedgerEntry.kind == EntryKind.OPENING)
                  .values(amount_fen=arrears, balance_after_fen=arrears))
        s.execute(update(Meter).where(Meter.site_id == site_id).values(supply_desired=Supply.OFF,
                                                                       desired_reason="arrears"))
        s.commit()
        orders = _open_orders(s, RESTORE_SITE, lambda i: 10_000)
        specs = specs_for_site(s, RESTORE_SITE)
        gw_id = s.execute(select(Gateway.id).where(Gateway.site_id == site_id)).scalar_one()
        s.remove()
    private = (work / "platform_private.pem").read_bytes()
    bodies = sign_bodies(private, [(no, fen) for _, no, fen in orders], first_seq=10_000_000)
    code = specs[0].code
    units = [mm.unit_id for mm in specs[0].meters]

    with RelaySim(specs) as sim:
        with app.app_context():
            farm_mod.set_ports(db.session, site_id, sim.ports)
            for _ in range(3):  # a real poll cycle trips the relays of the shops in arrears
                run_cycle(db.session, [gw_id])
                db.session.commit()
                if not any(sim.closed()[(code, u)] for u in units):
                    break
            db.session.remove()
        still = sum(sim.closed()[(code, u)] for u in units)
        print(f"restore site: 1 gateway, {m} platform-mode meters, balances {arrears} fen, "
              f"relays tripped by a poll cycle ({still} still closed)")
        port = _free_port()
        env = _env(database_url, keys, port)
        r = redis.Redis.from_url(_redis_url())
        with open(work / "worker.log", "ab") as out:
            worker = subprocess.Popen([_bin("flask"), "--app", "wsgi", "worker"], cwd=ROOT, env=env, stdout=out,
                                      stderr=subprocess.STDOUT, start_new_session=True)
        try:
            with gunicorn("wsgi:app", env, port, work / "gunicorn.log"), \
                    relay(env, work / "relay.log", args.no_relay):
                deadline = time.monotonic() + 60
                while not Worker.all(connection=r):
                    if worker.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(f"the RQ worker did not start; see {work / 'worker.log'}")
                    time.sleep(0.1)
                _post(port, "warm=1")  # the first request of each gunicorn worker loads the app lazily
                _post(port, "warm=1")
                sent: dict[int, float] = {}
                closed_at: dict[int, float] = {}
                statuses = []
                t0 = time.monotonic()
                nxt = 0
                while len(closed_at) < m and time.monotonic() - t0 < 8 + 0.25 * m:
                    now = time.monotonic()
                    if nxt < m and now >= t0 + 0.25 * nxt:
                        sent[units[nxt]] = time.monotonic()
                        statuses.append(_post(port, bodies[nxt]))
                        nxt += 1
                    state = sim.closed()
                    now = time.monotonic()
                    for u, _at in sent.items():
                        if u not in closed_at and state[(code, u)]:
                            closed_at[u] = now
                    time.sleep(0.01)
        finally:
            _stop(worker)
    times = sorted(closed_at[u] - sent[u] for u in closed_at)
    refused = sum(1 for st in statuses if st != (200, "success"))
    missing = m - len(times)
    p50 = _pct(times, 50) if times else float("inf")
    p95 = _pct(times, 95) if times and not missing else float("inf")
    print(f"  restore: {len(times)} of {m} relays closed; p50 {p50:.3f} s, p95 {p95:.3f} s, "
          f"max {max(times) if times else float('nan'):.3f} s; {refused} notifies not answered `success`")
    beside = "1 RQ worker" + ("" if args.no_relay else ", the outbox relay")
    return [
        Figure("paid -> relay closed, p95", p95, "s", RESTORE_P95_BAR_S,
               note=f"{m} meters, a notify every 250 ms, {beside}; p50 {p50:.2f} s, "
                    f"max {max(times) if times else float('nan'):.2f} s"
                    + (f"; {missing} never closed" if missing else "")),
    ]


def _pct(values: list[float], p: float) -> float:
    """Nearest-rank percentile of sorted values."""
    k = max(0, min(len(values) - 1, -(-len(values) * p // 100) - 1))
    return values[int(k)]
