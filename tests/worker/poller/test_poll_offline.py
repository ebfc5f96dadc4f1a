"""Communication alarms: a silent meter after N missed polls, a dead gateway once (not once per meter)."""
from __future__ import annotations

from portal.metering.cycle import GATEWAY_OFFLINE_AFTER, METER_OFFLINE_AFTER, PROBE_EVERY
from portal.models import AlarmKind
from tests.worker.poller.farm import GW, M

#: a silent meter costs one timeout per read: keep it short (healthy meters answer in milliseconds)
SHORT = 0.5
FARM = (GW("GW1", (M(1, load=1_000), M(2, load=1_000), M(3, load=1_000))),)


def _silence(f, cycles: int) -> None:
    f.sim_meter("GW1", 2).set_fault("silent")
    for _ in range(cycles):
        f.cycle(timeout=SHORT)


def test_silent_meter_raises_no_alarm_before_n_missed_polls(farm):
    f = farm(*FARM)
    _silence(f, METER_OFFLINE_AFTER - 1)

    assert f.alarms(AlarmKind.METER_OFFLINE) == []
    assert f.meter("GW1", 2).state.missed_polls == METER_OFFLINE_AFTER - 1


def test_silent_meter_raises_meter_offline_after_n_missed_polls(farm):
    f = farm(*FARM)
    _silence(f, METER_OFFLINE_AFTER)

    [alarm] = f.alarms(AlarmKind.METER_OFFLINE)
    assert alarm.meter_id == f.meter("GW1", 2).id
    assert f.meter("GW1", 2).state.online is False


def test_silent_meter_does_not_stop_its_neighbours_being_read(farm):
    f = farm(*FARM)
    _silence(f, METER_OFFLINE_AFTER)

    for unit in (1, 3):
        st = f.meter("GW1", unit).state
        assert (st.online, st.last_seen_at) == (True, f.now)
    assert f.alarms(AlarmKind.GATEWAY_OFFLINE) == []


def test_meter_offline_alarm_clears_when_the_meter_answers_its_probe(farm):
    f = farm(*FARM)
    _silence(f, METER_OFFLINE_AFTER)

    f.sim_meter("GW1", 2).set_fault(None)
    for _ in range(PROBE_EVERY):  # skipped until its probe comes round, then read
        f.cycle(timeout=SHORT)

    assert f.alarms(AlarmKind.METER_OFFLINE) == []
    assert len(f.alarms(AlarmKind.METER_OFFLINE, open_only=False)) == 1
    st = f.meter("GW1", 2).state
    assert (st.online, st.missed_polls, st.energy_total) == (True, 0, f.snapshot("GW1", 2)["energy_total"])


def test_dead_gateway_raises_one_gateway_alarm_and_no_meter_alarms(farm):
    f = farm(*FARM)
    f.cycle()
    f.set_down("GW1")
    for _ in range(GATEWAY_OFFLINE_AFTER):
        f.cycle()

    [alarm] = f.alarms(AlarmKind.GATEWAY_OFFLINE)
    assert alarm.gateway_id == f.gateway_ids["GW1"]
    assert f.alarms(AlarmKind.METER_OFFLINE) == []
    assert f.gateway("GW1").online is False


def test_dead_gateway_stays_offline_while_its_meters_would_be_skipped(farm):
    f = farm(*FARM)
    f.cycle()
    f.set_down("GW1")
    for _ in range(GATEWAY_OFFLINE_AFTER):
        f.cycle()
    for _ in range(METER_OFFLINE_AFTER + PROBE_EVERY):
        f.cycle()
        assert f.gateway("GW1").online is False
        assert len(f.alarms(AlarmKind.GATEWAY_OFFLINE)) == 1

    assert len(f.alarms(AlarmKind.GATEWAY_OFFLINE, open_only=False)) == 1
    assert f.alarms(AlarmKind.METER_OFFLINE) == []


def test_gateway_offline_alarm_clears_and_its_meters_are_read_when_it_returns(farm):
    f = farm(*FARM)
    f.cycle()
    f.set_down("GW1")
    for _ in range(METER_OFFLINE_AFTER + 1):
        f.cycle()

    f.set_down("GW1", False)
    stats = f.cycle()

    assert f.alarms(AlarmKind.GATEWAY_OFFLINE) == []
    assert f.gateway("GW1").online is True
    assert stats.read == 3
    assert all(f.meter("GW1", u).state.last_seen_at == f.now for u in (1, 2, 3))


def test_gateway_whose_bus_answers_nothing_raises_one_gateway_alarm(farm):
    # the TCP side is up but the RS485 line is cut: every meter silent at once
    f = farm(GW("GW1", tuple(M(u, load=1_000) for u in (1, 2, 3, 4))))
    f.cycle()
    f.sim.gateway("GW1").set_fault("silent")
    for _ in range(METER_OFFLINE_AFTER):
        f.cycle(timeout=0.1)  # nothing answers in these cycles, so no answer can be late

    assert len(f.alarms(AlarmKind.GATEWAY_OFFLINE)) == 1
    assert f.alarms(AlarmKind.METER_OFFLINE) == []
    assert f.gateway("GW1").online is False

