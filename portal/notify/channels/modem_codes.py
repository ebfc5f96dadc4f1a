"""What a modem's error codes mean for a message: try again later (RETRY) or never this way (FAILED).

`+CMS ERROR: <n>` (3GPP TS 27.005 §3.2.5) carries, below 128, the network's RP cause (TS 24.011 §8.2.5.4)
and, 128-255, the service centre's TP-FCS (TS 23.040 §9.2.3.22); 300-340 are the modem's own, 500 is
"unknown", 512 and up the manufacturer's. `+CME ERROR: <n>` (TS 27.007 §9.2) is the modem's or the SIM's.

The rule: what the network, the modem or the SIM may get over by itself (congestion, no coverage, a busy SIM,
a timeout) is RETRY; what only a person can mend (a number that does not exist, a barred SIM, a missing or
locked SIM, a PDU the modem refuses) is FAILED, so the caller falls back to another channel at once instead of
retrying for hours. A code missing from the tables is RETRY: the caller's own retry limit ends it.
"""
from __future__ import annotations

from portal.notify.channels.base import Outcome

RETRY, FAILED = Outcome.RETRY, Outcome.FAILED

#: +CMS ERROR codes: (outcome, meaning)
CMS = {
    1: (FAILED, "unassigned (unallocated) number"),
    8: (FAILED, "operator determined barring"),
    10: (FAILED, "call barred"),
    21: (FAILED, "short message transfer rejected"),
    27: (RETRY, "destination out of service"),
    28: (FAILED, "unidentified subscriber"),
    29: (FAILED, "facility rejected"),
    30: (FAILED, "unknown subscriber"),
    38: (RETRY, "network out of order"),
    41: (RETRY, "temporary failure"),
    42: (RETRY, "congestion"),
    47: (RETRY, "resources unavailable"),
    50: (FAILED, "requested facility not subscribed"),
    69: (FAILED, "requested facility not implemented"),
    81: (RETRY, "invalid short message transfer reference value"),
    95: (FAILED, "invalid message"),
    96: (FAILED, "invalid mandatory information"),
    97: (FAILED, "message type non-existent or not implemented"),
    98: (RETRY, "message not compatible with short message protocol state"),
    99: (FAILED, "information element non-existent or not implemented"),
    111: (RETRY, "protocol error"),
    127: (RETRY, "interworking"),
    # 128-255, the service centre's TP-FCS: the PDU's protocol id or coding refused (see outcome() below)
    300: (RETRY, "ME failure"),
    301: (RETRY, "SMS service of ME reserved"),
    302: (RETRY, "operation not allowed"),
    303: (FAILED, "operation not supported"),
    304: (FAILED, "invalid PDU mode parameter"),
    305: (FAILED, "invalid text mode parameter"),
    310: (FAILED, "SIM not inserted"),
    311: (FAILED, "SIM PIN required"),
    312: (FAILED, "PH-SIM PIN required"),
    313: (FAILED, "SIM failure"),
    314: (RETRY, "SIM busy"),
    315: (FAILED, "SIM wrong"),
    316: (FAILED, "SIM PUK required"),
    317: (FAILED, "SIM PIN2 required"),
    318: (FAILED, "SIM PUK2 required"),
    320: (RETRY, "memory failure"),
    322: (RETRY, "memory full"),
    330: (FAILED, "SMSC address unknown"),
    331: (RETRY, "no network service"),
    332: (RETRY, "network timeout"),
    340: (RETRY, "no +CNMA acknowledgement expected"),
    500: (RETRY, "unknown error"),
}

#: +CME ERROR codes: (outcome, meaning)
CME = {
    3: (RETRY, "operation not allowed"),
    4: (FAILED, "operation not supported"),
    10: (FAILED, "SIM not inserted"),
    11: (FAILED, "SIM PIN required"),
    12: (FAILED, "SIM PUK required"),
    13: (FAILED, "SIM failure"),
    14: (RETRY, "SIM busy"),
    15: (FAILED, "SIM wrong"),
    16: (FAILED, "incorrect password"),
    17: (FAILED, "SIM PIN2 required"),
    18: (FAILED, "SIM PUK2 required"),
    30: (RETRY, "no network service"),
    31: (RETRY, "network timeout"),
    32: (FAILED, "network not allowed, emergency calls only"),
    100: (RETRY, "unknown"),
}


def outcome(kind: str | None, code: int | None) -> tuple[Outcome, str]:
    """The outcome of an error answer (`CMS`/`CME` and its code, or None for a bare ERROR) and its meaning."""
    if kind is None:
        return RETRY, "error"
    table = CMS if kind == "CMS" else CME
    if code in table:
        return table[code]
    if kind == "CMS" and code is not None and 128 <= code <= 255:
        return FAILED, "refused by the service centre (TP-FCS)"
    return RETRY, "unlisted code"
