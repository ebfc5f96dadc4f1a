"""The buses run on their own thread while the cycle records: failures on either side end both cleanly."""
from __future__ import annotations

import gc
import sys
import threading

import pytest

from portal.metering.cycle import CycleRecorder
from tests.worker.poller.farm import GW, M

#: 9600 baud: a bus of six meters takes about half a second, so the failure lands mid-cycle
FARM = GW("GW1", tuple(M(u, balance_fen=10_000, load=1_000) for u in range(1, 7)), baud=9_600)


def _bus_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "poll-buses"]


def test_a_recording_failure_stops_the_buses_and_restores_the_interpreter(farm, monkeypatch):
    f = farm(FARM)
    switch, collecting = sys.getswitchinterval(), gc.isenabled()
    seen = []

    def fail_on_second(self, obs):
        seen.append(obs.meter_id)
        if len(seen) == 2:
            raise RuntimeError("recording failed")

    monkeypatch.setattr(CycleRecorder, "reading", fail_on_second)
    with pytest.raises(RuntimeError, match="recording failed"):
        f.cycle()

    assert _bus_threads() == []  # cancelled and joined, not left talking on the bus
    assert len(seen) == 2  # the other four meters were never recorded
    assert (sys.getswitchinterval(), gc.isenabled()) == (switch, collecting)


@pytest.mark.parametrize("bus_mode", ["thread"], indirect=True)  # the patch reaches the buses on a thread only
def test_a_failure_on_the_bus_thread_is_raised_by_the_cycle(farm, monkeypatch):
    f = farm(FARM)

    async def broken(*args, **kwargs):
        raise ValueError("driver bug")

    monkeypatch.setattr("worker.buses.poll_and_reconcile", broken)
    with pytest.raises(ValueError, match="driver bug"):
        f.cycle()
    assert _bus_threads() == []


def test_cycles_after_a_failure_run_normally(farm, monkeypatch):
    f = farm(FARM)
    with monkeypatch.context() as m:
        m.setattr(CycleRecorder, "reading", lambda self, obs: 1 / 0)
        with pytest.raises(ZeroDivisionError):
            f.cycle()
    from portal.extensions import db

    db.session.rollback()
    stats = f.cycle()
    assert (stats.read, stats.missed) == (6, 0)
    assert all(f.meter("GW1", u).state.online for u in range(1, 7))


def test_a_job_timeout_interrupts_the_cycle_and_stops_the_buses(farm):
    """RQ ends an overdue job with SIGALRM in the job's thread: the cycle must not leave its buses running."""
    import signal

    f = farm(FARM)

    class JobTimeout(Exception):
        pass

    def overdue(signum, frame):
        raise JobTimeout()

    previous = signal.signal(signal.SIGALRM, overdue)
    signal.setitimer(signal.ITIMER_REAL, 0.3)  # the bus of six meters at 9600 baud takes about 0.8 s
    try:
        with pytest.raises(JobTimeout):
            f.cycle()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert _bus_threads() == []
