"""A test farm: a site in the database whose gateways are simulated meters on loopback ports.

`start_farm(GW(...), ...)` starts a SimulatorThread on a ManualClock (ephemeral ports) and writes the
site, its flat tariff, gateways with the simulator's real ports, meters and shop accounts.
`farm.cycle(seconds)` moves simulated time on and runs one real poll cycle (TCP, Modbus, database) at
that instant, so interval boundaries and billing are deterministic.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timezone

from sqlalchemy import select

from portal.extensions import db
from portal.ledger.entries import post_entry
from portal.models import (
    Account,
    Alarm,
    AlarmKind,
    ControlMode,
    EntryKind,
    Gateway,
    Meter,
    MeterKind,
    Protocol,
    Site,
    Tariff,
    TariffVersion,
)
from worker.poller import CycleStats, run_cycle
from worker.simulator import SHANGHAI, ManualClock, SimGatewaySpec, SimMeterSpec, SimulatorThread

#: Monday noon in Shanghai (04:00 UTC), on a 15-minute boundary
NOON = datetime(2025, 3, 3, 12, 0, tzinfo=SHANGHAI)
#: the site's flat tariff: 1.0000 yuan per kWh (per m³ for water)
PRICE_E4 = 10_000
#: per-request timeout of the cycles: meters on loopback answer in milliseconds
TIMEOUT = 1.0


@dataclass(frozen=True)
class M:
    """One meter of the farm, as both the database and the simulator see it."""

    unit_id: int
    profile: str = "payfirst-prepaid-v1"
    control_mode: str = "platform"
    #: the shop's opening balance; None = a common-area meter without an account
    balance_fen: int | None = 0
    power_limit_w: int | None = None
    #: the meter's own balance (meter mode)
    remaining_fen: int = 0
    #: forced load in W (water: L/h) so consumption is exact; None = the simulator's day curve
    load: int | None = 0


@dataclass(frozen=True)
class GW:
    """One gateway of the farm and the meters on its bus."""

    code: str
    meters: tuple[M, ...]
    protocol: str = "modbus-tcp"
    baud: int | None = None


class Farm:
    """A site in the database and its meters in a running simulator, on one manual clock."""

    def __init__(self, sim: SimulatorThread, clock: ManualClock, site: Site, gateways: dict[str, int]):
        self.sim, self.clock, self.site_id, self.gateway_ids = sim, clock, site.id, gateways

    @property
    def now(self) -> datetime:
        """Simulated time, UTC."""
        return datetime.fromtimestamp(self.clock.now_ms() / 1000, UTC)

    def cycle(self, seconds: float = 60, gateways: list[str] | None = None, timeout: float = TIMEOUT) -> CycleStats:
        """Move simulated time on by `seconds`, run one poll cycle at that instant and commit."""
        self.clock.advance(seconds)
        ids = [self.gateway_ids[c] for c in gateways] if gateways else list(self.gateway_ids.values())
        stats = run_cycle(db.session, ids, timeout=timeout, now=self.now)
        db.session.commit()
        return stats

    def meter(self, gateway: str, unit_id: int) -> Meter:
        """The meter row."""
        return db.session.execute(select(Meter).where(
            Meter.gateway_id == self.gateway_ids[gateway], Meter.unit_id == unit_id)).scalar_one()

    def gateway(self, code: str) -> Gateway:
        """The gateway row."""
        return db.session.get(Gateway, self.gateway_ids[code])

    def sim_meter(self, gateway: str, unit_id: int):
        """The simulated meter (snapshot(), set_load, set_fault, ...)."""
        return self.sim.meter(gateway, unit_id)

    def overload(self, gateway: str, unit_id: int, reads: int, load_w: int = 4_500) -> None:
        """A cycle at the meter's own load, then `reads` cycles with it drawing `load_w` (above a 3 kW limit)."""
        self.cycle()
        self.sim_meter(gateway, unit_id).set_load(load_w)
        for _ in range(reads):
            self.cycle()

    def snapshot(self, gateway: str, unit_id: int) -> dict:
        """What the simulated meter shows right now."""
        return self.sim.meter(gateway, unit_id).snapshot()

    def set_down(self, gateway: str, down: bool = True) -> None:
        """Take a gateway off the network, or bring it back on the same port."""
        self.sim.set_gateway_down(gateway, down)

    def alarms(self, kind: AlarmKind, open_only: bool = True) -> list[Alarm]:
        """Alarms of this kind on the site (open ones unless told)."""
        q = select(Alarm).where(Alarm.site_id == self.site_id, Alarm.kind == kind).order_by(Alarm.id)
        if open_only:
            q = q.where(Alarm.cleared_at.is_(None))
        return list(db.session.execute(q).scalars())


def start_farm(*gateways: GW) -> Farm:
    """Start the simulator for these gateways and write the matching rows (committed)."""
    clock = ManualClock(NOON)
    sim = SimulatorThread([_sim_spec(g) for g in gateways], clock=clock).start()
    try:
        for g in gateways:
            for m in g.meters:
                if m.load is not None:
                    sim.meter(g.code, m.unit_id).set_load(m.load)
        site = Site(code="S1", name="Test mall")
        db.session.add(site)
        db.session.flush()
        tariff = Tariff(site_id=site.id, code="FLAT", name="flat")
        db.session.add(tariff)
        db.session.flush()
        db.session.add(TariffVersion(tariff_id=tariff.id, effective_from=datetime(2025, 1, 1, tzinfo=UTC),
                                     unit_price_e4=PRICE_E4))
        site.default_tariff_id = tariff.id
        ids = {}
        for g in gateways:
            gw = Gateway(site_id=site.id, code=g.code, name=g.code, host="127.0.0.1", port=sim.port(g.code),
                         protocol=Protocol(g.protocol))
            db.session.add(gw)
            db.session.flush()
            ids[g.code] = gw.id
            for m in g.meters:
                _add_meter(site, gw, m)
        db.session.commit()
    except BaseException:
        sim.stop()
        raise
    return Farm(sim, clock, site, ids)


def _sim_spec(g: GW) -> SimGatewaySpec:
    return SimGatewaySpec(g.code, protocol=g.protocol, baud=g.baud, meters=tuple(
        SimMeterSpec(m.unit_id, m.profile, kind=_kind(m).value, control_mode=m.control_mode,
                     price_e4=PRICE_E4, remaining_fen=m.remaining_fen, seed=m.unit_id)
        for m in g.meters))


def _add_meter(site: Site, gw: Gateway, m: M) -> Meter:
    account = None
    if m.balance_fen is not None:
        account = Account(site_id=site.id, code=f"{gw.code}-A{m.unit_id}", name=f"shop {m.unit_id}")
        db.session.add(account)
        db.session.flush()
        if m.balance_fen:
            post_entry(db.session, account, m.balance_fen, EntryKind.OPENING, f"opening:{account.id}")
    meter = Meter(site_id=site.id, code=f"{gw.code}-{m.unit_id}", name="meter", kind=_kind(m), profile=m.profile,
                  gateway_id=gw.id, unit_id=m.unit_id, account_id=account.id if account else None,
                  control_mode=ControlMode(m.control_mode), power_limit_w=m.power_limit_w)
    db.session.add(meter)
    return meter


def _kind(m: M) -> MeterKind:
    return MeterKind.WATER if m.profile == "payfirst-water-v1" else MeterKind.ELECTRIC
