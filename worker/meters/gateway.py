"""Async I/O with one gateway (a Modbus TCP or RTU-over-TCP server in front of an RS485 bus).

One `GatewayClient` per gateway, one connection each. An RS485 bus carries one
request at a time, so every meter operation holds the gateway's lock: a poll's reads of
one meter, or a command's write and read-back, never interleave with anything else.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from pymodbus import FramerType
from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ConnectionException, ModbusIOException

from .codec import Command, Reading, decode_fields, encode
from .errors import GatewayDown, MeterError, MeterOffline, MeterRejected, MeterTimeout, StaleReply, WriteNotConfirmed
from .profiles import Block, Profile

FRAMERS = {"modbus-tcp": FramerType.SOCKET, "rtu-over-tcp": FramerType.RTU}
ILLEGAL_ADDRESS = 2


class GatewayClient:
    """The single connection to one gateway, with per-meter offline bookkeeping."""

    def __init__(self, host: str, port: int = 502, protocol: str = "modbus-tcp", *,
                 timeout: float = 1.0, retries: int = 0, offline_after: int = 2,
                 probe_interval: float = 60.0, reconnect_backoff: float = 5.0) -> None:
        if protocol not in FRAMERS:
            raise ValueError(f"protocol must be one of {sorted(FRAMERS)}")
        if retries not in (0, 1):
            raise ValueError("retries must be 0 or 1: a dead meter must not hold the bus")
        self.host, self.port, self.protocol = host, port, protocol
        self.timeout, self.retries = timeout, retries
        self.offline_after, self.probe_interval = offline_after, probe_interval
        self.reconnect_backoff = reconnect_backoff
        #: Requests put on the wire and TCP connections opened so far (metrics, tests).
        self.requests = 0
        self.connects = 0
        #: Set by `poll_gateway` when a whole cycle went unanswered.
        self.silent = False
        self.cursor = 0  # where the next poll cycle starts (rotates; see poll.py)
        self._client: AsyncModbusTcpClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = asyncio.Lock()
        self._down_until = 0.0
        self._misses: dict[int, int] = {}
        self._offline_until: dict[int, float] = {}
        self._tight: set[tuple[int, str]] = set()

    def __repr__(self) -> str:
        return f"GatewayClient({self.host}:{self.port} {self.protocol})"

    async def __aenter__(self) -> GatewayClient:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- connection -------------------------------------------------------------------

    def _bind(self) -> AsyncModbusTcpClient:
        # pymodbus binds its client to the running loop; an RQ job runs a fresh loop each time
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            if self._client is not None:
                with contextlib.suppress(RuntimeError):  # its loop may be closed already
                    self._client.close()
            self._client = AsyncModbusTcpClient(
                self.host, port=self.port, framer=FRAMERS[self.protocol],
                timeout=self.timeout, retries=self.retries,
                reconnect_delay=0,  # we reconnect ourselves, on demand, under the lock
                name=f"gw {self.host}:{self.port}")
            # pymodbus drops the link after retries+3 timeouts in a row; on a shared bus that
            # punishes every meter for one dead one, so we decide ourselves (poll.py)
            self._client.set_max_no_responses(1 << 30)
            self._lock = asyncio.Lock()
            self._loop = loop
        assert self._client is not None
        return self._client

    @property
    def connected(self) -> bool:
        """Whether the TCP connection is up."""
        return self._client is not None and self._client.connected

    async def connect(self, *, force: bool = False) -> bool:
        """(Re)connect if needed; False if the gateway cannot be reached (one timeout at most)."""
        self._bind()
        async with self._lock:
            return await self._connect(force)

    async def _connect(self, force: bool = False) -> bool:
        client = self._bind()
        if client.connected:
            return True
        # a refused/unreachable gateway is not retried by every meter of the cycle
        if not force and time.monotonic() < self._down_until:
            return False
        ok = await client.connect()
        self._down_until = 0.0 if ok else time.monotonic() + self.reconnect_backoff
        self.connects += ok
        return ok

    async def _ensure(self) -> AsyncModbusTcpClient:
        if not await self._connect():
            raise GatewayDown(f"{self} unreachable")
        assert self._client is not None
        return self._client

    async def reset(self) -> None:
        """Drop the connection; the next request reconnects (flushes a wedged link)."""
        if self._client is not None:
            self._client.close()

    async def close(self) -> None:
        """Close the connection for good (a later call reconnects)."""
        await self.reset()

    # -- offline bookkeeping ----------------------------------------------------------

    def is_offline(self, unit_id: int) -> bool:
        """Whether the meter missed enough polls to be skipped until its next probe."""
        return unit_id in self._offline_until

    def probe_due(self, unit_id: int) -> bool:
        """Whether a known-offline meter should be tried again now."""
        return time.monotonic() >= self._offline_until.get(unit_id, 0.0)

    def forget_misses(self, unit_ids: list[int]) -> None:
        """Un-count misses that were the gateway's fault, not these meters'."""
        for unit in unit_ids:
            self._offline_until.pop(unit, None)
            if self._misses.get(unit, 0) > 0:
                self._misses[unit] -= 1

    def _missed(self, unit_id: int) -> None:
        misses = self._misses.get(unit_id, 0) + 1
        self._misses[unit_id] = misses
        if misses >= self.offline_after:
            self._offline_until[unit_id] = time.monotonic() + self.probe_interval

    def _answered(self, unit_id: int) -> None:
        self._misses.pop(unit_id, None)
        self._offline_until.pop(unit_id, None)

    # -- requests ---------------------------------------------------------------------

    async def _call(self, unit_id: int, address: int, count: int | None = None,
                    values: tuple[int, ...] = ()) -> list[int]:
        return await self._request(await self._ensure(), unit_id, address, count, values)

    async def _request(self, client: AsyncModbusTcpClient, unit_id: int, address: int, count: int | None = None,
                       values: tuple[int, ...] = ()) -> list[int]:
        """One request on the connection `_ensure` gave (a poll reads a meter's blocks over the one it checked)."""
        self.requests += 1
        try:
            if count is not None:
                rsp = await client.read_holding_registers(address, count=count, device_id=unit_id)
            else:
                rsp = await client.write_registers(address, list(values), device_id=unit_id)
        except ModbusIOException as exc:
            if not client.connected:
                raise GatewayDown(f"{self} dropped the connection") from exc
            # pymodbus 3.16 raises the same class for a timeout and for a reply that
            # belongs to an earlier request; only the text tells them apart
            if "No response" in str(exc):
                raise MeterTimeout(f"unit {unit_id} at {address:04X}H: no answer") from exc
            client.close()  # the late reply's own answer is still in flight: start clean
            raise StaleReply(f"unit {unit_id}: out-of-sequence reply") from exc
        except ConnectionException as exc:
            raise GatewayDown(f"{self} lost: {exc}") from exc
        if rsp.isError():
            code = getattr(rsp, "exception_code", 0)
            raise MeterRejected(f"unit {unit_id} at {address:04X}H: exception {code:02d}", code,
                                resent=getattr(rsp, "retries", 0) > 0)
        if count is not None and len(rsp.registers) != count:
            raise StaleReply(f"unit {unit_id}: {len(rsp.registers)} registers, asked {count}")
        return rsp.registers

    async def _read(self, unit_id: int, profile: Profile, blocks: tuple[Block, ...]) -> dict[str, object]:
        """Read the blocks (under the lock, bound to this loop) and decode them; a poll's every meter, so one
        coroutine: the connection is checked once, and its client asked only when it is down."""
        raw: dict[int, list[int]] = {}
        key = (unit_id, profile.name)
        try:
            client = self._client if self._client is not None and self._client.connected else await self._ensure()
            for block in blocks:
                if key in self._tight:
                    for part in profile.tight_blocks(block):
                        raw[part.start] = await self._call(unit_id, part.start, part.count)
                    continue
                try:
                    raw[block.start] = await self._request(client, unit_id, block.start, block.count)
                except MeterRejected as exc:
                    # the block plan spans undocumented gap registers; some meters refuse those
                    if exc.exception_code != ILLEGAL_ADDRESS or len(profile.tight_blocks(block)) < 2:
                        raise
                    self._tight.add(key)
                    for part in profile.tight_blocks(block):
                        raw[part.start] = await self._call(unit_id, part.start, part.count)
        except GatewayDown:
            raise
        except MeterTimeout:
            self._missed(unit_id)
            raise
        self._answered(unit_id)  # garbage below is still an answer: the meter is online
        return decode_fields(profile, raw)

    async def read_meter(self, unit_id: int, profile: Profile, *, full: bool = False) -> Reading:
        """Read one meter in as few requests as its profile allows (`full`: optional blocks too)."""
        return Reading(**await self.read_fields(unit_id, profile, full=full))

    async def read_fields(self, unit_id: int, profile: Profile, *, full: bool = False) -> dict[str, object]:
        """`read_meter`, the reading as a dict of the fields the meter has (`codec.decode_fields`): a poll's."""
        if self.is_offline(unit_id) and not self.probe_due(unit_id):
            raise MeterOffline(f"unit {unit_id} offline until its next probe")
        self._bind()
        async with self._lock:
            return await self._read(unit_id, profile, profile.poll_blocks(full))

    async def write(self, unit_id: int, profile: Profile, command: Command) -> Reading | None:
        """Send `command`, then read it back where the profile can (None: cannot confirm)."""
        w = encode(profile, command)  # Unsupported/ValueError before touching the bus
        self._bind()
        async with self._lock:
            try:
                await self._call(unit_id, w.address, values=w.registers)
            except (MeterTimeout, MeterRejected, StaleReply) as exc:
                if isinstance(exc, MeterTimeout) and not isinstance(exc, GatewayDown):
                    self._missed(unit_id)
                if (w.confirm is None or isinstance(exc, GatewayDown)
                        or (isinstance(exc, MeterRejected) and not exc.resent)):
                    raise
                # the write may have landed with its ack lost (and a purchase resent by the
                # retry is then rejected for its count): the meter's state, not the ack, decides
                try:
                    reading = await self._read_back(unit_id, profile, w.confirm)
                except MeterError:
                    raise exc from None
                if getattr(reading, w.confirm) != w.expect:
                    raise
                return reading
            self._answered(unit_id)
            if w.confirm is None:
                return None
            try:
                reading = await self._read_back(unit_id, profile, w.confirm)
            except MeterError as exc:
                raise WriteNotConfirmed(f"unit {unit_id}: acknowledged, read-back failed: {exc}",
                                        None) from exc
        if getattr(reading, w.confirm) != w.expect:
            raise WriteNotConfirmed(
                f"unit {unit_id}: {w.confirm} is {getattr(reading, w.confirm)!r} after "
                f"{command.name}, expected {w.expect!r}", reading)
        return reading

    async def read_field(self, unit_id: int, profile: Profile, field: str) -> Reading:
        """Read the one block that holds `field` (e.g. an optional block the poll skips)."""
        self._bind()
        async with self._lock:
            return await self._read_back(unit_id, profile, field)

    async def _read_back(self, unit_id: int, profile: Profile, field: str) -> Reading:
        blocks = (profile.block_for(field),)
        try:
            return Reading(**await self._read(unit_id, profile, blocks))
        except StaleReply:  # the link was reset; once more on a clean one
            return Reading(**await self._read(unit_id, profile, blocks))
