"""The GSM modem channel against a modem on a pseudo-terminal, driven through pyserial as a real one would be."""
from __future__ import annotations

import fcntl
import os
import re
import threading

import pytest

from portal.notify.channels.base import Message, Outcome
from portal.notify.channels.modem import ModemChannel, from_settings
from portal.notify.channels.modem_codes import CME, CMS
from portal.settings import Settings
from tests.notify.modem_pdu import read_submit
from tests.notify.modem_standin import StandinModem

pytestmark = pytest.mark.no_db

BILL = "您的电费余额不足¥20.00，请及时充值。"
PHONE = "13800138000"
#: one sender's whole conversation: set-up, then AT+CMGS and its PDU once per part
SESSION = re.compile(r'ESC AT ATE0 AT\+CMEE=1 AT\+CPIN\?( AT\+CPIN="\d+"( AT\+CPIN\?)*)? '
                     r"(AT\+CREG\? )+AT\+CMGF=0( AT\+CMGS=\d+ PDU:[0-9A-F]+)+")


@pytest.fixture
def channel(tmp_path):
    """channel(modem, **options) -> a ModemChannel on the stand-in's pty, waiting a second at most for anything
    (a busy machine must not fail the tests that wait for a modem); the tests of timeouts shorten theirs."""

    def make(modem: StandinModem, **options) -> ModemChannel:
        settings = {"command_timeout": 1.0, "send_timeout": 1.0, "registration_timeout": 1.0,
                    "registration_poll": 0.01, "lock_timeout": 1.0, "state_dir": tmp_path, **options}
        return ModemChannel(modem.device, 115_200, **settings)

    return make


def bill(text: str = BILL, to: str = PHONE, key: str = "low_balance_1:shop-7") -> Message:
    return Message(event="low_balance_1", recipient=to, text=text, key=key)


def sessions(modem: StandinModem) -> list[str]:
    """The log cut at each sender's ESC: one string of commands per send."""
    joined = " ".join(modem.log)
    return ["ESC" + part.rstrip() for part in joined.split("ESC")[1:]]


def test_a_chinese_bill_is_sent_in_pdu_mode_and_reads_back_exactly(channel):
    with StandinModem() as modem:
        result = channel(modem).send(bill())
    assert result.outcome == Outcome.SENT and result.provider_id == "1"
    # the TPDU: first octet, MR, DA (8 octets), PID, DCS, UDL, then 2 octets a character
    assert modem.commands() == ["AT", "ATE0", "AT+CMEE=1", "AT+CPIN?", "AT+CREG?", "AT+CMGF=0",
                                f"AT+CMGS={13 + 2 * len(BILL)}"]
    [pdu] = modem.pdus
    sms = read_submit(pdu)
    assert (sms.number, sms.dcs, sms.text) == (PHONE, 0x08, BILL)


def test_a_long_text_goes_as_parts_and_their_references_are_the_provider_id(channel):
    text = "".join(f"第{n}条：{BILL}" for n in range(1, 10))
    with StandinModem() as modem:
        result = channel(modem).send(bill(text))
    assert result.outcome == Outcome.SENT and result.provider_id == "1,2,3,4"
    parts = [read_submit(p) for p in modem.pdus]
    assert [p.concatenation[1:] for p in parts] == [(4, 1), (4, 2), (4, 3), (4, 4)]
    assert len({p.concatenation[0] for p in parts}) == 1
    assert "".join(p.text for p in parts) == text
    assert SESSION.fullmatch(sessions(modem)[0])


def test_a_retry_of_the_same_delivery_keeps_its_concatenation_reference(channel):
    text = BILL * 5
    with StandinModem() as modem:
        ch = channel(modem)
        ch.send(bill(text, key="k1"))
        ch.send(bill(text, key="k1"))
    first, again = (read_submit(p).concatenation[0] for p in modem.pdus[::2][:2])
    assert first == again


