"""A cycle of many buses runs them in a child process (worker/buses.py): what goes wrong there ends the cycle
with what went wrong, and nothing is left running. (Every other poller test runs in both modes: conftest.py.)"""
from __future__ import annotations

import multiprocessing
import os
import pickle
import signal
import threading
import time

import pytest

from portal.metering.rows import GatewayRow
from tests.worker.poller.farm import GW, M
from worker import buses, poller
from worker.buses import Buses, GatewayPlan
from worker.meters.profiles import get_profile
from worker.relays import MeterPlan

#: two buses of three meters at 9600 baud: about half a second a cycle, so a failure lands mid-cycle
FARM = (GW("GW1", tuple(M(u, balance_fen=10_000, load=1_000) for u in (1, 2, 3)), baud=9_600),
        GW("GW2", tuple(M(u, balance_fen=10_000, load=1_000) for u in (1, 2, 3)), baud=9_600))


def _plan(gateway_id: int, meters: int) -> GatewayPlan:
    profile = get_profile("payfirst-prepaid-v1")
    return GatewayPlan(gateway_id, "127.0.0.1", 1, "modbus-tcp", [MeterPlan(
        meter_id=gateway_id * 10_000 + u, unit_id=u, profile=profile, due=True, desired="on", desired_reason="",
        keep_power=False, meter_mode=False, inferred_actual=None, power_limit_w=None, purchase_count=0,
        purchase_total_fen=0) for u in range(1, meters + 1)])


def _watch_buses(monkeypatch) -> list[Buses]:
    """The cycles' Buses from now on, in the order they start."""
    started: list[Buses] = []

    class Watched(Buses):
        def __enter__(self):
            started.append(self)
            return super().__enter__()

    monkeypatch.setattr("worker.poller.Buses", Watched)
    return started


def _bus_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "poll-buses"]


def _bus_children() -> list:
    return [p for p in multiprocessing.active_children() if p.name == "poll-buses"]


@pytest.mark.no_db
@pytest.mark.parametrize("bus_mode", ["thread"], indirect=True)  # the thresholds as they are
def test_a_farm_runs_its_buses_in_a_child_and_a_poll_job_on_a_thread():
    def child(plans: list[GatewayPlan]) -> bool:
        return Buses(plans, concurrency=10, timeout=1.0).child

    assert child([_plan(g, 59) for g in range(1, 171)])  # a whole farm, `poll --once`
    assert not child([_plan(1, 59)])  # the cron's poll job: one gateway
    assert not child([_plan(1, 1_000)])  # one bus, however long
    assert not child([_plan(1, 3), _plan(2, 3)])  # a few meters: the fork would cost more than it saves
    assert not Buses([_plan(g, 59) for g in range(1, 171)], concurrency=10, timeout=1.0, child=False).child


@pytest.mark.no_db
@pytest.mark.parametrize("bus_mode", ["thread"], indirect=True)  # the thresholds as they are
def test_the_plans_cross_into_the_child_whole():
    plans = [_plan(1, 3), _plan(2, 2)]
    back = pickle.loads(pickle.dumps(plans))
    assert back == plans
    assert back[0].meters[0].profile is get_profile("payfirst-prepaid-v1")  # by name, the very model


@pytest.mark.parametrize("bus_mode", ["child"], indirect=True)
def test_a_failure_in_the_child_is_raised_by_the_cycle_with_its_traceback(farm, monkeypatch):
    f = farm(*FARM)  # the child runs the real driver (no patch reaches it): its plans are made ones it refuses
    plan_for = poller.plan_for

    def refused(*args, **kwargs):
        plan = plan_for(*args, **kwargs)
        plan.protocol = "modbus-over-pigeon"
        return plan

    monkeypatch.setattr(poller, "plan_for", refused)
    with pytest.raises(ValueError, match="protocol must be one of") as raised:
        f.cycle()
    assert any("in the poll buses' process" in note and "GatewayClient" in note for note in raised.value.__notes__)
    assert _bus_threads() == [] and _bus_children() == []


@pytest.mark.parametrize("bus_mode", ["child"], indirect=True)
def test_a_child_that_dies_ends_the_cycle_with_a_clear_error(farm, monkeypatch):
    f = farm(*FARM)
    f.cycle()  # states exist (and the fork server runs): the next cycle is a plain one
    started = _watch_buses(monkeypatch)

    def kill_the_child() -> None:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            child = started[0]._process if started else None
            if child is not None and child.pid is not None:
                time.sleep(0.1)  # into its reads: a cycle of the two buses takes about half a second
                os.kill(child.pid, signal.SIGKILL)
                return
            time.sleep(0.005)

    killer = threading.Thread(target=kill_the_child)
    killer.start()
    try:
        with pytest.raises(RuntimeError, match=r"ended \(exit code -9\) before they were done"):
            f.cycle()
    finally:
        killer.join()
    assert _bus_threads() == [] and _bus_children() == []

    from portal.extensions import db

    db.session.rollback()
    stats = f.cycle()  # and the next cycle runs normally
    assert (stats.read, stats.missed) == (6, 0)


class Refusal(Exception):
    """An exception whose constructor takes other arguments than its message: it cannot be rebuilt from a pickle."""

    def __init__(self, code: int, why: str):
        super().__init__(f"{why} (code {code})")


