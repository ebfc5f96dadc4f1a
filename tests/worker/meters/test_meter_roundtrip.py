"""Property tests: integer encodings survive the round trip, and no register content crashes."""

import struct
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from worker.meters import PROFILES, DecodeError, decode, encode, get_profile, set_power_limit, set_price, write_purchase
from worker.meters.codec import _round, pack
from worker.meters.profiles import Profile, Reg

PREPAID = get_profile("payfirst-prepaid-v1")
DTSU = get_profile("chint-dtsu666")
words = st.integers(0, 0xFFFF)


def by_hand(kind, value):
    """Registers of `kind`, high word first, two's complement: METERS.md's rule, spelt out."""
    if kind in ("u16", "i16"):
        return [value % 0x10000]
    value %= 0x100000000
    return [value // 0x10000, value % 0x10000]


RANGES = {"u16": (0, 0xFFFF), "i16": (-0x8000, 0x7FFF), "u32": (0, 0xFFFFFFFF),
          "i32": (-0x80000000, 0x7FFFFFFF)}


@pytest.mark.parametrize("kind", sorted(RANGES))
@given(data=st.data())
def test_pack_matches_the_documented_word_layout(kind, data):
    value = data.draw(st.integers(*RANGES[kind]))
    assert list(pack(kind, value)) == by_hand(kind, value)


@pytest.mark.parametrize("kind", sorted(RANGES))
@pytest.mark.parametrize("order", ["big", "little"])
@given(data=st.data())
def test_every_integer_type_and_word_order_decodes_what_was_packed(kind, order, data):
    value = data.draw(st.integers(*RANGES[kind]))
    profile = Profile("probe", "electric", (Reg(0x10, "energy_total", kind, word_order=order),),
                      (), {}, PREPAID.caps)
    assert decode(profile, {0x10: list(pack(kind, value, order))}).energy_total == value


def _integer_regs():
    for profile in PROFILES.values():
        for reg in profile.registers:
            if reg.type != "f32" and reg.codes is None:
                yield pytest.param(profile, reg, id=f"{profile.name}:{reg.address:04X}")


@pytest.mark.parametrize("profile, reg", list(_integer_regs()))
@given(data=st.data())
def test_every_integer_register_round_trips_within_its_plausible_range(profile, reg, data):
    lo, hi = RANGES[reg.type]
    lo = max(lo * reg.mul, reg.lo if reg.lo is not None else lo * reg.mul)
    hi = min(hi * reg.mul, reg.hi if reg.hi is not None else hi * reg.mul)
    value = data.draw(st.integers(lo // reg.mul, hi // reg.mul)) * reg.mul
    regs = [0] * reg.width
    regs[:] = by_hand(reg.type, value // reg.mul)
    reading = decode(profile, {reg.address: regs})
    got = getattr(reading, reg.field) if reg.index is None else None
    if reg.index is not None:  # a lone TOU register does not make a tuple
        assert reading.energy_tou is None
    else:
        assert got == value


@given(remaining=st.integers(-1_000_000_000, 1_000_000_000), count=st.integers(0, 0xFFFF),
       total=st.integers(0, 2_000_000_000), supply=st.sampled_from([0, 1]),
       trip=st.sampled_from([0, 1, 2, 3]), keep=st.sampled_from([0, 1]))
def test_prepaid_block_round_trips(remaining, count, total, supply, trip, keep):
    block = [*by_hand("i32", remaining), count, *by_hand("u32", total), supply, trip, keep, 0]
    r = decode(PREPAID, {0x0100: block})
    assert (r.remaining_fen, r.purchase_count, r.purchase_total_fen) == (remaining, count, total)
    assert r.supply == ("on", "off")[supply]
    assert r.trip_reason == ("none", "arrears", "remote", "over_power")[trip]
    assert r.keep_power is bool(keep)


@given(w=st.integers(0, 0xFFFF).map(lambda x: x * 10))
def test_power_limit_written_is_power_limit_read(w):
    write = encode(PREPAID, set_power_limit(w))
    assert decode(PREPAID, {write.address: list(write.registers)}).power_limit_w == w


@given(price=st.integers(0, 100_000_000))
def test_price_written_is_price_read(price):
    write = encode(PREPAID, set_price(price))
    assert decode(PREPAID, {write.address: list(write.registers)}).price_e4 == price


@given(amount=st.integers(1, 0xFFFFFFFF), count=st.integers(1, 0xFFFF))
def test_purchase_registers_carry_amount_and_count(amount, count):
    regs = encode(PREPAID, write_purchase(amount, count)).registers
    assert regs == (amount >> 16, amount & 0xFFFF, count)


def f32(x):
    return list(struct.unpack(">HH", struct.pack(">f", x)))


@given(v=st.integers(0, 10_000), i=st.integers(0, 1_000_000), p=st.integers(-1_000_000, 1_000_000),
       e=st.integers(0, 6_553_500))
def test_dtsu666_platform_integers_survive_float32(v, i, p, e):
    # a meter holding exactly v × 0.1 V, i × 0.01 A, p W and e × 0.01 kWh (below 65 536 kWh,
    # where float32 still resolves 0.005 kWh)
    hi = [0] * 0x40
    hi[0:2], hi[6:8], hi[12:14] = f32(v), f32(i * 10), f32(p * 10)
    lo = [0] * 12
    lo[0:2] = f32(e / 100)
    r = decode(DTSU, {0x2006: hi, 0x101E: lo})
    assert (r.voltage, r.current, r.power_w, r.energy_total) == (v, i, p, e)


@pytest.mark.parametrize("profile", PROFILES.values(), ids=list(PROFILES))
@settings(max_examples=200)
@given(data=st.data())
def test_any_register_content_decodes_or_is_garbage_never_crashes(profile, data):
    blocks = {b.start: data.draw(st.lists(words, min_size=b.count, max_size=b.count))
              for b in profile.blocks}
    try:
        decode(profile, blocks)
    except DecodeError:
        pass


def exact_half_away(x, mul, div):
    """Round x × mul / div computed in exact rationals: the reference for the codec."""
    q = Fraction(x) * mul / div
    n = (abs(q) + Fraction(1, 2)).__floor__()
    return n if q >= 0 else -n


@pytest.mark.parametrize("mul, div", [(1, 1), (1, 10), (100, 1)])  # the DTSU666 scales
@given(x=st.floats(width=32, allow_nan=False, allow_infinity=False, min_value=-1e7,
                   max_value=1e7))
def test_float_rounding_is_exact_half_away_from_zero(mul, div, x):
    assert _round(x * mul / div) == exact_half_away(x, mul, div)
