"""Register tables of every profile in METERS.md, read independently of worker/meters.

A profile is data: readable spans (address ranges answered by function 03,
each a list of fields) and writable entries (address -> register count and
the meter verb it triggers). Words inside a documented span that the table
does not name (acrel 000EH, the DTSU666 quantities we do not model) read as
zero, as on the real meters; an address outside every span, or a write that
does not cover whole writable fields, is exception 02; a value the meter
refuses is exception 03.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from operator import itemgetter

ILLEGAL_FUNCTION, ILLEGAL_ADDRESS, ILLEGAL_VALUE, DEVICE_FAILURE = 1, 2, 3, 4


class ModbusError(Exception):
    """A request the meter answers with a Modbus exception code."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


def _words(kind: str, value) -> list[int]:
    """Encode one field: 32-bit values high word first, bytes big-endian."""
    if kind == "u16":
        return [value & 0xFFFF]
    if kind == "i16":
        return [max(-32768, min(32767, value)) & 0xFFFF]
    if kind in ("u32", "i32"):
        value &= 0xFFFFFFFF
        return [value >> 16, value & 0xFFFF]
    if kind == "f32":
        hi, lo = struct.unpack(">HH", struct.pack(">f", value))
        return [hi, lo]
    raise ValueError(kind)


def _u32(words: list[int]) -> int:
    return words[0] << 16 | words[1]


class Span:
    """A run of readable registers [start, end] and the fields inside it."""

    def __init__(self, start: int, end: int, fields: list[tuple[int, str, Callable]]) -> None:
        self.start, self.end = start, end
        self.fields = [(addr - start, kind, get) for addr, kind, get in fields]

    def encode(self, snap: dict) -> list[int]:
        """All words of the span for one snapshot."""
        regs = [0] * (self.end - self.start + 1)
        for offset, kind, get in self.fields:
            words = _words(kind, get(snap))
            regs[offset:offset + len(words)] = words
        return regs


# -- field getters over SimMeter.snapshot() ------------------------------------
_g = itemgetter


def _tou(i: int) -> Callable:
    return lambda s: s["energy_tou"][i]


_TRIP_CODES = {"none": 0, "arrears": 1, "remote": 2, "over_power": 3}

