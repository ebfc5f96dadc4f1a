"""Modbus PDUs and the two framings a gateway speaks: MBAP (modbus-tcp) and RTU.

Written by hand rather than with pymodbus's server: the simulator must be able
to stay silent, send garbage, hold a bus for RS485 timing and answer exception
03 from live state, and pymodbus 3.16 has dropped the custom datablocks that
made that natural (its SimDevice action hook cannot suppress a reply).
"""

from __future__ import annotations

import struct

from .registers import ILLEGAL_FUNCTION, ILLEGAL_VALUE, ModbusError, read_registers, write_registers


def exception_pdu(function: int, code: int) -> bytes:
    """Exception response PDU: function | 0x80, exception code."""
    return bytes((function | 0x80, code))


def handle_pdu(meter, pdu: bytes) -> bytes:
    """Answer one request PDU from a meter's live state (03 read, 06/16 write)."""
    function = pdu[0]
    try:
        if function == 3 and len(pdu) == 5:
            address, count = struct.unpack_from(">HH", pdu, 1)
            if not 1 <= count <= 125:
                raise ModbusError(ILLEGAL_VALUE)
            regs = read_registers(meter, address, count)
            return struct.pack(f">BB{count}H", 3, 2 * count, *regs)
        if function == 6 and len(pdu) == 5:
            address, value = struct.unpack_from(">HH", pdu, 1)
            write_registers(meter, address, [value])
            return pdu
        if function == 16 and len(pdu) >= 6:
            address, count, nbytes = struct.unpack_from(">HHB", pdu, 1)
            if not 1 <= count <= 123 or nbytes != 2 * count or len(pdu) != 6 + nbytes:
                raise ModbusError(ILLEGAL_VALUE)
            write_registers(meter, address, list(struct.unpack_from(f">{count}H", pdu, 6)))
            return pdu[:5]
        raise ModbusError(ILLEGAL_FUNCTION)
    except ModbusError as exc:
        return exception_pdu(function, exc.code)


# -- CRC16/MODBUS (poly 0xA001 reflected, init 0xFFFF, sent low byte first) -----
def _crc_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_CRC_TABLE = _crc_table()


def crc16(data: bytes) -> bytes:
    """Modbus RTU CRC of data, as the two bytes to append."""
    crc = 0xFFFF
    for byte in data:
        crc = (crc >> 8) ^ _CRC_TABLE[(crc ^ byte) & 0xFF]
    return crc.to_bytes(2, "little")


# -- framers: split(buffer) -> (requests, rest); each request (unit, pdu, tag) --
class MbapFramer:
    """Modbus TCP: 7-byte MBAP header (transaction, protocol 0, length, unit)."""

    def split(self, buf: bytes) -> tuple[list[tuple[int, bytes, bytes]], bytes]:
        """Cut complete requests off the buffer; raise ValueError on a broken stream."""
        out = []
        while len(buf) >= 8:
            _tid, pid, length = struct.unpack_from(">HHH", buf)
            if pid != 0 or not 2 <= length <= 254:
                raise ValueError("not a Modbus TCP stream")
            if len(buf) < 6 + length:
                break
            out.append((buf[6], buf[7:6 + length], buf[0:2]))
            buf = buf[6 + length:]
        return out, buf

    def frame(self, unit: int, pdu: bytes, tag: bytes) -> bytes:
        """MBAP-wrap a response, echoing the transaction id (tag)."""
        return tag + struct.pack(">HHB", 0, len(pdu) + 1, unit) + pdu


class RtuFramer:
    """RTU over TCP: unit, PDU, CRC16; frames with a bad CRC are skipped (hunting)."""

    def split(self, buf: bytes) -> tuple[list[tuple[int, bytes, bytes]], bytes]:
        """Cut complete requests off the buffer; noise is dropped byte by byte."""
        out = []
        while len(buf) >= 4:
            size = self._size(buf)
            if size is not None and len(buf) < size:
                break
            if size is not None and crc16(buf[:size - 2]) == buf[size - 2:size]:
                out.append((buf[0], buf[1:size - 2], b""))
                buf = buf[size:]
            else:
                buf = buf[1:]
        return out, buf

    @staticmethod
    def _size(buf: bytes) -> int | None:
        """Frame length implied by the function code; None = noise, skip a byte."""
        function = buf[1]
        if function in (3, 6):
            return 8
        if function == 16:
            return 9 + buf[6] if len(buf) >= 7 else 7  # 7 = wait for the byte count
        # Unknown length: accept the whole buffer when its CRC is right, so the
        # meter can answer "illegal function" as a real one would; else hunt on.
        return len(buf) if crc16(buf[:-2]) == buf[-2:] else None

    def frame(self, unit: int, pdu: bytes, tag: bytes) -> bytes:
        """Append address and CRC to a response PDU."""
        body = bytes((unit,)) + pdu
        return body + crc16(body)


FRAMERS = {"modbus-tcp": MbapFramer, "rtu-over-tcp": RtuFramer}