def test_the_pin_is_given_when_the_sim_asks_for_it(channel):
    with StandinModem(pin="1234") as modem:
        result = channel(modem, pin="1234").send(bill())
    assert result.outcome == Outcome.SENT
    assert modem.pins_offered == ["1234"]
    assert SESSION.fullmatch(sessions(modem)[0])


def test_a_wrong_pin_fails_and_is_never_offered_a_second_time(channel):
    with StandinModem(pin="1234") as modem:
        ch = channel(modem, pin="9999")
        first = ch.send(bill())
        second = ch.send(bill())
        # another process, or the worker restarted: the refusal is remembered beside the lock
        third = channel(modem, pin="9999").send(bill())
    assert [r.outcome for r in (first, second, third)] == [Outcome.FAILED] * 3
    assert "refused" in first.error
    assert modem.pins_offered == ["9999"]
    assert modem.pdus == []


def test_a_refused_pin_is_not_offered_again_by_the_process_even_where_no_file_can_be_kept(channel, tmp_path):
    with StandinModem(pin="1234") as modem:
        ch = channel(modem, pin="9999", state_dir=tmp_path / "missing")
        assert [ch.send(bill()).outcome for _ in range(3)] == [Outcome.FAILED] * 3
    assert modem.pins_offered == ["9999"]


def test_a_corrected_pin_is_offered_and_clears_the_refusal(channel):
    with StandinModem(pin="1234") as modem:
        assert channel(modem, pin="9999").send(bill()).outcome == Outcome.FAILED
        assert channel(modem, pin="1234").send(bill()).outcome == Outcome.SENT
    assert modem.pins_offered == ["9999", "1234"]


def test_a_sim_that_wants_a_pin_none_is_set_for_fails_without_a_try(channel):
    with StandinModem(pin="1234") as modem:
        result = channel(modem).send(bill())
    assert result.outcome == Outcome.FAILED and "SMS_MODEM_PIN" in result.error
    assert modem.pins_offered == []


def test_a_modem_without_a_sim_fails_by_its_cme_error(channel):
    with StandinModem(no_sim=True) as modem:
        result = channel(modem).send(bill())
    assert result.outcome == Outcome.FAILED and "+CME ERROR: 10" in result.error and "SIM not inserted" in result.error
    assert "AT+CREG?" not in modem.log


def test_a_slow_registration_is_waited_for(channel):
    with StandinModem(registered_after=5) as modem:
        result = channel(modem).send(bill())
    assert result.outcome == Outcome.SENT
    assert modem.creg_polls == 6


def test_a_modem_that_never_registers_is_retry(channel):
    with StandinModem(never_registers=True) as modem:
        result = channel(modem, registration_timeout=0.1).send(bill())
    assert result.outcome == Outcome.RETRY and "not registered" in result.error
    assert modem.creg_polls >= 2
    assert "AT+CMGS" not in " ".join(modem.log)


@pytest.mark.parametrize(("code", "outcome"), [
    (38, Outcome.RETRY), (42, Outcome.RETRY), (332, Outcome.RETRY), (500, Outcome.RETRY),
    (1, Outcome.FAILED), (21, Outcome.FAILED), (28, Outcome.FAILED), (304, Outcome.FAILED), (310, Outcome.FAILED),
])
def test_a_cms_error_is_retry_or_failed_as_the_table_says(channel, code, outcome):
    with StandinModem(cms_errors=[code]) as modem:
        result = channel(modem).send(bill())
    assert result.outcome == outcome
    assert f"+CMS ERROR: {code}" in result.error and CMS[code][1] in result.error


def test_an_unlisted_cms_code_is_retry_and_a_service_centre_refusal_failed(channel):
    with StandinModem(cms_errors=[599, 0xC5]) as modem:
        ch = channel(modem)
        assert ch.send(bill()).outcome == Outcome.RETRY
        assert ch.send(bill()).outcome == Outcome.FAILED


def test_a_part_that_fails_says_which_parts_went(channel):
    # the second part meets congestion: the message is RETRY, and the log says part 1 reached the network
    with StandinModem(cms_errors=[None, 42]) as modem:
        result = channel(modem).send(bill(BILL * 5))
    assert result.outcome == Outcome.RETRY
    assert "parts 1-1 of 2 sent (1)" in result.error


