"""A sender killed in the middle of a send sends nothing twice.

A real worker process (`flask worker --burst notify`) runs the sender queued by the commit; the stand-ins hold
its requests (Aliyun before answering, WeChat after delivering), and the test kills it (SIGKILL) while they do.
Past the lease, the sender run again finds both deliveries still `sending`: the text, which Aliyun may or may not
have sent, is uncertain and never sent again; the WeChat message is sent again with the same client_msg_id, which
WeChat does not deliver twice.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import Delivery, DeliveryStatus, TenantBinding, TenantUser, utcnow
from portal.notify.route import ShopEvent, tell_shops
from portal.notify.send import NOTIFY_CHANNELS, send_due
from portal.settings import current

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow

LOW = {"shop": "A-101", "shop_name": "茶铺", "balance": "9.50", "level": "20.00"}


def wait_for(condition, seconds: float = 60.0) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_a_sender_killed_mid_send_sends_nothing_twice(redis_app, redis_url, database_url, aliyun, wechat_mp,
                                                      configure, make_account, tmp_path):
    configure(SMS_BACKEND="aliyun")
    texted, follower = make_account(phone="13900000001"), make_account(phone="13900000002")
    user = TenantUser(name="店长", wechat_openid="o-manager")
    db.session.add(user)
    db.session.flush()
    db.session.add(TenantBinding(tenant_user_id=user.id, account_id=follower.id))
    tell_shops(db.session, [ShopEvent(s.id, "low_balance_1", f"alarm:{s.id}", LOW) for s in (texted, follower)])
    db.session.commit()  # the sender's job now waits in Redis
    aliyun.delay = wechat_mp.delay = 6.0  # each holds the request it gets (below the channels' read timeouts)

    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url, "SECRET_KEY": "test-secret"}
    with (tmp_path / "worker.log").open("w+") as log:
        worker = subprocess.Popen([sys.executable, "-m", "flask", "--app", "wsgi", "worker", "--burst", "notify"],
                                  cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            held = wait_for(lambda: len(aliyun.requests) == 1 and len(wechat_mp.delivered) == 1)
            worker.send_signal(signal.SIGKILL)
            assert worker.wait(10) == -signal.SIGKILL
        finally:
            if worker.poll() is None:
                worker.kill()
                worker.wait(10)
        log.seek(0)
        assert held, log.read()[-3000:]
    aliyun.delay = wechat_mp.delay = 0.0

    text, message = db.session.execute(select(Delivery).order_by(Delivery.channel)).scalars().all()
    assert (text.channel, message.channel) == ("aliyun", "wechat")
    assert {(d.status, d.attempts) for d in (text, message)} == {(DeliveryStatus.SENDING, 1)}
    assert wait_for(lambda: len(aliyun.accepted) == 1, 10)  # the held text went after all: nobody can tell us

    past_the_lease = utcnow() + timedelta(seconds=current().notify.lease_seconds + 1)
    counts = send_due(NOTIFY_CHANNELS, now=past_the_lease)
    send_due(NOTIFY_CHANNELS, now=past_the_lease + timedelta(days=1))  # and never later either

    assert (counts["uncertain"], counts["resent"], counts["sent"]) == (1, 1, 1)
    db.session.expire_all()
    assert text.status is DeliveryStatus.UNCERTAIN
    assert "whether it went is unknown" in text.error
    assert (len(aliyun.requests), len(aliyun.accepted)) == (1, 1)  # the text reached Aliyun once

    [delivered] = wechat_mp.delivered
    assert wechat_mp.send_attempts == 2  # sent again, with the same client_msg_id
    assert (message.status, message.attempts, message.provider_id) == (
        DeliveryStatus.SENT, 2, str(delivered.msgid))  # WeChat answered the first message's id, not a new one
