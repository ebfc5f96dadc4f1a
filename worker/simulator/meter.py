"""Physical state of one simulated meter, integrated lazily up to the clock.

Nothing here knows about registers: the register tables (registers.py) turn a
snapshot into words and turn accepted writes into the verbs below. Every
quantity is an integer; money never touches a float.

Behaviour where METERS.md leaves room, chosen to match common cost-control meters:
- a meter-mode meter whose balance is <= 0 is tripped (arrears) from the start;
- a "supply on" command is overruled while the meter's own arrears rule holds;
- keep-power stops arrears trips but does not close an open relay by itself;
- a purchase closes the relay only if it was open for arrears (meter mode),
  never after a remote or over-power trip; platform-mode meters accept
  purchases (count, total, balance) but never switch for money;
- a deduction (0114H) takes the next count like a purchase, leaves the purchase
  total alone, may take the balance below zero and then trips it (meter mode);
- a purchase or deduction outside 1..10,000,000 fen, or with any count but the
  next, is refused and changes nothing;
- over-power (limit > 0, load above it for 3 s) trips in either mode.
"""

from __future__ import annotations

import threading

from . import load
from .specs import SimMeterSpec

NONE, ARREARS, REMOTE, OVER_POWER = 0, 1, 2, 3
TRIP_NAMES = ("none", "arrears", "remote", "over_power")
OVER_POWER_MS = 3_000
#: what one purchase or deduction write may carry, fen (METERS.md 0110H/0114H)
WRITE_MIN_FEN, WRITE_MAX_FEN = 1, 10_000_000

# One energy unit (0.01 kWh) is 36,000 J = 36e6 W·ms; one litre is 3.6e6 (L/h)·ms.
_UNIT_ELECTRIC = 36_000_000
_UNIT_WATER = 3_600_000
# Charge = units x price_e4 in (0.0001 yuan x unit); a fen is 1e4 of those for
# 0.01 kWh at a per-kWh price, and 1e5 for litres at a per-m³ price.
_FEN_ELECTRIC = 10_000
_FEN_WATER = 100_000


