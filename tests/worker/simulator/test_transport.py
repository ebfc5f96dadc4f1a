"""Framing (Modbus TCP, RTU over TCP), RS485 timing emulation and the runners."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest
from pymodbus.client import AsyncModbusTcpClient
from pymodbus.framer import FramerType

from worker.simulator import ManualClock, SimGatewaySpec, SimMeterSpec, Simulator, SimulatorThread, fleet_specs
from worker.simulator.framing import crc16

DT = AsyncModbusTcpClient.DATATYPE
CHAR_9600 = 11 / 9600  # seconds per byte on the wire


def rtu_gateway(**kw) -> SimGatewaySpec:
    return SimGatewaySpec("GW1", protocol="rtu-over-tcp", meters=[
        SimMeterSpec(1, "payfirst-prepaid-v1"), SimMeterSpec(7, "chint-dtsu666"),
        SimMeterSpec(9, "payfirst-water-v1", kind="water")], **kw)


def raw_exchange(port: int, payload: bytes, expect: int) -> bytes:
    """Send bytes on a plain socket and read `expect` bytes back."""
    with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
        sock.sendall(payload)
        data = b""
        while len(data) < expect:
            chunk = sock.recv(expect - len(data))
            if not chunk:
                break
            data += chunk
        return data


def test_crc16_matches_the_modbus_reference_vector():
    assert crc16(bytes.fromhex("01030000000a")) == bytes.fromhex("c5cd")


def test_rtu_over_tcp_serves_many_units_with_reads_writes_and_exceptions(simulate, connect):
    sim = simulate(rtu_gateway())
    bus = connect(sim)
    assert bus.value(1, 0x000B, DT.UINT16) == sim.meter("GW1", 1).snapshot()["voltage"]
    assert bus.value(7, 0x2044, DT.FLOAT32) > 4990
    assert bus.value(9, 0x0002, DT.UINT16) == sim.meter("GW1", 9).snapshot()["flow_lph"]
    assert not bus.write(1, 0x0110, [0, 800, 1]).isError()
    assert bus.value(1, 0x0100, DT.INT32) == 800
    assert bus.write(1, 0x0110, [0, 800, 1]).exception_code == 3
    assert bus.read(7, 0x0000, 1).exception_code == 2


def test_rtu_framer_skips_noise_before_a_frame(simulate):
    sim = simulate(rtu_gateway())
    request = bytes.fromhex("010300000002")
    answer = raw_exchange(sim.port("GW1"), b"\x00\xff\x13" + request + crc16(request), 9)
    assert answer[:3] == bytes.fromhex("010304") and answer[-2:] == crc16(answer[:-2])


def test_rtu_frame_with_bad_crc_gets_no_answer_but_the_next_one_does(simulate):
    sim = simulate(rtu_gateway())
    request = bytes.fromhex("0103000b0001")
    bad = request + bytes((crc16(request)[0] ^ 0xFF, crc16(request)[1]))
    answer = raw_exchange(sim.port("GW1"), bad + request + crc16(request), 7)
    assert answer[:3] == bytes.fromhex("010302") and len(answer) == 7


def test_unknown_function_is_exception_01(simulate):
    sim = simulate(rtu_gateway())
    request = bytes.fromhex("0104000b0001")  # input registers: not used by any profile
    answer = raw_exchange(sim.port("GW1"), request + crc16(request), 5)
    assert answer[:3] == bytes.fromhex("018401")


def test_modbus_tcp_stream_with_bad_protocol_id_is_hung_up(simulate):
    sim = simulate(SimGatewaySpec("GW1", meters=[SimMeterSpec(1, "acrel-ddsy1352")]))
    assert raw_exchange(sim.port("GW1"), bytes.fromhex("0001 0007 0006 01 03 0000 0001"), 1) == b""


def test_rs485_timing_costs_bytes_gap_and_latency(simulate, connect):
    sim = simulate(rtu_gateway(baud=9600, answer_latency_ms=20))
    bus = connect(sim)
    bus.regs(1, 0x0000, 17)  # warm up the connection
    start = time.perf_counter()
    bus.regs(1, 0x0000, 17)
    elapsed = time.perf_counter() - start
    # 8 request + 39 response bytes + 3.5 char gap, plus 20 ms: about 78 ms
    assert elapsed >= (8 + 39 + 3.5) * CHAR_9600 + 0.020 - 0.002


def test_rs485_timing_serialises_requests_from_separate_connections():
    async def scenario() -> float:
        sim = Simulator([rtu_gateway(baud=9600, answer_latency_ms=20)], ManualClock())
        await sim.start()
        clients = [AsyncModbusTcpClient("127.0.0.1", port=sim.port("GW1"),
                                        framer=FramerType.RTU, timeout=3, retries=0)
                   for _ in range(3)]
        try:
            for client in clients:
                assert await client.connect()
            start = time.perf_counter()
            replies = await asyncio.gather(*(
                c.read_holding_registers(0x0000, count=2, device_id=1) for c in clients))
            elapsed = time.perf_counter() - start
            assert not any(r.isError() for r in replies)
            return elapsed
        finally:
            for client in clients:
                client.close()
            await sim.stop()

    one = (8 + 9 + 3.5) * CHAR_9600 + 0.020  # about 43 ms per transaction
    assert asyncio.run(scenario()) >= 3 * one - 0.003


def test_timing_can_be_switched_on_at_runtime(simulate, connect):
    sim = simulate(rtu_gateway())
    bus = connect(sim)
    sim.gateway("GW1").set_timing(1200, latency_ms=50)
    start = time.perf_counter()
    bus.regs(1, 0x0000, 2)
    assert time.perf_counter() - start >= (8 + 9 + 3.5) * 11 / 1200 + 0.050 - 0.002


def test_simulator_thread_serves_a_full_size_fleet():
    specs = fleet_specs(170, 60)
    assert sum(len(g.meters) for g in specs) == 10_200

    async def read_last(port: int) -> int:
        client = AsyncModbusTcpClient("127.0.0.1", port=port, timeout=2, retries=0)
        assert await client.connect()
        try:
            rr = await client.read_holding_registers(0x0100, count=9, device_id=60)
            return rr.registers[2]  # purchase count
        finally:
            client.close()

    with SimulatorThread(specs, clock=ManualClock()) as sim:
        sim.meter("GW170", 60).purchase(100, 1)
        assert asyncio.run(read_last(sim.port("GW170"))) == 1
        assert sim.gateway("GW170").requests == 1


def test_duplicate_gateway_codes_and_unit_ids_are_refused():
    meter = SimMeterSpec(1, "acrel-ddsy1352")
    with pytest.raises(ValueError):
        SimGatewaySpec("GW1", meters=[meter, meter])
    with pytest.raises(ValueError):
        Simulator([SimGatewaySpec("GW1"), SimGatewaySpec("GW1")])


def test_silent_meter_holds_the_bus_for_the_configured_time(simulate):
    sim = simulate(rtu_gateway())
    sim.gateway("GW1").set_timing(9600, latency_ms=0, silent_hold_ms=150)
    sim.meter("GW1", 1).set_fault("silent")
    silent = bytes.fromhex("010300000002")
    with socket.create_connection(("127.0.0.1", sim.port("GW1")), timeout=2) as other:
        other.sendall(silent + crc16(silent))
        time.sleep(0.01)  # make sure the silent request is first on the bus
        start = time.perf_counter()
        request = bytes.fromhex("070320440002")
        answer = raw_exchange(sim.port("GW1"), request + crc16(request), 9)
        assert answer[:3] == bytes.fromhex("070304")
        assert time.perf_counter() - start >= 0.150 - 0.015
