"""The delivery's way through a sender, in SQL: claimed urgent first and committed, answered, given back, and
recovered where a dead sender left it."""
from __future__ import annotations

import itertools
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.extensions import db
from portal.models import Audience, Delivery, DeliveryStatus, utcnow
from portal.notify.channels.base import Result
from portal.notify.claims import BACKOFF, claim, record, recover, release

_seq = itertools.count(1)
LEASE = timedelta(minutes=2)


def delivery(channel: str = "aliyun", *, urgent: bool = False, due_in: timedelta = timedelta(0), **kw) -> Delivery:
    n = next(_seq)
    row = Delivery(event="supply_off" if urgent else "low_balance_1", audience=Audience.TENANT,
                   dedupe_key=f"test:{n}", recipient=kw.pop("recipient", f"1390000{n:04d}"), channel=channel,
                   text="余额不足", params={"shop": "A-1"}, urgent=urgent, due_at=utcnow() + due_in, **kw)
    db.session.add(row)
    db.session.commit()
    return row


def fresh(row: Delivery) -> Delivery:
    db.session.expire_all()
    return db.session.get(Delivery, row.id)


def test_a_claim_takes_urgent_ones_first_then_the_oldest_due_and_commits_them_as_sending():
    later = delivery(due_in=-timedelta(minutes=1))
    oldest = delivery(due_in=-timedelta(minutes=5))
    urgent = delivery(urgent=True)
    delivery(due_in=timedelta(minutes=5))  # not due yet
    delivery("wechat")  # another channel's
    now = utcnow()

    with Session(db.engine) as sender:
        claimed = claim(sender, "aliyun", now, 10)

    assert [c.id for c in claimed] == [urgent.id, oldest.id, later.id]
    assert claimed[0].message().key == urgent.dedupe_key
    row = fresh(urgent)  # seen from another session: committed
    assert (row.status, row.attempts, row.claimed_at) == (DeliveryStatus.SENDING, 1, now)


def test_two_senders_never_claim_the_same_delivery():
    rows = [delivery() for _ in range(6)]
    with Session(db.engine) as first, Session(db.engine) as second:
        due = select(Delivery.id).where(Delivery.status == "pending").with_for_update(skip_locked=True).limit(3)
        held = set(first.execute(due).scalars())  # the first sender's claim, still in its transaction
        taken = {c.id for c in claim(second, "aliyun", utcnow(), 10)}
        first.rollback()
    assert len(held) == 3 and taken == {r.id for r in rows} - held


def test_a_delivery_claimed_but_not_tried_is_given_back_as_it_was():
    row = delivery()
    with Session(db.engine) as sender:
        [item] = claim(sender, "aliyun", utcnow(), 10)
        release(sender, [item])
        sender.commit()
    assert (fresh(row).status, fresh(row).attempts) == (DeliveryStatus.PENDING, 0)


def test_a_retry_waits_longer_each_time_and_the_last_try_falls_back():
    row = delivery(fallback="modem:13900000001,log:13900000001")
    now = utcnow()
    with Session(db.engine) as sender:
        for tries, wait in enumerate(BACKOFF, start=1):
            [item] = claim(sender, "aliyun", now, 10)
            assert record(sender, [(item, Result.retry("isp.SYSTEM_ERROR: busy"))], now) == {"retry": 1}
            sender.commit()
            assert (fresh(row).due_at, fresh(row).attempts) == (now + wait, tries)
            now += wait
        [item] = claim(sender, "aliyun", now, 10)
        assert record(sender, [(item, Result.retry("isp.SYSTEM_ERROR: busy"))], now) == {"fallback": 1}
        sender.commit()
    row = fresh(row)
    assert (row.status, row.channel, row.recipient, row.fallback, row.attempts, row.due_at) == (
        DeliveryStatus.PENDING, "modem", "13900000001", "log:13900000001", 0, now)
    assert row.error == "aliyun: isp.SYSTEM_ERROR: busy (given up after 5)"


