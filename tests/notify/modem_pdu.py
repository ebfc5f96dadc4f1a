"""A second, independent reading of SMS-SUBMIT PDUs, written from 3GPP TS 23.040 §9.2.2.2 and TS 23.038.

It shares nothing with portal/notify/channels/pdu.py: the channel's PDUs are decoded here field by field, and
a mistake in the encoder shows as a field that reads wrong, not as the same mistake made twice.
"""
from __future__ import annotations

from dataclasses import dataclass

# TS 23.038 §6.2.1, the default alphabet as the spec's table prints it: row r (the low nibble) holds the
# characters of r + 0x00, r + 0x10, ... r + 0x70 (0x1B, ESC, leads to the extension table)
_ROWS = [
    "@Δ 0¡P¿p", "£_!1AQaq", '$Φ"2BRbr', "¥Γ#3CScs", "èΛ¤4DTdt", "éΩ%5EUeu", "ùΠ&6FVfv", "ìΨ'7GWgw",
    "òΣ(8HXhx", "ÇΘ)9IYiy", "\nΞ*:JZjz", "Ø\x1b+;KÄkä", "øÆ,<LÖlö", "\ræ-=MÑmñ", "Åß.>NÜnü", "åÉ/?O§oà",
]
ALPHABET = {row + 16 * column: ch for row, chars in enumerate(_ROWS) for column, ch in enumerate(chars)}


@dataclass
class Submit:
    sca: bytes
    first_octet: int
    mr: int
    number: str
    number_type: int
    pid: int
    dcs: int
    udl: int
    #: information elements of the user data header: (IEI, data)
    header: list[tuple[int, bytes]]
    text: str

    @property
    def concatenation(self) -> tuple[int, int, int] | None:
        """(reference, parts, this part) of IEI 0x00, if any."""
        for iei, data in self.header:
            if iei == 0x00:
                return data[0], data[1], data[2]
        return None


def read_submit(pdu_hex: str) -> Submit:
    """Decode one SMS-SUBMIT PDU (with its SCA) as a phone's service centre would read it."""
    octets = bytes.fromhex(pdu_hex)
    sca_length = octets[0]
    sca, i = octets[1:1 + sca_length], 1 + sca_length
    first = octets[i]
    assert first & 0x03 == 0x01, "TP-MTI is not SMS-SUBMIT"
    vpf = (first >> 3) & 0x03
    udhi = bool(first & 0x40)
    mr = octets[i + 1]
    digits, number_type = octets[i + 2], octets[i + 3]
    address_octets = (digits + 1) // 2
    semi = "".join(f"{b & 0x0F:X}{b >> 4:X}" for b in octets[i + 4:i + 4 + address_octets])
    number = semi[:digits]
    i += 4 + address_octets
    pid, dcs = octets[i], octets[i + 1]
    i += 2
    i += {0: 0, 2: 1, 1: 7, 3: 7}[vpf]  # validity period: none, relative, enhanced, absolute
    udl, ud = octets[i], octets[i + 1:]
    header, header_octets = [], 0
    if udhi:
        header_octets = 1 + ud[0]
        j = 1
        while j < header_octets:
            iei, length = ud[j], ud[j + 1]
            header.append((iei, ud[j + 2:j + 2 + length]))
            j += 2 + length
    if dcs == 0x08:
        assert len(ud) == udl, "UCS-2: TP-UDL counts octets"
        text = ud[header_octets:].decode("utf-16-be")
    else:
        assert dcs == 0x00, f"unexpected DCS {dcs:#04x}"
        text = _septets(ud, udl, header_octets)
    return Submit(sca, first, mr, number, number_type, pid, dcs, udl, header, text)


def _septets(ud: bytes, udl: int, header_octets: int) -> str:
    """TP-UDL septets, the header's included; characters start at the first septet boundary after it."""
    assert len(ud) == (udl * 7 + 7) // 8, "7-bit: TP-UD is TP-UDL septets packed"
    bits = int.from_bytes(ud, "little")
    skip = -(-header_octets * 8 // 7)  # the header and its fill bits, in septets
    return "".join(ALPHABET[(bits >> (7 * n)) & 0x7F] for n in range(skip, udl))
