"""Decoding METERS.md's registers into platform units, rejecting garbage, encoding commands.

Raw registers are built by hand here, word by word, from the tables in METERS.md.
"""

import struct

import pytest

from worker.meters import (
    DecodeError,
    Unsupported,
    decode,
    decode_fields,
    encode,
    get_profile,
    set_control_mode,
    set_keep_power,
    set_power_limit,
    set_price,
    set_supply,
    write_purchase,
)

ACREL = get_profile("acrel-ddsy1352")
PREPAID = get_profile("payfirst-prepaid-v1")
WATER = get_profile("payfirst-water-v1")
DTSU = get_profile("chint-dtsu666")


def f32(x):
    """A float32 as two registers, high word first."""
    return list(struct.unpack(">HH", struct.pack(">f", x)))


# 0000H-0010H: energy 12345.67 kWh; TOU 100.00/200.00/300.00/634.56 kWh; access code 1234;
# 220.5 V; 5.12 A; -1.234 kW (exporting); 000EH undocumented; 1.300 kVA; pf -0.950
MEASUREMENT = [0x0012, 0xD687, 0x0000, 0x2710, 0x0000, 0x4E20, 0x0000, 0x7530, 0x0000, 0xF7E0,
               1234, 2205, 512, 0xFB2E, 0x0000, 1300, 0xFC4A]
# 0100H-0108H: remaining -12.34 yuan; 7 purchases; 500.00 yuan bought; relay open (off),
# tripped for arrears, no keep-power, meter mode
PREPAID_BLOCK = [0xFFFF, 0xFB2E, 7, 0x0000, 0xC350, 1, 1, 0, 1]


def test_acrel_measurement_block():
    r = decode(ACREL, {0x0000: MEASUREMENT})
    assert r.energy_total == 1_234_567
    assert r.energy_tou == (10_000, 20_000, 30_000, 63_456)
    assert (r.voltage, r.current, r.power_w, r.apparent_va, r.pf) == (2205, 512, -1234, 1300, -950)
    assert r.supply is None and r.remaining_fen is None  # not readable on this model


def test_decode_fields_are_the_readings_fields_without_its_nones():
    for profile, blocks in ((PREPAID, {0x0000: MEASUREMENT, 0x0100: PREPAID_BLOCK}), (ACREL, {0x0000: MEASUREMENT})):
        reading = decode(profile, blocks)
        fields = decode_fields(profile, blocks)
        assert fields == {name: value for name in reading.__slots__ if (value := getattr(reading, name)) is not None}
        assert fields["energy_tou"] == (10_000, 20_000, 30_000, 63_456) and "flow_lph" not in fields


def test_decode_fields_rejects_garbage_as_decode_does():
    with pytest.raises(DecodeError, match="not plausible"):
        decode_fields(ACREL, {0x0000: [0xFFFF, 0xFFFF, *MEASUREMENT[2:]]})


def test_prepaid_blocks():
    r = decode(PREPAID, {0x0000: MEASUREMENT, 0x0100: PREPAID_BLOCK})
    assert r.energy_total == 1_234_567
    assert r.remaining_fen == -1234
    assert (r.purchase_count, r.purchase_total_fen) == (7, 50_000)
    assert (r.supply, r.trip_reason) == ("off", "arrears")
    assert (r.keep_power, r.control_mode) == (False, "meter")


def test_prepaid_optional_blocks():
    r = decode(PREPAID, {0x0130: [550], 0x0140: [0x0001, 0x86A0]})
    assert r.power_limit_w == 5500  # 0.01 kW steps
    assert r.price_e4 == 100_000  # 10.0000 yuan per kWh
    assert r.energy_total is None


def test_prepaid_supply_on_with_keep_power():
    block = [0x0000, 0x2710, 3, 0x0000, 0x7530, 0, 0, 1, 0]
    r = decode(PREPAID, {0x0100: block})
    assert (r.remaining_fen, r.supply, r.trip_reason, r.keep_power, r.control_mode) == (
        10_000, "on", "none", True, "platform")