def test_an_urgent_message_tries_a_channel_twice():
    row = delivery(urgent=True)
    now = utcnow()
    with Session(db.engine) as sender:
        [item] = claim(sender, "aliyun", now, 10)
        record(sender, [(item, Result.retry("Throttling"))], now)
        sender.commit()
        [item] = claim(sender, "aliyun", now + BACKOFF[0], 10)
        assert record(sender, [(item, Result.retry("Throttling"))], now) == {"failed": 1}
        sender.commit()
    assert fresh(row).status is DeliveryStatus.FAILED


def test_the_error_keeps_each_channels_last_word():
    row = delivery(fallback="modem:13900000001")
    now = utcnow()
    with Session(db.engine) as sender:
        [item] = claim(sender, "aliyun", now, 10)
        record(sender, [(item, Result.retry("Throttling.User: slow down"))], now)
        sender.commit()
        [item] = claim(sender, "aliyun", now + BACKOFF[0], 10)
        record(sender, [(item, Result.failed("isv.MOBILE_NUMBER_ILLEGAL: 非法手机号"))], now)
        sender.commit()
        [item] = claim(sender, "modem", now, 10)
        assert record(sender, [(item, Result.sent("17"))], now) == {"sent": 1}
        sender.commit()
    row = fresh(row)
    assert (row.status, row.channel, row.provider_id, row.sent_at) == (DeliveryStatus.SENT, "modem", "17", now)
    assert row.error == "aliyun: isv.MOBILE_NUMBER_ILLEGAL: 非法手机号"


def claimed_at(minutes_ago: float, channel: str) -> Delivery:
    at = utcnow() - timedelta(minutes=minutes_ago)
    return delivery(channel, status=DeliveryStatus.SENDING, claimed_at=at, attempts=1)


def test_a_dead_senders_wechat_message_is_sent_again_within_wechats_ten_minutes():
    resend, too_late = claimed_at(3, "wechat"), claimed_at(11, "wechat")
    sms, live = claimed_at(3, "aliyun"), claimed_at(1, "aliyun")
    now = utcnow()

    with Session(db.engine) as sender:
        assert recover(sender, now, LEASE) == {"resent": 1, "uncertain": 2}

    assert (fresh(resend).status, fresh(resend).due_at) == (DeliveryStatus.PENDING, now)
    assert "sent again with the same key" in fresh(resend).error
    assert fresh(too_late).status is DeliveryStatus.UNCERTAIN
    assert fresh(sms).status is DeliveryStatus.UNCERTAIN
    assert fresh(sms).error.startswith("aliyun: its sender stopped while sending: whether it went is unknown")
    assert fresh(live).status is DeliveryStatus.SENDING  # within its lease: its sender is alive


def test_an_uncertain_delivery_is_never_claimed_again():
    row = claimed_at(5, "aliyun")
    with Session(db.engine) as sender:
        recover(sender, utcnow(), LEASE)
        assert claim(sender, "aliyun", utcnow() + timedelta(days=1), 10) == []
    assert fresh(row).status is DeliveryStatus.UNCERTAIN


def test_a_sender_that_outlived_its_lease_still_records_that_it_sent():
    row = delivery()
    now = utcnow()
    with Session(db.engine) as slow, Session(db.engine) as cron:
        [item] = claim(slow, "aliyun", now, 10)
        recover(cron, now + LEASE + timedelta(seconds=1), LEASE)
        assert fresh(row).status is DeliveryStatus.UNCERTAIN
        record(slow, [(item, Result.sent("biz-1"))], now)
        slow.commit()
    assert (fresh(row).status, fresh(row).provider_id) == (DeliveryStatus.SENT, "biz-1")


def test_an_answer_is_not_written_over_a_newer_claim():
    row = delivery("wechat")
    now = utcnow()
    with Session(db.engine) as slow, Session(db.engine) as other:
        [old] = claim(slow, "wechat", now, 10)
        later = now + LEASE + timedelta(seconds=1)
        recover(other, later, LEASE)  # resent: pending again with the same key
        [new] = claim(other, "wechat", later, 10)
        record(slow, [(old, Result.retry("network: ReadTimeout"))], now)
        slow.commit()
        assert fresh(row).status is DeliveryStatus.SENDING  # the newer claim's, untouched
        record(other, [(new, Result.sent("2000000001"))], later)
        other.commit()
    assert (fresh(row).status, fresh(row).attempts) == (DeliveryStatus.SENT, 2)