MEASUREMENT = Span(0x0000, 0x0010, [
    (0x0000, "u32", _g("energy_total")),
    (0x0002, "u32", _tou(0)),  # sharp 尖
    (0x0004, "u32", _tou(1)),  # peak 峰
    (0x0006, "u32", _tou(2)),  # flat 平
    (0x0008, "u32", _tou(3)),  # valley 谷
    (0x000A, "u16", _g("access_code")),
    (0x000B, "u16", _g("voltage")),  # 0.1 V
    (0x000C, "u16", _g("current")),  # 0.01 A
    (0x000D, "i16", _g("power_w")),  # 0.001 kW is exactly W
    (0x000F, "u16", _g("apparent_va")),  # 0.001 kVA is exactly VA
    (0x0010, "i16", _g("pf")),
])
PREPAID_STATUS = Span(0x0100, 0x0108, [
    (0x0100, "i32", _g("remaining_fen")),
    (0x0102, "u16", _g("purchase_count")),
    (0x0103, "u32", _g("purchase_total_fen")),
    (0x0105, "u16", lambda s: 0 if s["supply"] == "on" else 1),
    (0x0106, "u16", lambda s: _TRIP_CODES[s["trip_reason"]]),
    (0x0107, "u16", lambda s: int(s["keep_power"])),
    (0x0108, "u16", lambda s: int(s["control_mode"] == "meter")),
])
_ALARMS = [(0x0131, "u32", _g("alarm1_fen")), (0x0133, "u32", _g("alarm2_fen"))]
PREPAID_LIMITS = Span(0x0130, 0x0134, [(0x0130, "u16", lambda s: s["power_limit_w"] // 10),
                                       *_ALARMS])
WATER_LIMITS = Span(0x0131, 0x0134, _ALARMS)
PRICE = Span(0x0140, 0x0141, [(0x0140, "u32", _g("price_e4"))])
WATER_MEASUREMENT = Span(0x0000, 0x0002, [
    (0x0000, "u32", _g("energy_total")),  # litres
    (0x0002, "u16", _g("flow_lph")),
])
# DTSU666 floats carry the scale in the value: 2203.0 means 220.3 V.
DTSU_INSTANT = Span(0x2006, 0x2045, [
    (0x2006, "f32", lambda s: s["phase_voltage"][0]),
    (0x2008, "f32", lambda s: s["phase_voltage"][1]),
    (0x200A, "f32", lambda s: s["phase_voltage"][2]),
    (0x200C, "f32", lambda s: s["phase_current_ma"][0]),
    (0x200E, "f32", lambda s: s["phase_current_ma"][1]),
    (0x2010, "f32", lambda s: s["phase_current_ma"][2]),
    (0x2012, "f32", lambda s: s["power_w"] * 10),  # x 0.1 W
    (0x202A, "f32", _g("pf")),  # x 0.001
    (0x2044, "f32", _g("frequency")),  # x 0.01 Hz
])
DTSU_ENERGY = Span(0x101E, 0x1029, [
    (0x101E, "f32", lambda s: s["energy_total"] / 100),  # kWh
    (0x1028, "f32", lambda s: s["energy_export"] / 100),
])


# -- write handlers: (meter, words) -> None, ValueError means exception 03 -----
def _flag(words: list[int]) -> bool:
    if words[0] not in (0, 1):
        raise ValueError(words[0])
    return bool(words[0])


def _supply_command(meter, words: list[int]) -> None:
    if words[0] not in (0x55, 0xAA):
        raise ValueError(words[0])
    meter.set_supply(words[0] == 0x55)


def _acrel_relay(meter, words: list[int]) -> None:
    # ems4j's Acrel plugin: 0001H,0001H trips (拉闸), 0001H,0000H closes (合闸).
    if words[0] != 1 or words[1] not in (0, 1):
        raise ValueError(words)
    meter.set_supply(words[1] == 0)


_ACCESS = {0x000A: (1, lambda m, w: m.set_access_code(w[0]))}
_PREPAID_WRITES = {
    0x0108: (1, lambda m, w: m.set_control_mode("meter" if _flag(w) else "platform")),
    0x0110: (3, lambda m, w: m.purchase(_u32(w), w[2])),
    0x0114: (3, lambda m, w: m.deduct(_u32(w), w[2])),
    0x0120: (1, _supply_command),
    0x0121: (1, lambda m, w: m.set_keep_power(_flag(w))),
    0x0131: (2, lambda m, w: m.set_alarm_fen(1, _u32(w))),
    0x0133: (2, lambda m, w: m.set_alarm_fen(2, _u32(w))),
    0x0140: (2, lambda m, w: m.set_price_e4(_u32(w))),
}
_POWER_LIMIT = {0x0130: (1, lambda m, w: m.set_power_limit_w(w[0] * 10))}  # 0.01 kW

#: profile -> (readable spans, writable entries)
PROFILES: dict[str, tuple[tuple[Span, ...], dict]] = {
    "acrel-ddsy1352": ((MEASUREMENT,), {**_ACCESS, 0x0057: (2, _acrel_relay)}),
    "payfirst-prepaid-v1": (
        (MEASUREMENT, PREPAID_STATUS, PREPAID_LIMITS, PRICE),
        {**_ACCESS, **_PREPAID_WRITES, **_POWER_LIMIT},
    ),
    "payfirst-water-v1": ((WATER_MEASUREMENT, PREPAID_STATUS, WATER_LIMITS, PRICE),
                          _PREPAID_WRITES),
    "chint-dtsu666": ((DTSU_INSTANT, DTSU_ENERGY), {}),
}


def read_registers(meter, address: int, count: int) -> list[int]:
    """Function 03: words [address, address+count) computed live from the meter."""
    last = address + count - 1
    for span in PROFILES[meter.profile][0]:
        if span.start <= address and last <= span.end:
            regs = span.encode(meter.snapshot())
            return regs[address - span.start:last - span.start + 1]
    raise ModbusError(ILLEGAL_ADDRESS)


def write_registers(meter, address: int, words: list[int]) -> None:
    """Functions 06/16: apply whole writable fields in order, or raise ModbusError."""
    writes = PROFILES[meter.profile][1]
    plan, i = [], 0
    while i < len(words):
        entry = writes.get(address + i)
        if entry is None or i + entry[0] > len(words):
            raise ModbusError(ILLEGAL_ADDRESS)
        plan.append((entry[1], words[i:i + entry[0]]))
        i += entry[0]
    for handler, chunk in plan:
        try:
            handler(meter, chunk)
        except ValueError:
            raise ModbusError(ILLEGAL_VALUE) from None