@pytest.mark.no_db
@pytest.mark.parametrize("bus_mode", ["thread"], indirect=True)  # the thresholds as they are
def test_an_exception_that_cannot_cross_is_sent_as_its_text():
    kind, exc = pickle.loads(buses._error(Refusal(2, "illegal address"), "Traceback (most recent call last): ..."))
    assert kind == "error" and type(exc) is RuntimeError
    assert "Refusal: illegal address (code 2)" in str(exc) and "Traceback (most recent call last)" in str(exc)

    kind, exc = pickle.loads(buses._error(ValueError("driver bug"), "Traceback ..."))
    assert type(exc) is ValueError and str(exc) == "driver bug" and "Traceback ..." in exc.__notes__[-1]


@pytest.mark.no_db
@pytest.mark.parametrize("bus_mode", ["thread"], indirect=True)  # Buses made here, told to use a child
def test_plans_that_cannot_cross_end_the_cycle_at_once():
    plans = [_plan(1, 2), _plan(2, 2)]
    plans[0].host = lambda: "nowhere"  # no pickle holds a lambda
    cannot = (pickle.PicklingError, AttributeError)  # AttributeError: a local object
    with Buses(plans, concurrency=2, timeout=0.5, child=True) as buses, pytest.raises(cannot):
        list(buses.events())
    assert _bus_threads() == [] and _bus_children() == []


@pytest.mark.parametrize("bus_mode", ["child"], indirect=True)
def test_the_first_buses_answer_while_the_rest_load(farm, monkeypatch):
    """A cycle of many buses loads its meters a part at a time and hands each part to the child at once: the first
    part's meters answer before the next part is loaded (not after the whole farm is)."""
    f = farm(*FARM)
    f.cycle()  # states exist (and the fork server runs)
    monkeypatch.setattr(poller, "LOAD_FIRST", 1)  # a part for each gateway
    monkeypatch.setattr(poller, "LOAD_GROWTH", 1)
    started = _watch_buses(monkeypatch)
    load = poller.load_meters
    answered_before: list[bool] = []

    def load_meters(session, group) -> None:
        if started and started[0].plans:  # a part went to the child already: its meters answer meanwhile
            deadline = time.monotonic() + 5
            while started[0]._events.empty() and time.monotonic() < deadline:
                time.sleep(0.01)
            answered_before.append(not started[0]._events.empty())
        load(session, group)

    monkeypatch.setattr(poller, "load_meters", load_meters)
    stats = f.cycle()
    assert answered_before == [True]
    assert (stats.read, stats.missed) == (6, 0)


@pytest.mark.no_db
@pytest.mark.parametrize("bus_mode", ["thread"], indirect=True)  # the thresholds as they are
def test_a_farm_loads_in_growing_parts():
    def parts(*counts: int) -> list[int]:
        gateways = [GatewayRow(i, f"G{i}", 1, "127.0.0.1", 1, "modbus-tcp", True, 0, None, n)
                    for i, n in enumerate(counts, 1)]
        return [len(group) for group in poller._loading_parts(gateways)]

    assert parts(*[59] * 170) == [17, 68, 85]  # 1,003 meters, 4,012, the other 5,015
    assert parts(59) == [1]  # a poll job's gateway
    assert parts(1_500, 3, 3) == [1, 2]  # a first part of at least LOAD_FIRST meters, however few gateways
    assert parts() == []


def test_the_buses_run_on_libuvs_event_loop():
    """Both ways of running the buses (`Buses._run` on a thread, `_child` in a process) go through `run_buses`, on
    uvloop's loop (a pinned dependency): a Modbus request costs a fifth less CPU there than on asyncio's own."""
    import asyncio

    async def loop_class() -> str:
        return type(asyncio.get_running_loop()).__module__

    assert buses.run_buses(loop_class()).startswith("uvloop")


def test_a_part_of_the_plans_that_arrives_in_pieces_reaches_the_childs_buses():
    """uvloop makes a descriptor it watches non-blocking, so a part of the plans larger than the pipe's buffer, read
    on the loop as its first bytes came, failed halfway and ended the child's buses as if the parent had gone (a
    bench run's cycle then broke its pipe sending the next part). The child reads its parent on a thread of its own."""
    import gc
    import socket
    import struct

    with socket.socket() as probe:  # a port nobody listens on: each bus ends at once, its gateway down
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    plans = [GatewayPlan(g.gateway_id, "127.0.0.1", port, "modbus-tcp", g.meters) for g in map(_plan, range(1, 41),
                                                                                                [60] * 40)]
    ours, theirs = multiprocessing.Pipe()
    collecting = gc.isenabled()
    child = threading.Thread(target=buses._child, args=(theirs, 50, 0.2), daemon=True)
    child.start()
    try:
        data = pickle.dumps(("plans", plans), pickle.HIGHEST_PROTOCOL)
        message, half = struct.pack("!i", len(data)) + data, len(data) // 2  # multiprocessing's framing
        for piece in (message[:half], message[half:]):
            time.sleep(0.2)  # the child wakes on the first piece, and the second is not there yet
            view = memoryview(piece)
            while view:
                view = view[os.write(ours.fileno(), view):]
        ours.send_bytes(pickle.dumps(("planned", None)))
        done, ended = set(), None
        while ended is None:
            assert ours.poll(10), "the child's buses never ended"
            kind, body = pickle.loads(ours.recv_bytes())
            assert kind != "error", body
            if kind == "events":
                done |= {item[1] for item in body if item[0] == "done"}
            else:
                ended = kind
        assert done == set(range(1, 41))  # every bus of the part ran; none was cancelled
    finally:
        ours.send_bytes(buses.STOP)
        child.join(10)
        if collecting:
            gc.enable()
    assert not child.is_alive()