def _div(a: int, b: int) -> int:
    """Integer division rounded half up."""
    return (a + b // 2) // b


class SimMeter:
    """State and behaviour of one meter; all public methods are thread-safe."""

    def __init__(self, spec: SimMeterSpec, clock) -> None:
        self.spec = spec
        self.clock = clock
        self.profile = spec.profile
        self.is_water = spec.kind == "water"
        self.is_common = spec.profile == "chint-dtsu666"
        self._seed = load.noise(spec.seed, spec.unit_id)
        self._unit = _UNIT_WATER if self.is_water else _UNIT_ELECTRIC
        self._fen = _FEN_WATER if self.is_water else _FEN_ELECTRIC
        self._lock = threading.RLock()

        self.energy_total = spec.energy_start
        self.energy_tou = [0, 0, spec.energy_start, 0]  # sharp, peak, flat, valley
        self.supply_on = True
        self.trip_reason = NONE
        self.keep_power = False
        self.meter_mode = spec.control_mode == "meter"
        self.remaining_fen = spec.remaining_fen
        self.purchase_count = spec.purchase_count
        self.purchase_total_fen = spec.purchase_total_fen
        self.power_limit_w = 0
        self.alarm_fen = [0, 0]
        self.price_e4 = spec.price_e4
        self.access_code = 0
        self.load_override: int | None = None

        #: Fault injected on this meter: None, 'silent', 'garbage' or 'exception'.
        self.fault: str | None = None
        self.fault_code = 4

        self._t = clock.now_ms()
        self._acc = 0  # energy below one unit, carried between segments
        self._charge = 0  # charge below one fen, carried (SPEC §3: no rounding drift)
        self._over_since: int | None = None
        self._check_arrears()

    # -- time integration -------------------------------------------------
    def sync(self) -> None:
        """Integrate consumption from the last sync up to clock.now_ms()."""
        with self._lock:
            now = self.clock.now_ms()
            t = self._t
            # Load is constant within a minute (an hour with an override), so
            # integrate segment by segment; an open relay contributes nothing.
            step = 3_600_000 if self.load_override is not None else 60_000
            while t < now and self.supply_on:
                t = self._run(t, min(now, (t // step + 1) * step), self._load_at(t))
            self._t = max(self._t, now)

    def _load_at(self, t: int) -> int:
        if not self.supply_on:
            return 0
        if self.load_override is not None:
            return self.load_override
        if self.is_water:
            return load.water_flow_lph(self._seed, self.spec.base_flow_lph, t)
        return load.electric_load_w(self._seed, self.spec.base_load_w, t, self.is_common)

    def _run(self, t0: int, t1: int, p: int) -> int:
        """Integrate constant load p over [t0, t1); stop early at a trip."""
        if p <= 0:
            self._over_since = None
            return t1
        stop, reason = t1, NONE
        if self.power_limit_w and p > self.power_limit_w:
            if self._over_since is None:
                self._over_since = t0
            trip_at = max(t0, self._over_since + OVER_POWER_MS)
            if trip_at < stop:
                stop, reason = trip_at, OVER_POWER
        else:
            self._over_since = None
        if self.meter_mode and not self.keep_power and self.price_e4 > 0:
            # Energy units until the balance reaches 0, then the time to use them.
            units = max(0, -(-(self.remaining_fen * self._fen - self._charge) // self.price_e4))
            arrears_at = t0 + max(0, -(-(units * self._unit - self._acc) // p))
            if arrears_at < stop:
                stop, reason = arrears_at, ARREARS
        self._accrue(t0, stop, p)
        if reason:
            self._trip(reason)
        return stop

    def _accrue(self, t0: int, t1: int, p: int) -> None:
        units, self._acc = divmod(self._acc + p * (t1 - t0), self._unit)
        if not units:
            return
        self.energy_total += units
        self.energy_tou[load.tou_period(t0)] += units
        if self.meter_mode:
            fen, self._charge = divmod(self._charge + units * self.price_e4, self._fen)
            self.remaining_fen -= fen

    def _trip(self, reason: int) -> None:
        self.supply_on = False
        self.trip_reason = reason
        self._over_since = None

    def _in_arrears(self) -> bool:
        return self.meter_mode and not self.keep_power and self.remaining_fen <= 0

    def _check_arrears(self) -> None:
        if self.supply_on and self._in_arrears():
            self._trip(ARREARS)

    # -- what the meter shows ------------------------------------------------
    def snapshot(self) -> dict:
        """Sync, then return every logical field plus the raw instantaneous values."""
        with self._lock:
            self.sync()
            t, seed = self._t, self._seed
            p = self._load_at(t)
            v = load.voltage_dv(seed, t)
            pf = load.power_factor_e3(seed, t) if p else 1000
            snap = {
                "energy_total": self.energy_total,
                "energy_tou": tuple(self.energy_tou),
                "supply": "on" if self.supply_on else "off",
                "trip_reason": TRIP_NAMES[self.trip_reason],
                "keep_power": self.keep_power,
                "control_mode": "meter" if self.meter_mode else "platform",
                "remaining_fen": self.remaining_fen,
                "purchase_count": self.purchase_count,
                "purchase_total_fen": self.purchase_total_fen,
                "power_limit_w": self.power_limit_w,
                "alarm1_fen": self.alarm_fen[0],
                "alarm2_fen": self.alarm_fen[1],
                "price_e4": self.price_e4,
                "access_code": self.access_code,
            }
            if self.is_water:
                snap["flow_lph"] = p
                return snap
            snap.update(voltage=v, power_w=p, pf=pf, frequency=5000 - 5 + seed % 11)
            snap["current"] = _div(p * 1_000_000, v * pf) if p else 0
            snap["apparent_va"] = _div(p * 1000, pf)
            if self.is_common:
                volts = tuple(load.voltage_dv(seed, t, ph) for ph in range(3))
                snap["phase_voltage"] = volts
                snap["phase_current_ma"] = tuple(_div(p * 10_000_000, 3 * u * pf) for u in volts)
                snap["energy_export"] = 0
            return snap

    # -- verbs (the register writes call these) ------------------------------
    def set_supply(self, on: bool) -> None:
        """Relay/valve command: on closes (unless the meter's own arrears rule holds), off trips."""
        with self._lock:
            self.sync()
            if not on:
                self._trip(REMOTE)
            elif self._in_arrears():
                self._trip(ARREARS)
            else:
                self.supply_on, self.trip_reason, self._over_since = True, NONE, None

    def set_keep_power(self, on: bool) -> None:
        """Keep-power (保电): blocks arrears trips; does not close an open relay by itself."""
        with self._lock:
            self.sync()
            self.keep_power = on
            self._check_arrears()

    def purchase(self, amount_fen: int, new_count: int) -> None:
        """Accept a purchase only with the next count and an amount in range; ValueError otherwise."""
        with self._lock:
            self.sync()
            self._next_write(amount_fen, new_count)
            self.purchase_total_fen = (self.purchase_total_fen + amount_fen) & 0xFFFFFFFF
            self.remaining_fen += amount_fen
            if (self.meter_mode and self.remaining_fen > 0 and not self.supply_on
                    and self.trip_reason == ARREARS):
                self.supply_on, self.trip_reason = True, NONE

    def deduct(self, amount_fen: int, new_count: int) -> None:
        """A deduction (扣费): the next count, the balance down by the amount (perhaps below zero)."""
        with self._lock:
            self.sync()
            self._next_write(amount_fen, new_count)
            self.remaining_fen -= amount_fen
            self._check_arrears()

    def _next_write(self, amount_fen: int, new_count: int) -> None:
        """Check a purchase or deduction write and take its count; nothing changes when it is refused."""
        if not WRITE_MIN_FEN <= amount_fen <= WRITE_MAX_FEN:
            raise ValueError(f"amount {amount_fen} fen outside {WRITE_MIN_FEN}..{WRITE_MAX_FEN}")
        if new_count != (self.purchase_count + 1) & 0xFFFF:
            raise ValueError(f"purchase count {new_count}, meter is at {self.purchase_count}")
        self.purchase_count = new_count

    def set_control_mode(self, mode: str) -> None:
        """Switch between 'platform' (外控) and 'meter' (内控) charging."""
        if mode not in ("platform", "meter"):
            raise ValueError(mode)
        with self._lock:
            self.sync()
            self.meter_mode = mode == "meter"
            self._check_arrears()

    def set_power_limit_w(self, watts: int) -> None:
        """Set the over-power trip threshold (0 = none)."""
        with self._lock:
            self.sync()
            self.power_limit_w = watts
            self._over_since = None

    def set_alarm_fen(self, which: int, fen: int) -> None:
        """Set alarm amount 1 or 2 (stored only: prepaid-v1 exposes no alarm flags)."""
        with self._lock:
            self.alarm_fen[which - 1] = fen

    def set_price_e4(self, price_e4: int) -> None:
        """Set the meter-mode price, 0.0001 yuan per kWh (water: per m³)."""
        with self._lock:
            self.sync()
            self.price_e4 = price_e4

    def set_access_code(self, code: int) -> None:
        """Set the Acrel access code (0-9999)."""
        if not 0 <= code <= 9999:
            raise ValueError(code)
        with self._lock:
            self.access_code = code

    # -- test and demo levers ------------------------------------------------
    def set_load(self, value: int | None) -> None:
        """Force the load (W; water: L/h) from now on; None returns to the day curve."""
        if value is not None and value < 0:
            raise ValueError("loads are not negative")
        with self._lock:
            self.sync()
            self.load_override = value

    def set_remaining(self, fen: int) -> None:
        """Overwrite the meter's own balance (as if by a service tool)."""
        with self._lock:
            self.sync()
            self.remaining_fen = fen
            self._check_arrears()

    def reset_energy(self, value: int = 0) -> None:
        """Fault: the energy counter jumps back to value (0 = cleared)."""
        with self._lock:
            self.sync()
            if not 0 <= value <= self.energy_total:
                raise ValueError("a reset goes down, not up")
            total, self.energy_total = self.energy_total, value
            # Scale the TOU registers down alike; the rounding rest goes to flat.
            tou = [e * value // total if total else 0 for e in self.energy_tou]
            tou[load.FLAT] += value - sum(tou)
            self.energy_tou = tou

    def set_fault(self, fault: str | None, code: int = 4) -> None:
        """Inject 'silent', 'garbage' or 'exception' (with Modbus code), or None to heal."""
        if fault not in (None, "silent", "garbage", "exception"):
            raise ValueError(f"unknown fault {fault!r}")
        self.fault, self.fault_code = fault, code