@pytest.mark.parametrize("code, reason", [
    (0, "none"), (1, "arrears"), (2, "remote"), (3, "over_power")])
def test_trip_reasons(code, reason):
    block = [*PREPAID_BLOCK[:6], code, *PREPAID_BLOCK[7:]]
    assert decode(PREPAID, {0x0100: block}).trip_reason == reason


def test_water_volume_in_litres_and_valve():
    r = decode(WATER, {0x0000: [0x0001, 0x0000, 360], 0x0100: [0, 500, 1, 0, 1000, 0, 0, 0, 1]})
    assert (r.energy_total, r.flow_lph) == (65_536, 360)
    assert (r.supply, r.remaining_fen) == ("on", 500)
    assert r.energy_tou is None and r.voltage is None


def dtsu_blocks(ua=2301.0, ub=2299.0, uc=2305.0, ia=5123.0, ib=4000.0, ic=0.0, p=12346.0,
                pf=980.0, hz=5000.0, imp=1234.56, exp=0.0):
    """The two DTSU666 blocks; floats carry the table's scale (×0.1 V, ×0.001 A, ×0.1 W...)."""
    hi = [0] * 0x40
    for addr, x in ((0x2006, ua), (0x2008, ub), (0x200A, uc), (0x200C, ia), (0x200E, ib),
                    (0x2010, ic), (0x2012, p), (0x202A, pf), (0x2044, hz)):
        hi[addr - 0x2006:addr - 0x2006 + 2] = f32(x)
    lo = [0] * 12
    lo[0:2], lo[10:12] = f32(imp), f32(exp)
    return {0x2006: hi, 0x101E: lo}


def test_dtsu666_floats_become_platform_integers():
    r = decode(DTSU, dtsu_blocks())
    assert r.voltage_phases == (2301, 2299, 2305)  # 0.1 V
    assert r.current_phases == (512, 400, 0)  # 5.123 A -> 512 × 0.01 A
    assert (r.voltage, r.current) == (2301, 512)  # phase A
    assert r.power_w == 1235  # 1234.6 W rounds up
    assert (r.pf, r.frequency) == (980, 5000)
    assert (r.energy_total, r.energy_export) == (123_456, 0)


def test_dtsu666_rounds_to_nearest_not_down():
    r = decode(DTSU, dtsu_blocks(ia=5126.0, p=-987.6, imp=0.015625))
    assert r.current == 513  # 5.126 A
    assert r.power_w == -99  # -98.76 W
    assert r.energy_total == 2  # 0.015625 kWh -> 1.5625 -> 2


def test_dtsu666_halves_round_away_from_zero():
    r = decode(DTSU, dtsu_blocks(ia=1985.0, ib=1975.0, p=-12345.0, imp=0.125))
    assert r.current_phases[:2] == (199, 198)  # 1.985 A, 1.975 A: 四舍五入, not to even
    assert r.power_w == -1235  # -1234.5 W
    assert r.energy_total == 13  # 12.5 × 0.01 kWh


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_dtsu666_nan_and_inf_are_garbage(bad):
    with pytest.raises(DecodeError):
        decode(DTSU, dtsu_blocks(ua=bad))


@pytest.mark.parametrize("kwargs", [dict(ia=-50.0), dict(pf=1500.0), dict(imp=-1.0),
                                    dict(p=3.0e38), dict(ua=2.0e5)])
def test_dtsu666_implausible_values_are_garbage(kwargs):
    with pytest.raises(DecodeError):
        decode(DTSU, dtsu_blocks(**kwargs))


@pytest.mark.parametrize("offset, value", [
    (11, 0xFFFF),  # voltage 6553.5 V
    (12, 0xFFFF),  # current 655.35 A
    (16, 0x7FFF),  # power factor 32.767
    (13, 0x8000),  # -32.768 kW
])
def test_acrel_implausible_words_are_garbage(offset, value):
    regs = list(MEASUREMENT)
    regs[offset] = value
    with pytest.raises(DecodeError):
        decode(ACREL, {0: regs})


