"""Day curves, TOU periods and deterministic noise for simulated consumption.

All times are Asia/Shanghai local time. China has kept UTC+8 without summer
time since 1991, so a fixed offset is exact and needs no tz database.

Fixed TOU periods (one hour granularity, kept simple on purpose):

    valley 谷  23:00-07:00
    flat   平  07:00-08:00, 11:00-18:00
    peak   峰  08:00-11:00, 18:00-19:00, 21:00-23:00
    sharp  尖  19:00-21:00

Shop day curve (share of base_load_w): closed 22:00-08:00 (fridges only,
5 %), opening 08-10, busy midday 10-14, quieter afternoon 14-17, busiest
evening 17-21, closing 21-22. Common areas (chint-dtsu666: lights, lifts)
never go dark. Each minute gets +-20 % noise derived from (seed, minute), so a
run is reproducible and two meters do not move in lock-step.
"""

from __future__ import annotations

from datetime import timedelta, timezone

SHANGHAI = timezone(timedelta(hours=8), "Asia/Shanghai")
_OFFSET_MS = 8 * 3_600_000

SHARP, PEAK, FLAT, VALLEY = 0, 1, 2, 3
TOU_NAMES = ("sharp", "peak", "flat", "valley")
#: TOU period per local hour 0..23.
TOU_BY_HOUR = (
    (VALLEY,) * 7 + (FLAT,) + (PEAK,) * 3 + (FLAT,) * 7 + (PEAK,) + (SHARP,) * 2 + (PEAK,) * 2
    + (VALLEY,)
)

#: Per-mille of base load per local hour.
SHOP_CURVE = (50,) * 8 + (300, 600) + (1000,) * 4 + (700,) * 3 + (1100,) * 4 + (500,) + (50,) * 2
COMMON_CURVE = (350,) * 7 + (600,) * 11 + (1000,) * 4 + (600, 350)
#: Per-mille of minutes with a tap running, per local hour (water meters).
WATER_DUTY = (0,) * 8 + (150, 250) + (350,) * 4 + (200,) * 3 + (350,) * 4 + (150,) + (0,) * 2

assert len(TOU_BY_HOUR) == len(SHOP_CURVE) == len(COMMON_CURVE) == len(WATER_DUTY) == 24

_M64 = (1 << 64) - 1


def noise(seed: int, n: int) -> int:
    """A well-mixed 64-bit integer for (seed, n): splitmix64, cheap and stable."""
    z = (seed * 0x9E3779B97F4A7C15 + n * 0xBF58476D1CE4E5B9 + 0x94D049BB133111EB) & _M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _M64
    return z ^ (z >> 31)


def local_hour(t_ms: int) -> int:
    """Hour of day 0..23 in Asia/Shanghai."""
    return (t_ms + _OFFSET_MS) // 3_600_000 % 24


def tou_period(t_ms: int) -> int:
    """TOU bucket index (SHARP, PEAK, FLAT, VALLEY) for an instant."""
    return TOU_BY_HOUR[local_hour(t_ms)]


def electric_load_w(seed: int, base_w: int, t_ms: int, common: bool) -> int:
    """Load in W for the minute containing t_ms."""
    minute = t_ms // 60_000
    share = (COMMON_CURVE if common else SHOP_CURVE)[local_hour(t_ms)]
    jitter = 800 + noise(seed, minute) % 401  # 0.800 .. 1.200
    return base_w * share * jitter // 1_000_000


def water_flow_lph(seed: int, base_lph: int, t_ms: int) -> int:
    """Flow in L/h for the minute containing t_ms: a tap either runs or not."""
    minute = t_ms // 60_000
    n = noise(seed, minute)
    if n % 1000 >= WATER_DUTY[local_hour(t_ms)]:
        return 0
    return base_lph * (700 + (n >> 20) % 601) // 1000  # 0.7 .. 1.3 of base


def voltage_dv(seed: int, t_ms: int, phase: int = 0) -> int:
    """Line voltage in 0.1 V: 216.0 .. 224.0 V, changing each minute."""
    return 2160 + noise(seed + 7 * phase + 1, t_ms // 60_000) % 81


def power_factor_e3(seed: int, t_ms: int) -> int:
    """Power factor in 0.001 while loaded: 0.900 .. 0.980."""
    return 900 + noise(seed + 3, t_ms // 60_000) % 81
