"""One simulated gateway: a TCP port, the meters on its RS485 bus, faults and timing.

Without timing emulation a request is answered inside data_received, with no
task or lock, so 10,000 meters on loopback cost little per request. With a
baud rate set, every transaction on the gateway queues for one shared bus and
holds it for the bytes on the wire, the inter-frame gap and the meter's
answer latency, whichever TCP connection it came from.
"""

from __future__ import annotations

import asyncio
import logging

from .framing import FRAMERS, MbapFramer, exception_pdu, handle_pdu
from .meter import SimMeter
from .registers import DEVICE_FAILURE
from .specs import SimGatewaySpec

log = logging.getLogger(__name__)

#: Bytes sent for a 'garbage' fault: neither a valid MBAP header nor a valid RTU frame.
GARBAGE = bytes.fromhex("ff13a7c4005e9b21ee")
BITS_PER_BYTE = 11  # start + 8 data + parity/stop bits: ~1.15 ms per byte at 9600


class SimGateway:
    """Serve one gateway's meters on one TCP port, with switchable faults and timing."""

    def __init__(self, spec: SimGatewaySpec, meters: dict[int, SimMeter]) -> None:
        self.spec = spec
        self.code = spec.code
        self.meters = meters
        self.host, self.port = spec.host, spec.port
        self.framer = FRAMERS[spec.protocol]()
        #: Fault for every meter on the gateway: None, 'silent', 'garbage', 'exception'.
        self.fault: str | None = None
        self.fault_code = DEVICE_FAILURE
        self.baud = spec.baud
        self.latency_ms = spec.answer_latency_ms
        self.silent_hold_ms = 0.0
        self.requests = 0  #: requests received, answered or not
        #: With timing emulation: requests waiting or on the bus now, and the most ever at once.
        #: A single master keeps this at 1; 2 means two clients talked over each other.
        self.in_flight = 0
        self.max_in_flight = 0
        self._server: asyncio.Server | None = None
        self._links: set[_Link] = set()
        self._tasks: set[asyncio.Task] = set()
        self._bus: asyncio.Lock | None = None

    @property
    def is_up(self) -> bool:
        """True while the port accepts connections."""
        return self._server is not None

    async def start(self) -> None:
        """Listen on the port (the same port again after a simulated outage)."""
        if self._server is not None:
            return
        loop = asyncio.get_running_loop()
        self._bus = asyncio.Lock()
        self._server = await loop.create_server(
            lambda: _Link(self), self.host, self.port, reuse_address=True
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Close the port and drop every open connection (a gateway outage)."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for link in list(self._links):
            link.transport.abort()
        for task in list(self._tasks):
            task.cancel()
        if server is not None:
            await server.wait_closed()
        # Let the aborted transports run connection_lost before anyone closes the loop.
        for _ in range(3):
            await asyncio.sleep(0)

    def set_fault(self, fault: str | None, code: int = DEVICE_FAILURE) -> None:
        """Fault every meter on the gateway: 'silent', 'garbage', 'exception'; None heals."""
        if fault not in (None, "silent", "garbage", "exception"):
            raise ValueError(f"unknown fault {fault!r}")
        self.fault, self.fault_code = fault, code

    def set_timing(self, baud: int | None, latency_ms: float = 20.0,
                   silent_hold_ms: float = 0.0) -> None:
        """RS485 emulation at baud (None = off); silent_hold_ms: bus wait on a silent meter."""
        self.baud, self.latency_ms, self.silent_hold_ms = baud, latency_ms, silent_hold_ms

    # -- answering ------------------------------------------------------------
    def respond(self, unit: int, pdu: bytes, tag: bytes) -> bytes | None:
        """Bytes to send back for one request, or None when nobody answers."""
        self.requests += 1
        meter = self.meters.get(unit)
        if meter is None:  # no such address on the bus (or broadcast): silence
            return None
        fault = self.fault or meter.fault
        if fault == "silent":
            return None
        if fault == "garbage":
            return GARBAGE
        if fault == "exception":
            code = self.fault_code if self.fault else meter.fault_code
            return self.framer.frame(unit, exception_pdu(pdu[0], code), tag)
        try:
            answer = handle_pdu(meter, pdu)
        except Exception:  # a simulator bug must look like a failing meter, not a dead port
            log.exception("gateway %s unit %s: request %s", self.code, unit, pdu.hex())
            answer = exception_pdu(pdu[0], DEVICE_FAILURE)
        return self.framer.frame(unit, answer, tag)

    def _rtu_len(self, wire_len: int) -> int:
        # Bytes that cross the RS485 bus: an MBAP frame has 7 header bytes where
        # RTU has 1 address byte and 2 CRC bytes.
        return wire_len - 4 if isinstance(self.framer, MbapFramer) else wire_len

    async def _serve_timed(self, link: _Link, unit: int, pdu: bytes, tag: bytes) -> None:
        try:
            async with self._bus:
                out = self.respond(unit, pdu, tag)
                char_s = BITS_PER_BYTE / self.baud
                wire = len(pdu) + 3 + (self._rtu_len(len(out)) if out else 0)
                extra_ms = self.latency_ms if out else self.silent_hold_ms
                await asyncio.sleep((wire + 3.5) * char_s + extra_ms / 1000)
                if out and not link.transport.is_closing():
                    link.transport.write(out)
        finally:
            self.in_flight -= 1

    def _submit(self, link: _Link, unit: int, pdu: bytes, tag: bytes) -> None:
        if self.baud is None:
            out = self.respond(unit, pdu, tag)
            if out:
                link.transport.write(out)
            return
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        task = asyncio.ensure_future(self._serve_timed(link, unit, pdu, tag))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


class _Link(asyncio.Protocol):
    """One TCP connection to the gateway."""

    def __init__(self, gateway: SimGateway) -> None:
        self.gateway = gateway
        self.buf = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport) -> None:
        self.transport = transport
        self.gateway._links.add(self)

    def connection_lost(self, exc) -> None:
        self.gateway._links.discard(self)

    def data_received(self, data: bytes) -> None:
        try:
            requests, self.buf = self.gateway.framer.split(self.buf + data)
        except ValueError:
            # A broken MBAP stream cannot be resynchronised: hang up, as gateways do.
            self.transport.abort()
            return
        for unit, pdu, tag in requests:
            self.gateway._submit(self, unit, pdu, tag)
