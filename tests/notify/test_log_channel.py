"""The demo's `log` channel: every message to the log and the last few in memory, always sent."""
from __future__ import annotations

import logging
import threading

import pytest

from portal.notify.channels import log as log_channel
from portal.notify.channels.base import Message, Outcome
from portal.notify.channels.log import LogChannel

pytestmark = pytest.mark.no_db


def message(n: int = 1, event: str = "low_balance_1") -> Message:
    text = f"【先付】商铺 A-{n} 余额不足 10.00 元，请及时充值。"
    return Message(event, f"1390000{n:04d}", text, {"balance": "10.00"}, key=f"{event}:{n}")


def test_every_message_is_sent_with_an_id_of_its_own():
    channel = LogChannel()

    results = [channel.send(message(n)) for n in range(3)]

    assert {r.outcome for r in results} == {Outcome.SENT}
    assert len({r.provider_id for r in results}) == 3


def test_the_message_is_written_to_the_log(caplog):
    with caplog.at_level(logging.INFO, logger="portal.notify.channels.log"):
        result = LogChannel().send(message(7))

    [record] = caplog.records
    assert "13900000007" in record.getMessage()
    assert "商铺 A-7 余额不足" in record.getMessage()
    assert result.provider_id in record.getMessage()


def test_the_last_ones_are_kept_newest_first():
    channel = LogChannel(keep=3)
    for n in range(5):
        channel.send(message(n))

    kept = channel.recent()

    assert [k.message.recipient for k in kept] == ["13900000004", "13900000003", "13900000002"]
    assert [k.message.recipient for k in channel.recent(limit=1)] == ["13900000004"]
    assert kept[0].message.text == "【先付】商铺 A-4 余额不足 10.00 元，请及时充值。"


def test_a_demo_reset_forgets_them():
    channel = LogChannel()
    channel.send(message())
    channel.clear()
    assert channel.recent() == []


def test_sends_from_several_threads_are_all_kept():
    channel = LogChannel(keep=1000)

    def burst(offset: int) -> None:
        for n in range(100):
            channel.send(message(offset + n))

    threads = [threading.Thread(target=burst, args=(i * 100,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    kept = channel.recent()
    assert len(kept) == 400
    assert len({k.provider_id for k in kept}) == 400


def test_the_process_has_one_log_channel_whatever_the_settings():
    assert log_channel.from_settings(None) is log_channel.from_settings(object()) is log_channel.channel
    assert log_channel.channel.name == "log"
