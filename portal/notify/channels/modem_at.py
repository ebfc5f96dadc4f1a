"""Talking AT commands (3GPP TS 27.007 / 27.005) over an open serial port: a command and its answer lines.

A modem answers a command with information lines, then one final line: `OK`, `ERROR`, `+CME ERROR: <n>` or
`+CMS ERROR: <n>` (numeric after `AT+CMEE=1`). Between them come lines nobody asked for (unsolicited result
codes such as `+CMTI:` or `RING`, and the echo of the command until `ATE0` takes effect): the session skips the
echo and hands the rest back with the answer, for the caller to pick what it asked for.

Each wait has a deadline: a modem that says nothing (unplugged, hung, stuck in a prompt) costs one timeout,
never a worker.
"""
from __future__ import annotations

import re
import time
from typing import Protocol

CTRL_Z = b"\x1a"
ESC = b"\x1b"

_ERROR = re.compile(r"\+(CME|CMS) ERROR: *(\d+)")
_CMGS = re.compile(r"\+CMGS: *(\d+)")


class Port(Protocol):
    """What the session needs of a `serial.Serial` opened with a short read timeout."""

    def read(self, size: int = 1) -> bytes: ...
    def write(self, data: bytes) -> int | None: ...
    def reset_input_buffer(self) -> None: ...

    @property
    def in_waiting(self) -> int: ...


class ModemTimeout(Exception):
    """No final answer within the deadline."""

    def __init__(self, command: str, seconds: float):
        super().__init__(f"no answer to {command} within {seconds:g} s")
        self.command = command


class ModemError(Exception):
    """The modem answered `ERROR`, `+CME ERROR: <n>` or `+CMS ERROR: <n>` (kind and code None for a bare ERROR)."""

    def __init__(self, command: str, kind: str | None = None, code: int | None = None):
        said = "ERROR" if kind is None else f"+{kind} ERROR: {code}"
        super().__init__(f"{command} answered {said}")
        self.command, self.kind, self.code = command, kind, code


class AtSession:
    """One conversation with a modem on `port`; `timeout` is the default wait for a command's answer."""

    def __init__(self, port: Port, timeout: float):
        self.port = port
        self.timeout = timeout
        self._buffer = bytearray()

    def reset(self, settle: float) -> None:
        """Leave a prompt a crashed sender may have left open (ESC cancels it) and drop whatever was waiting.

        Without this, the answer to the cancelled prompt would be read as the handshake's, and every answer
        after it as the one before's.
        """
        self.port.write(ESC)
        time.sleep(settle)
        self.port.reset_input_buffer()
        self._buffer.clear()

    def command(self, command: str) -> list[str]:
        """Send `command`, return the lines before its `OK`; ModemError on an error answer, ModemTimeout."""
        self.port.write(command.encode("ascii") + b"\r")
        deadline = time.monotonic() + self.timeout
        lines = []
        while True:
            line = self._line(command, deadline, self.timeout)
            if line == "OK":
                return lines
            self._raise_if_error(command, line)
            if line != command:  # the echo, until ATE0
                lines.append(line)

    def submit(self, tpdu_length: int, pdu_hex: str, timeout: float) -> int:
        """`AT+CMGS=<length>`, the PDU at the `> ` prompt, Ctrl-Z; the message reference of `+CMGS: <mr>`."""
        command = f"AT+CMGS={tpdu_length}"
        self.port.write(command.encode("ascii") + b"\r")
        deadline = time.monotonic() + self.timeout
        while not self._prompt():
            if b"\n" in self._buffer:
                line = self._pop_line()
                self._raise_if_error(command, line)
            elif not self._read(deadline):
                self.port.write(ESC)  # leave the prompt, should it come after all
                raise ModemTimeout(command, self.timeout)
        self.port.write(pdu_hex.encode("ascii") + CTRL_Z)
        deadline = time.monotonic() + timeout
        reference = None
        while True:
            line = self._line(command, deadline, timeout)
            if line == "OK" and reference is not None:
                return reference
            self._raise_if_error(command, line)
            if match := _CMGS.match(line):  # "+CMGS: <mr>", some modems add ",<scts>"
                reference = int(match[1])

    def _prompt(self) -> bool:
        stripped = bytes(self._buffer).lstrip(b"\r\n")
        if stripped.startswith(b">"):
            self._buffer.clear()
            return True
        return False

    def _line(self, command: str, deadline: float, seconds: float) -> str:
        while True:
            if b"\n" in self._buffer:
                if line := self._pop_line():
                    return line
            elif not self._read(deadline):
                raise ModemTimeout(command, seconds)

    def _pop_line(self) -> str:
        raw, _, rest = bytes(self._buffer).partition(b"\n")
        self._buffer[:] = rest
        return raw.decode("ascii", "replace").strip()

    def _read(self, deadline: float) -> bool:
        """Read what has come (the port's own timeout is short); False once the deadline has passed."""
        if time.monotonic() >= deadline:
            return False
        self._buffer += self.port.read(max(1, self.port.in_waiting))
        return True

    @staticmethod
    def _raise_if_error(command: str, line: str) -> None:
        if line == "ERROR":
            raise ModemError(command)
        if match := _ERROR.fullmatch(line):
            raise ModemError(command, match[1], int(match[2]))
