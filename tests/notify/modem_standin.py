"""A GSM modem on a pseudo-terminal: the far end of the pty, a thread that answers AT commands as a modem does.

The channel opens the pty's slave name with pyserial, like any `/dev/ttyUSB0`. The stand-in answers with echo
until `ATE0`, `OK`/`ERROR`, `+CPIN:` (a SIM that wants a PIN, counting the PINs offered, or no SIM at all),
`+CREG:` (registered only after some polls, or never), the `> ` prompt of `AT+CMGS` and then `+CMGS: <mr>`, or
a `+CMS ERROR` asked for; it can keep silent (from the start, or from a given command on). It shares no code
with the channel: it keeps the PDUs it was given, as hex, for the tests to decode by their own reading of
TS 23.040.

`log` holds every command in the order received (a PDU as `PDU:<hex>`, ESC as `ESC`), for the tests to check
that each sender's commands came as one whole sequence.
"""
from __future__ import annotations

import os
import re
import select
import threading
import tty


class StandinModem:
    """A modem for one test; `with StandinModem(...) as modem:` runs it, `modem.device` is the port to open."""

    def __init__(self, *, pin: str | None = None, registered_after: int = 0, never_registers: bool = False,
                 cms_errors: list[int | None] | None = None, silent: bool = False, silent_from: str | None = None,
                 in_prompt: bool = False, no_sim: bool = False):
        self.pin = pin
        self.unlocked = pin is None
        self.no_sim = no_sim
        self.pins_offered: list[str] = []
        self.registered_after, self.never_registers = registered_after, never_registers
        self.creg_polls = 0
        #: the +CMS ERROR code answered to each next PDU, one each (None: that one goes), then all go
        self.cms_errors = list(cms_errors or [])
        self.silent, self.silent_from = silent, silent_from
        self.echo = True
        self.log: list[str] = []
        self.pdus: list[str] = []
        self._next_mr = 0
        self._prompt_length: int | None = 0 if in_prompt else None
        self._buffer = b""
        self._master, self._slave = os.openpty()
        # raw from the start: no echo or line editing by the terminal itself, only what the modem answers
        tty.setraw(self._slave)
        self.device = os.ttyname(self._slave)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="standin-modem", daemon=True)

    def __enter__(self) -> StandinModem:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(2)
        os.close(self._master)
        os.close(self._slave)  # kept open until now: the master never sees the slave hung up between senders

    def commands(self) -> list[str]:
        """The log without the PDUs and ESCs: the AT commands alone."""
        return [c for c in self.log if c.startswith("AT")]

    def _run(self) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([self._master], [], [], 0.02)
            if ready:
                self._buffer += os.read(self._master, 4096)
                self._consume()

    def _consume(self) -> None:
        while self._buffer:
            if self._prompt_length is not None:
                end = re.search(rb"[\x1a\x1b]", self._buffer)
                if end is None:
                    return
                pdu, key, self._buffer = (self._buffer[:end.start()], self._buffer[end.start():end.end()],
                                          self._buffer[end.end():])
                self._pdu(pdu.decode("ascii"), cancelled=key == b"\x1b")
            elif self._buffer.startswith(b"\x1b"):
                self.log.append("ESC")
                self._buffer = self._buffer[1:]
            elif b"\r" in self._buffer:
                line, _, self._buffer = self._buffer.partition(b"\r")
                command = line.decode("ascii").strip()
                if command:
                    self._command(command)
            else:
                return

    def _say(self, *lines: str) -> None:
        os.write(self._master, b"".join(b"\r\n" + line.encode("ascii") + b"\r\n" for line in lines))

    def _quiet(self, command: str) -> bool:
        if self.silent_from and command.startswith(self.silent_from):
            self.silent = True
        return self.silent

    def _command(self, command: str) -> None:
        self.log.append(command)
        if self._quiet(command):
            return
        if self.echo:
            os.write(self._master, command.encode("ascii") + b"\r")
        if command in ("AT", "AT+CMEE=1", "AT+CMGF=0"):
            self._say("OK")
        elif command == "ATE0":
            self.echo = False
            self._say("OK")
        elif command == "AT+CPIN?" and self.no_sim:
            self._say("+CME ERROR: 10")
        elif command == "AT+CPIN?":
            self._say("+CPIN: READY" if self.unlocked else "+CPIN: SIM PIN", "OK")
        elif match := re.fullmatch(r'AT\+CPIN="(\d+)"', command):
            self.pins_offered.append(match[1])
            self.unlocked = match[1] == self.pin
            self._say("OK" if self.unlocked else "+CME ERROR: 16")
        elif command == "AT+CREG?":
            self.creg_polls += 1
            registered = not self.never_registers and self.creg_polls > self.registered_after
            self._say("+CREG: 0,1" if registered else "+CREG: 0,2", "OK")
        elif match := re.fullmatch(r"AT\+CMGS=(\d+)", command):
            if not self.unlocked:
                self._say("+CMS ERROR: 311")
                return
            self._prompt_length = int(match[1])
            os.write(self._master, b"\r\n> ")
        else:
            self._say("ERROR")

    def _pdu(self, pdu: str, cancelled: bool) -> None:
        length, self._prompt_length = self._prompt_length, None
        if cancelled:
            self.log.append("ESC")
            self._say("OK")
            return
        self.log.append(f"PDU:{pdu}")
        if self.silent:
            return
        sca_octets = 1 + int(pdu[:2], 16)
        if len(pdu) // 2 - sca_octets != length:
            self._say("+CMS ERROR: 304")  # the length announced is not the PDU's: a real modem refuses it too
        elif (code := self.cms_errors.pop(0) if self.cms_errors else None) is not None:
            self._say(f"+CMS ERROR: {code}")
        else:
            self.pdus.append(pdu)
            self._next_mr = (self._next_mr + 1) % 256
            self._say(f"+CMGS: {self._next_mr}", "OK")