def test_all_ones_energy_is_garbage():
    with pytest.raises(DecodeError):
        decode(ACREL, {0: [65535, 65535, *MEASUREMENT[2:]]})


@pytest.mark.parametrize("offset, value", [(5, 2), (6, 9), (7, 0xFFFF), (8, 7)])
def test_unknown_status_codes_are_garbage(offset, value):
    block = list(PREPAID_BLOCK)
    block[offset] = value
    with pytest.raises(DecodeError):
        decode(PREPAID, {0x0100: block})


def test_remaining_beyond_any_balance_is_garbage():
    with pytest.raises(DecodeError):
        decode(PREPAID, {0x0100: [32768, 0, *PREPAID_BLOCK[2:]]})


# -- commands -----------------------------------------------------------------------------

@pytest.mark.parametrize("profile", [PREPAID, WATER], ids=["prepaid", "water"])
def test_supply_commands_are_55_and_aa(profile):
    on, off = encode(profile, set_supply("on")), encode(profile, set_supply("off"))
    assert (on.address, on.registers, on.confirm, on.expect) == (0x0120, (0x55,), "supply", "on")
    assert (off.address, off.registers, off.expect) == (0x0120, (0xAA,), "off")


def test_acrel_relay_is_two_registers_at_0057h():
    trip, close = encode(ACREL, set_supply("off")), encode(ACREL, set_supply("on"))
    assert (trip.address, trip.registers) == (0x0057, (0x0001, 0x0001))
    assert (close.address, close.registers) == (0x0057, (0x0001, 0x0000))
    assert trip.confirm is None  # the state is inferred from the acknowledged command


def test_purchase_is_three_registers_amount_then_count():
    w = encode(PREPAID, write_purchase(123_456, 8))
    assert (w.address, w.registers) == (0x0110, (0x0001, 0xE240, 8))
    assert (w.confirm, w.expect) == ("purchase_count", 8)


def wire(profile, command):
    """(address, registers) of the function-16 write."""
    w = encode(profile, command)
    return w.address, w.registers


def test_keep_power_price_limit_and_mode():
    assert wire(PREPAID, set_keep_power(True)) == (0x0121, (1,))
    assert wire(WATER, set_keep_power(False)) == (0x0121, (0,))
    assert wire(PREPAID, set_power_limit(5500)) == (0x0130, (550,))
    assert wire(WATER, set_price(35_000)) == (0x0140, (0x0000, 35_000))
    assert wire(PREPAID, set_control_mode("meter")) == (0x0108, (1,))


@pytest.mark.parametrize("profile, command", [
    (ACREL, write_purchase(100, 1)), (ACREL, set_keep_power(True)), (ACREL, set_price(1)),
    (WATER, set_power_limit(1000)), (DTSU, set_supply("off")), (DTSU, set_price(1))])
def test_commands_a_model_lacks_are_unsupported(profile, command):
    with pytest.raises(Unsupported):
        encode(profile, command)


def test_power_limit_must_fit_the_register_resolution():
    with pytest.raises(ValueError):
        encode(PREPAID, set_power_limit(5505))  # 0.01 kW steps
    with pytest.raises(ValueError):
        encode(PREPAID, set_power_limit(700_000))  # beyond UINT16


@pytest.mark.parametrize("make", [
    lambda: set_supply("open"), lambda: write_purchase(0, 1), lambda: write_purchase(100, 0),
    lambda: set_control_mode("auto"), lambda: set_price(-1)])
def test_bad_command_arguments_are_refused(make):
    with pytest.raises(ValueError):
        make()


def test_purchase_amount_and_count_must_fit_their_registers():
    with pytest.raises(ValueError):
        encode(PREPAID, write_purchase(2**32, 1))
    with pytest.raises(ValueError):
        encode(PREPAID, write_purchase(100, 65_536))
    with pytest.raises(TypeError):
        write_purchase(True, 1)
