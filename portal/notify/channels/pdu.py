"""SMS-SUBMIT PDUs (3GPP TS 23.040 §9.2.2.2) for the GSM modem: what `AT+CMGS` takes in PDU mode.

Text mode (`AT+CMGF=1`) cannot send Chinese on most modems, and its character set handling differs from one
firmware to the next; a PDU is the same bytes on every modem. A text that the GSM 7-bit default alphabet holds
(TS 23.038 §6.2.1, without the extension table) goes as 7-bit, 160 characters in one message; anything else
(Chinese, ￥, emoji) as UCS-2, 70 UTF-16 units in one message. Longer texts are split into concatenated parts
(a user data header with IEI 0x00: an 8-bit reference, the count, the part's number), 153 or 67 per part, and
the phone joins them again.

Layout of one PDU, in order: SCA `00` (the SIM's service centre), the first octet (SMS-SUBMIT, no validity
period, UDHI when there is a header), TP-MR `00` (the modem numbers it), TP-DA, TP-PID `00`, TP-DCS (`00` 7-bit,
`08` UCS-2), TP-UDL (septets for 7-bit, octets for UCS-2), TP-UD.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

#: TS 23.038 default alphabet by septet value; 0x1B (ESC, the extension table) is never sent: `{`, `€`… go UCS-2
GSM7 = ("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
        "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
_SEPTET = {ch: i for i, ch in enumerate(GSM7) if i != 0x1B}

DCS_GSM7 = 0x00
DCS_UCS2 = 0x08
#: SMS-SUBMIT (TP-MTI 01), TP-VPF 00 (no validity period: the service centre's default); UDHI adds 0x40
FIRST_OCTET = 0x01
UDHI = 0x40
#: how many characters (septets or UTF-16 units) fit: alone, and in one part after a 6-octet header
SINGLE = {DCS_GSM7: 160, DCS_UCS2: 70}
PART = {DCS_GSM7: 153, DCS_UCS2: 67}
#: a concatenation header numbers parts in one octet
MAX_PARTS = 255

_NUMBER = re.compile(r"\+?[0-9]{3,20}")


class PduError(ValueError):
    """A message no PDU can carry (a number that is not one, a text longer than 255 parts): never retried."""


@dataclass(frozen=True)
class SubmitPdu:
    """One PDU as `AT+CMGS` wants it: the length it announces (the TPDU, without the SCA octet) and the hex."""

    tpdu_length: int
    hex: str


def submit_pdus(number: str, text: str, reference: int) -> list[SubmitPdu]:
    """The PDUs that carry `text` to `number`: one, or concatenated parts sharing `reference` (0-255)."""
    if not text:
        raise PduError("empty text")
    address = encode_address(number)
    dcs = DCS_GSM7 if all(ch in _SEPTET for ch in text) else DCS_UCS2
    units = [_SEPTET[ch] for ch in text] if dcs == DCS_GSM7 else _utf16_units(text)
    if len(units) <= SINGLE[dcs]:
        return [_pdu(address, dcs, None, units)]
    parts = _split(units, PART[dcs], dcs)
    if len(parts) > MAX_PARTS:
        raise PduError(f"text of {len(text)} characters needs more than {MAX_PARTS} parts")
    return [_pdu(address, dcs, bytes([0x05, 0x00, 0x03, reference & 0xFF, len(parts), n]), part)
            for n, part in enumerate(parts, start=1)]


def encode_address(number: str) -> bytes:
    """TP-DA: digit count, type (0x91 international for `+86…`, 0x81 otherwise), digits as swapped BCD."""
    number = number.replace(" ", "").replace("-", "")
    if not _NUMBER.fullmatch(number):
        raise PduError(f"not a phone number: {number!r}")
    digits = number.lstrip("+")
    kind = 0x91 if number.startswith("+") else 0x81
    padded = digits + "F" * (len(digits) % 2)
    return bytes([len(digits), kind]) + bytes.fromhex("".join(padded[i + 1] + padded[i]
                                                              for i in range(0, len(padded), 2)))


def _utf16_units(text: str) -> list[int]:
    raw = text.encode("utf-16-be")
    return [int.from_bytes(raw[i:i + 2], "big") for i in range(0, len(raw), 2)]


def _split(units: list[int], size: int, dcs: int) -> list[list[int]]:
    """Cut into parts of at most `size`, never between the two halves of a surrogate pair (an emoji)."""
    parts, start = [], 0
    while start < len(units):
        end = min(start + size, len(units))
        if dcs == DCS_UCS2 and end < len(units) and 0xD800 <= units[end - 1] <= 0xDBFF:
            end -= 1
        parts.append(units[start:end])
        start = end
    return parts


def _pdu(address: bytes, dcs: int, header: bytes | None, units: list[int]) -> SubmitPdu:
    udh = b"" if header is None else header
    if dcs == DCS_UCS2:
        body = udh + b"".join(u.to_bytes(2, "big") for u in units)
        udl = len(body)
    else:
        # the septets start on the next septet boundary after the header: fill bits, then packing goes on
        header_septets = (len(udh) * 8 + 6) // 7
        body = udh + _pack_septets(units, header_septets * 7 - len(udh) * 8)
        udl = header_septets + len(units)
    tpdu = bytes([FIRST_OCTET | (UDHI if header else 0), 0x00]) + address + bytes([0x00, dcs, udl]) + body
    return SubmitPdu(tpdu_length=len(tpdu), hex=("00" + tpdu.hex()).upper())


def _pack_septets(septets: list[int], fill_bits: int) -> bytes:
    """Septets packed low bit first into octets (TS 23.038 §6.1.2.1.1), after `fill_bits` zero bits."""
    acc, nbits, out = 0, fill_bits, bytearray()
    for septet in septets:
        acc |= septet << nbits
        nbits += 7
        while nbits >= 8:
            out.append(acc & 0xFF)
            acc >>= 8
            nbits -= 8
    if nbits > 0:
        out.append(acc & 0xFF)
    return bytes(out)
