"""SMS through a GSM modem (an "SMS cat") on a serial port: AT commands in PDU mode, UCS-2 for Chinese.

Each send opens the port, talks, and closes it again:
`AT` (the handshake), `ATE0` (no echo), `AT+CMEE=1` (numeric error codes), `AT+CPIN?` (and the PIN when the SIM
asks for one), `AT+CREG?` until the modem is registered (home `0,1` or roaming `0,5`), `AT+CMGF=0` (PDU mode),
then `AT+CMGS` once per part. Opening per send costs well under a tenth of a second (the set-up's AT commands
and the pause after ESC) against one to five seconds for the network to take a message, and it means a modem
that was unplugged, reset or re-registered in between is simply set up again.

One modem, one sender at a time: the port is opened with `exclusive=True`, a `flock` on the device itself,
so two worker processes (or two channel objects in one) never interleave their AT commands, whichever name
(`/dev/ttyUSB0` or its `/dev/serial/by-id/...` link) each was given. A send that cannot have the modem within
`lock_timeout` is RETRY: the queue brings it back. Modem sends have a queue of their own, `sms_modem`
(portal.queue.names), for a worker on the machine the modem is plugged into.

A SIM locks for good (PUK) after three wrong PINs, so a PIN the SIM refused is never offered again by itself:
the refusal is remembered, in the process and in a file of `state_dir` (the temporary folder, which the
machine's processes share), until the setting changes to another PIN; a SIM unlocked by hand meanwhile is
simply used.
"""
from __future__ import annotations

import contextlib
import errno
import hashlib
import logging
import os
import re
import tempfile
import time
import zlib
from pathlib import Path

import serial

from portal.notify.channels import modem_codes
from portal.notify.channels.base import Message, Result
from portal.notify.channels.modem_at import AtSession, ModemError, ModemTimeout
from portal.notify.channels.pdu import PduError, submit_pdus
from portal.settings import Settings

log = logging.getLogger(__name__)

_CREG = re.compile(r"\+CREG: *\d+, *(\d+)")
#: +CREG stat: registered to the home network, registered roaming
_REGISTERED = {"1", "5"}
_PIN = re.compile(r"[0-9]{4,8}")


class _Stop(Exception):
    """Ends a send early with `result`."""

    def __init__(self, result: Result):
        super().__init__(result.error)
        self.result = result


