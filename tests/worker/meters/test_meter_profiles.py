"""The profile tables: every map of METERS.md is there, readable in few requests, and honest."""

import pytest

from worker.meters import PROFILES, Unsupported, get_profile
from worker.meters.profiles import Capabilities

CAPS = {  # the table the README shows; changing a profile's powers must change this too
    "acrel-ddsy1352": Capabilities(relay=True, tou=True),
    "payfirst-prepaid-v1": Capabilities(
        relay=True, supply_readable=True, internal_balance=True, purchase_count=True,
        tou=True, power_limit=True, keep_power=True, control_mode=True),
    "payfirst-water-v1": Capabilities(
        valve=True, supply_readable=True, internal_balance=True, purchase_count=True,
        keep_power=True, control_mode=True),
    "chint-dtsu666": Capabilities(),
}


def test_every_documented_profile_exists():
    assert set(PROFILES) == set(CAPS)


def test_unknown_profile_is_unsupported():
    with pytest.raises(Unsupported):
        get_profile("acme-9000")


@pytest.mark.parametrize("name", sorted(CAPS))
def test_capabilities_are_as_declared(name):
    assert get_profile(name).caps == CAPS[name]


@pytest.mark.parametrize("name, requests", [
    ("acrel-ddsy1352", 1), ("payfirst-prepaid-v1", 2), ("payfirst-water-v1", 2),
    ("chint-dtsu666", 2)])
def test_a_poll_needs_as_few_requests_as_the_map_allows(name, requests):
    assert len(get_profile(name).poll_blocks()) == requests


def test_payfirst_reads_measurement_and_prepaid_blocks():
    blocks = [(b.start, b.count) for b in get_profile("payfirst-prepaid-v1").poll_blocks()]
    assert blocks == [(0x0000, 0x11), (0x0100, 9)]  # 0000H-0010H and 0100H-0108H


@pytest.mark.parametrize("profile", PROFILES.values(), ids=list(PROFILES))
def test_every_register_lies_whole_inside_one_block(profile):
    for reg in profile.registers:
        inside = [b for b in profile.blocks
                  if b.start <= reg.address and reg.address + reg.width <= b.start + b.count]
        assert len(inside) == 1, reg
    for block in profile.blocks:
        assert 1 <= block.count <= 125  # function 03 limit


@pytest.mark.parametrize("profile", PROFILES.values(), ids=list(PROFILES))
def test_capabilities_match_the_tables(profile):
    caps, writes = profile.caps, profile.writes
    fields = {r.field for r in profile.registers}
    assert (caps.relay or caps.valve) == ("set_supply" in writes)
    assert caps.supply_readable == ("supply" in fields)
    assert caps.keep_power == ("set_keep_power" in writes)
    assert caps.purchase_count == ("write_purchase" in writes) == ("purchase_count" in fields)
    assert caps.internal_balance == ("remaining_fen" in fields)
    assert caps.power_limit == ("set_power_limit" in writes)
    assert caps.tou == ("energy_tou" in fields)
    assert caps.control_mode == ("set_control_mode" in writes)


@pytest.mark.parametrize("profile", PROFILES.values(), ids=list(PROFILES))
def test_every_confirmable_write_can_be_read_back(profile):
    for spec in profile.writes.values():
        if spec.confirm:
            assert profile.block_for(spec.confirm)


def test_acrel_supply_is_inferred_not_read():
    acrel = get_profile("acrel-ddsy1352")
    assert not acrel.caps.supply_readable
    assert acrel.writes["set_supply"].confirm is None


def test_tight_blocks_skip_undocumented_gaps():
    dtsu = get_profile("chint-dtsu666")
    tight = [(b.start, b.count) for b in dtsu.tight_blocks(dtsu.blocks[0])]
    assert tight == [(0x2006, 14), (0x202A, 2), (0x2044, 2)]
