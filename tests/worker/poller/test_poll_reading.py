"""Every profile, over both transports, read end to end: the stored state is what the meter shows."""
from __future__ import annotations

import pytest

from tests.worker.poller.farm import GW, M

PROFILES = ("payfirst-prepaid-v1", "payfirst-water-v1", "acrel-ddsy1352", "chint-dtsu666")
#: profiles with the prepaid block run in meter mode here, so their own balance is read too
METER_MODE = {"payfirst-prepaid-v1", "payfirst-water-v1"}


def _meter(profile: str) -> M:
    if profile == "chint-dtsu666":
        return M(1, profile, balance_fen=None, load=5_000)
    if profile in METER_MODE:
        return M(1, profile, control_mode="meter", balance_fen=8_000, remaining_fen=8_000,
                 load=400 if profile == "payfirst-water-v1" else 1_800)
    return M(1, profile, load=1_800)


def _expected(profile: str, snap: dict) -> dict:
    """The MeterState fields the snapshot implies for this profile."""
    exp = {"online": True, "energy_total": snap["energy_total"]}
    if profile != "payfirst-water-v1":
        exp.update(power_w=snap["power_w"], pf_milli=snap["pf"])
    if profile in ("payfirst-prepaid-v1", "acrel-ddsy1352"):
        exp.update(energy_tou=list(snap["energy_tou"]), voltage_dv=snap["voltage"], current_ca=snap["current"])
    if profile == "chint-dtsu666":  # three-phase: the common fields carry phase A
        exp.update(voltage_dv=snap["phase_voltage"][0], current_ca=round(snap["phase_current_ma"][0] / 10))
    if profile in METER_MODE:
        exp.update(supply_actual=snap["supply"], supply_inferred=False, trip_reason=snap["trip_reason"],
                   keep_power_actual=snap["keep_power"], remaining_fen=snap["remaining_fen"],
                   purchase_count=snap["purchase_count"], purchase_total_fen=snap["purchase_total_fen"])
    if profile == "acrel-ddsy1352":  # no readable relay: the state is that of the last acknowledged command
        exp.update(supply_actual=snap["supply"], supply_inferred=True)
    if profile == "chint-dtsu666":
        exp.update(supply_actual=None)  # no relay
    return exp


@pytest.mark.parametrize("protocol", ["modbus-tcp", "rtu-over-tcp"])
@pytest.mark.parametrize("profile", PROFILES)
def test_meter_state_equals_what_the_simulated_meter_shows(farm, profile, protocol):
    f = farm(GW("GW1", (_meter(profile),), protocol=protocol))
    f.clock.advance(40 * 60)  # something on the registers before the first read

    stats = f.cycle(0)

    snap = f.snapshot("GW1", 1)
    expected = _expected(profile, snap)
    st = f.meter("GW1", 1).state
    assert {name: getattr(st, name) for name in expected} == expected
    assert snap["energy_total"] > 0
    assert (stats.read, stats.missed) == (1, 0)
