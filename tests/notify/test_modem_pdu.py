"""The modem's PDUs, against PDUs worked out by hand from TS 23.040 and against the reference reader."""
from __future__ import annotations

import pytest

from portal.notify.channels.pdu import PduError, submit_pdus
from tests.notify.modem_pdu import read_submit

pytestmark = pytest.mark.no_db

BILL = "您的电费余额不足¥20.00，请及时充值。"


def test_a_chinese_text_is_one_ucs2_pdu_byte_for_byte_as_the_spec_lays_it_out():
    # SCA 00 | first octet 01 (SMS-SUBMIT, no VP, no UDHI) | TP-MR 00 | TP-DA: 11 digits, 0x81, 13800138000 as
    # swapped semi-octets 31 08 10 83 00 F0 | PID 00 | DCS 08 (UCS-2) | UDL 04 | 您 U+60A8, 好 U+597D
    expected = "00" + "01" + "00" + "0B" + "81" + "3108108300F0" + "00" + "08" + "04" + "60A8" + "597D"
    [pdu] = submit_pdus("13800138000", "您好", reference=0)
    assert pdu.hex == expected
    assert pdu.tpdu_length == len(bytes.fromhex(expected)) - 1 == 17


def test_an_international_number_is_type_91_and_a_plain_text_goes_as_packed_7_bit():
    # "hellohello", the spec's own packing example: E8 32 9B FD 46 97 D9 EC 37 (10 septets in 9 octets)
    expected = "00" + "01" + "00" + "0D" + "91" + "683108108300F0" + "00" + "00" + "0A" + "E8329BFD4697D9EC37"
    [pdu] = submit_pdus("+8613800138000", "hellohello", reference=0)
    assert pdu.hex == expected
    assert pdu.tpdu_length == 23


def test_the_bill_reads_back_exactly_through_the_reference_reader():
    [pdu] = submit_pdus("13800138000", BILL, reference=9)
    sms = read_submit(pdu.hex)
    assert (sms.sca, sms.first_octet, sms.mr, sms.pid, sms.dcs) == (b"", 0x01, 0, 0, 0x08)
    assert (sms.number, sms.number_type) == ("13800138000", 0x81)
    assert sms.header == []
    assert sms.text == BILL
    assert sms.udl == 2 * len(BILL)


def test_a_long_chinese_text_goes_in_parts_of_67_that_join_again_exactly():
    text = "".join(f"第{n}条：{BILL}" for n in range(1, 10))
    pdus = submit_pdus("13800138000", text, reference=0xA7)
    parts = [read_submit(p.hex) for p in pdus]
    assert len(parts) == -(-len(text) // 67) == 4
    assert all(p.first_octet == 0x41 for p in parts), "UDHI set on every part"
    assert [p.concatenation for p in parts] == [(0xA7, 4, n) for n in range(1, 5)]
    assert [len(p.text) for p in parts[:-1]] == [67, 67, 67]
    assert all(p.udl <= 140 for p in parts)
    assert "".join(p.text for p in parts) == text
    # after SCA, first octet, MR, DA (8), PID and DCS: UDL 8C (140 octets), then the header byte by byte:
    # UDHL 05, IEI 00, IEDL 03, reference A7, count 04, this part 02
    assert pdus[1].hex[2 * 13:2 * 20] == "8C" + "050003A70402"


def test_a_long_plain_text_goes_in_parts_of_153_septets_after_the_header_and_its_fill_bit():
    text = "Your balance is low: 20.00 left. Please top up soon. " * 4
    parts = [read_submit(p.hex) for p in submit_pdus("13800138000", text, reference=1)]
    assert [p.dcs for p in parts] == [0x00, 0x00]
    assert [len(p.text) for p in parts] == [153, len(text) - 153]
    assert parts[0].udl == 160
    assert "".join(p.text for p in parts) == text


def test_an_emoji_is_never_cut_between_its_two_halves():
    text = "余" * 66 + "😀" + "额" * 10
    parts = [read_submit(p.hex) for p in submit_pdus("13800138000", text, reference=1)]
    assert [len(p.text) for p in parts] == [66, 11]
    assert "".join(p.text for p in parts) == text


def test_seventy_chinese_characters_fit_one_pdu_and_seventy_one_do_not():
    assert len(submit_pdus("13800138000", "电" * 70, 0)) == 1
    assert len(submit_pdus("13800138000", "电" * 71, 0)) == 2


@pytest.mark.parametrize("number", ["", "abc", "12", "+86 138-0013-8000x", "1" * 21])
def test_what_is_not_a_phone_number_is_refused(number):
    with pytest.raises(PduError):
        submit_pdus(number, "您好", 0)


def test_a_text_longer_than_255_parts_is_refused():
    with pytest.raises(PduError):
        submit_pdus("13800138000", "电" * (67 * 255 + 1), 0)