class ModemChannel:
    """SMS by the GSM modem at `device`; the timeouts (seconds) are short in tests, real-world by default."""

    name = "modem"
    #: after ESC: time for a modem to answer a prompt it cancels, an answer dropped before the handshake
    SETTLE = 0.05

    def __init__(self, device: str, baud: int = 115_200, pin: str | None = None, *,
                 command_timeout: float = 5.0, send_timeout: float = 60.0,
                 registration_timeout: float = 60.0, registration_poll: float = 2.0,
                 lock_timeout: float = 10.0, state_dir: str | os.PathLike | None = None):
        self.device, self.baud, self._pin = device, baud, pin
        #: one command's answer; `send_timeout` is AT+CMGS's: the network's answer, which takes seconds
        self.command_timeout, self.send_timeout = command_timeout, send_timeout
        self.registration_timeout, self.registration_poll = registration_timeout, registration_poll
        self.lock_timeout = lock_timeout
        self._state_dir = Path(state_dir if state_dir is not None else tempfile.gettempdir())
        #: the digest of a PIN the SIM refused, in this process (the file may not be writable)
        self._refused: str | None = None

    def send(self, message: Message) -> Result:
        """Send `message.text` to `message.recipient`; its parts' message references are the provider id."""
        try:
            # a retry of the same delivery reuses the reference, so that a phone joins old and new parts
            reference = zlib.crc32((message.key or message.text).encode()) & 0xFF
            pdus = submit_pdus(message.recipient, message.text, reference)
        except PduError as e:
            return Result.failed(str(e))
        references: list[int] = []
        try:
            with self._open() as port:
                session = AtSession(port, self.command_timeout)
                self._prepare(session)
                for pdu in pdus:
                    references.append(session.submit(pdu.tpdu_length, pdu.hex, self.send_timeout))
        except _Stop as stop:
            return _with_parts(stop.result, references, len(pdus))
        except ModemTimeout as e:
            return _with_parts(Result.retry(str(e)), references, len(pdus))
        except ModemError as e:
            found, meaning = modem_codes.outcome(e.kind, e.code)
            result = Result(found, error=f"{e} ({meaning})")
            return _with_parts(result, references, len(pdus))
        except (serial.SerialException, OSError) as e:
            return _with_parts(Result.retry(f"modem {self.device}: {e}"), references, len(pdus))
        return Result.sent(",".join(str(r) for r in references))

    def _open(self) -> serial.Serial:
        """The port, locked for this send alone; RETRY when another sender still holds it after `lock_timeout`."""
        deadline = time.monotonic() + self.lock_timeout
        while True:
            try:
                return serial.Serial(self.device, self.baud, timeout=0.02, write_timeout=self.command_timeout,
                                     exclusive=True)
            except serial.SerialException as e:
                if e.errno not in (errno.EAGAIN, errno.EWOULDBLOCK):
                    raise
                if time.monotonic() >= deadline:
                    raise _Stop(Result.retry(f"modem {self.device} busy: another sender holds it")) from e
                time.sleep(0.05)

    def _prepare(self, session: AtSession) -> None:
        """Handshake, SIM unlocked, network registered, PDU mode: ready for AT+CMGS."""
        session.reset(self.SETTLE)
        try:
            session.command("AT")
        except (ModemTimeout, ModemError):
            # a modem waking up may miss the first one; its late answer must not pass for the next one's
            session.reset(self.SETTLE)
            session.command("AT")
        session.command("ATE0")
        session.command("AT+CMEE=1")
        self._unlock(session)
        self._await_registration(session)
        session.command("AT+CMGF=0")

    def _unlock(self, session: AtSession) -> None:
        state = _cpin(session)
        if state == "READY":
            return
        if state != "SIM PIN":
            raise _Stop(Result.failed(f"the SIM wants {state}: only a person can unlock it"))
        if not self._pin:
            raise _Stop(Result.failed("the SIM wants its PIN and SMS_MODEM_PIN is not set"))
        if self._pin_refused():
            raise _Stop(Result.failed("the SIM refused this PIN before: not offered again (a third try locks it)"))
        if not _PIN.fullmatch(self._pin):
            raise _Stop(Result.failed("SMS_MODEM_PIN is not 4 to 8 digits"))
        try:
            session.command(f'AT+CPIN="{self._pin}"')
        except ModemError as e:
            self._remember_refusal()
            raise _Stop(Result.failed(f"the SIM refused the PIN ({e}): not offered again")) from e
        except ModemTimeout as e:
            # it may have counted as a try: better a person looks than a third try locks the SIM
            self._remember_refusal()
            raise _Stop(Result.failed(f"{e}: the PIN is not offered again")) from e
        self._forget_refusal()
        # the SIM takes a moment to get ready after its PIN
        deadline = time.monotonic() + self.registration_timeout
        while (state := _cpin(session, busy_ok=True)) != "READY":
            if time.monotonic() >= deadline:
                raise _Stop(Result.retry(f"the SIM is not ready after its PIN ({state})"))
            time.sleep(self.registration_poll)

    def _await_registration(self, session: AtSession) -> None:
        deadline = time.monotonic() + self.registration_timeout
        while True:
            stat = next((m[1] for line in session.command("AT+CREG?") if (m := _CREG.match(line))), None)
            if stat in _REGISTERED:
                return
            if time.monotonic() >= deadline:
                raise _Stop(Result.retry(f"not registered on the network after {self.registration_timeout:g} s "
                                         f"(+CREG stat {stat})"))
            time.sleep(self.registration_poll)

    # A refused PIN, remembered by the device (links resolved) and a hash of the PIN, never the PIN itself.
    def _refusal_file(self) -> Path:
        device = re.sub(r"[^A-Za-z0-9]+", "-", os.path.realpath(self.device)).strip("-")
        return self._state_dir / f"payfirst-modem-{device}.pin-refused"

    def _pin_digest(self) -> str:
        return hashlib.sha256(f"{os.path.realpath(self.device)}:{self._pin}".encode()).hexdigest()

    def _pin_refused(self) -> bool:
        if self._refused == self._pin_digest():
            return True
        try:
            return self._refusal_file().read_text().strip() == self._pin_digest()
        except OSError:
            return False

    def _remember_refusal(self) -> None:
        log.error("the SIM of modem %s refused SMS_MODEM_PIN: it is not offered again until it changes",
                  self.device)
        self._refused = self._pin_digest()
        try:
            self._refusal_file().write_text(self._refused)
        except OSError:
            log.warning("cannot keep the PIN refusal in %s: other processes may offer it once more", self._state_dir)

    def _forget_refusal(self) -> None:
        self._refused = None
        with contextlib.suppress(OSError):
            self._refusal_file().unlink(missing_ok=True)


def _cpin(session: AtSession, busy_ok: bool = False) -> str:
    """What the SIM wants (`READY`, `SIM PIN`, `SIM PUK`…); FAILED for no SIM, `BUSY` while it starts up."""
    try:
        lines = session.command("AT+CPIN?")
    except ModemError as e:
        if busy_ok and (e.kind, e.code) == ("CME", 14):
            return "BUSY"
        found, meaning = modem_codes.outcome(e.kind, e.code)
        raise _Stop(Result(found, error=f"{e} ({meaning})")) from e
    return next((line.partition(":")[2].strip() for line in lines if line.startswith("+CPIN:")), "?")


def _with_parts(result: Result, references: list[int], count: int) -> Result:
    """The result, saying which parts had gone before it failed (they reached the network: the phone has them)."""
    if not references:
        return result
    sent = ",".join(str(r) for r in references)
    return Result(result.outcome, error=f"{result.error}; parts 1-{len(references)} of {count} sent ({sent})")


def from_settings(settings: Settings) -> ModemChannel | None:
    """The modem channel of SMS_MODEM_DEVICE, SMS_MODEM_BAUD and SMS_MODEM_PIN; None without a device."""
    sms = settings.sms
    if not sms.modem_device:
        return None
    return ModemChannel(sms.modem_device, sms.modem_baud, sms.modem_pin)

