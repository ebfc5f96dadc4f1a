"""Named failures of the meter drivers, so callers can tell a silent meter from garbage."""

from __future__ import annotations


class MeterError(Exception):
    """A meter did not give a usable answer."""


class DecodeError(MeterError):
    """The meter answered, but with values no real meter produces (the meter "answers garbage")."""


class MeterTimeout(MeterError):
    """No answer within the timeout (after the allowed retries)."""


class MeterOffline(MeterTimeout):
    """Skipped without a request: the meter is known offline until its next probe."""


class GatewayDown(MeterTimeout):
    """The gateway cannot be reached (or is silent), so no request was sent to this meter."""


class StaleReply(MeterError):
    """A late answer to an earlier request arrived instead of ours; the link was reset."""


class MeterRejected(MeterError):
    """The meter answered with a Modbus exception (e.g. 03 for a purchase with the wrong count)."""

    def __init__(self, message: str, exception_code: int, resent: bool = False) -> None:
        super().__init__(message)
        #: Modbus exception code: 1 function, 2 address, 3 value, 4 device failure, ...
        self.exception_code = exception_code
        #: True when the answer was to a retry, so the first attempt may have landed.
        self.resent = resent


class WriteNotConfirmed(MeterError):
    """The write was sent, but reading back shows the meter did not take it."""

    def __init__(self, message: str, reading: object) -> None:
        super().__init__(message)
        #: The read-back `Reading`, so the caller sees what the meter actually holds.
        self.reading = reading


class Unsupported(Exception):
    """The profile has no register for this command (a configuration error, not a meter fault)."""