def test_a_silent_modem_is_retry_after_the_timeout(channel):
    with StandinModem(silent=True) as modem:
        result = channel(modem, command_timeout=0.2).send(bill())
    assert result.outcome == Outcome.RETRY and "no answer to AT" in result.error


def test_a_modem_that_falls_silent_while_sending_is_retry(channel):
    with StandinModem(silent_from="AT+CMGS") as modem:
        result = channel(modem, command_timeout=0.2).send(bill())
    assert result.outcome == Outcome.RETRY and "AT+CMGS" in result.error


def test_a_prompt_left_open_by_a_crashed_sender_is_cancelled_first(channel):
    with StandinModem(in_prompt=True) as modem:
        result = channel(modem).send(bill())
    assert result.outcome == Outcome.SENT
    assert modem.log[0] == "ESC" and modem.commands()[0] == "AT"
    assert read_submit(modem.pdus[0]).text == BILL


def test_a_modem_another_sender_holds_is_retry_after_the_lock_wait(channel):
    with StandinModem() as modem:
        fd = os.open(modem.device, os.O_RDWR | os.O_NOCTTY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            result = channel(modem, lock_timeout=0.1).send(bill())
        finally:
            os.close(fd)
    assert result.outcome == Outcome.RETRY and "busy" in result.error
    assert modem.log == []


def test_a_missing_device_is_retry(channel, tmp_path):
    result = ModemChannel(str(tmp_path / "ttyUSB9"), lock_timeout=0.1, state_dir=tmp_path).send(bill())
    assert result.outcome == Outcome.RETRY


def test_a_bad_number_fails_without_touching_the_modem(channel):
    with StandinModem() as modem:
        result = channel(modem).send(bill(to="not-a-phone"))
    assert result.outcome == Outcome.FAILED
    assert modem.log == []


def test_two_senders_on_one_modem_never_interleave_their_commands(channel):
    texts = {f"{n}号铺：{BILL}" * (1 + n % 3) for n in range(8)}
    results = []
    with StandinModem() as modem:

        def sender(mine):
            ch = channel(modem, lock_timeout=5.0)  # its own channel object: its own open of the device
            results.extend(ch.send(bill(text, key=text)) for text in mine)

        ordered = sorted(texts)
        threads = [threading.Thread(target=sender, args=(ordered[i::2],)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(20)
    assert [r.outcome for r in results] == [Outcome.SENT] * len(texts)
    assert len(sessions(modem)) == len(texts)
    assert all(SESSION.fullmatch(s) for s in sessions(modem)), sessions(modem)
    # each session's parts are one message's, in order
    received = set()
    for session in sessions(modem):
        parts = [read_submit(p) for p in re.findall(r"PDU:([0-9A-F]+)", session)]
        if len(parts) > 1:
            assert [p.concatenation[2] for p in parts] == list(range(1, len(parts) + 1))
        received.add("".join(p.text for p in parts))
    assert received == texts


def test_the_error_tables_say_retry_or_failed_for_every_code():
    assert all(outcome in (Outcome.RETRY, Outcome.FAILED) and meaning for outcome, meaning in CMS.values())
    assert CME[16][0] == Outcome.FAILED and CME[14][0] == Outcome.RETRY


def test_from_settings_makes_the_channel_of_the_configured_device_and_none_without_one():
    assert from_settings(Settings.from_env({"SECRET_KEY": "x"})) is None
    ch = from_settings(Settings.from_env({"SECRET_KEY": "x", "SMS_BACKEND": "modem",
                                          "SMS_MODEM_DEVICE": "/dev/ttyUSB0", "SMS_MODEM_BAUD": "9600",
                                          "SMS_MODEM_PIN": "1234"}))
    assert (ch.name, ch.device, ch.baud, ch._pin) == ("modem", "/dev/ttyUSB0", 9600, "1234")
