"""What to simulate: meters and gateways as plain frozen data (no database)."""

from __future__ import annotations

from dataclasses import dataclass, field

PROFILES = ("acrel-ddsy1352", "payfirst-prepaid-v1", "payfirst-water-v1", "chint-dtsu666")
#: Profiles that carry the prepaid block (0100H...) and so can run in meter mode.
PREPAID_PROFILES = ("payfirst-prepaid-v1", "payfirst-water-v1")
PROTOCOLS = ("modbus-tcp", "rtu-over-tcp")


@dataclass(frozen=True)
class SimMeterSpec:
    """One simulated meter behind a gateway."""

    unit_id: int
    profile: str
    kind: str = "electric"  #: 'electric' or 'water'; must agree with the profile
    control_mode: str = "platform"  #: 'platform' (外控) or 'meter' (内控)
    price_e4: int = 10_000  #: 0.0001 yuan per kWh (water: per m³); 1.0000 yuan by default
    remaining_fen: int = 0
    #: the prepaid block's counters as the meter was left (a demo restarted carries on from them)
    purchase_count: int = 0
    purchase_total_fen: int = 0
    base_load_w: int = 2_000  #: typical busy-hour load of the shop (or common area)
    base_flow_lph: int = 300  #: water only: flow while a tap runs, litres per hour
    energy_start: int = 0  #: initial energy_total, 0.01 kWh (water: litres)
    seed: int = 0  #: mixed with unit_id, so equal seeds on one gateway still differ

    def __post_init__(self) -> None:
        if not 1 <= self.unit_id <= 247:
            raise ValueError(f"unit_id {self.unit_id} outside 1..247")
        if self.profile not in PROFILES:
            raise ValueError(f"unknown profile {self.profile!r}")
        if self.kind not in ("electric", "water"):
            raise ValueError(f"unknown kind {self.kind!r}")
        if (self.kind == "water") != (self.profile == "payfirst-water-v1"):
            raise ValueError(f"kind {self.kind!r} does not match profile {self.profile!r}")
        if self.control_mode not in ("platform", "meter"):
            raise ValueError(f"unknown control_mode {self.control_mode!r}")
        # Acrel's prepaid block address is unknown (METERS.md), so such a meter
        # could keep a balance nobody can read: refuse rather than mislead.
        if self.control_mode == "meter" and self.profile not in PREPAID_PROFILES:
            raise ValueError(f"{self.profile} has no prepaid block: platform mode only")
        if self.price_e4 < 0 or self.base_load_w < 0 or self.base_flow_lph < 0:
            raise ValueError("price and loads must not be negative")


@dataclass(frozen=True)
class SimGatewaySpec:
    """One gateway: a TCP port with many unit ids behind it."""

    code: str
    host: str = "127.0.0.1"
    port: int = 0  #: 0 = pick a free port; read the real one from Simulator.port()
    protocol: str = "modbus-tcp"
    meters: tuple[SimMeterSpec, ...] = field(default_factory=tuple)
    baud: int | None = None  #: RS485 timing emulation at this baud rate; None = no delay
    answer_latency_ms: float = 20.0  #: meter think time, only with baud set

    def __post_init__(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"unknown protocol {self.protocol!r}")
        # Accept any sequence of meters but store a tuple so the spec stays hashable.
        object.__setattr__(self, "meters", tuple(self.meters))
        ids = [m.unit_id for m in self.meters]
        if len(ids) != len(set(ids)):
            raise ValueError(f"gateway {self.code}: duplicate unit ids")
        if self.baud is not None and self.baud <= 0:
            raise ValueError("baud must be positive")


def fleet_specs(gateways: int, meters_per_gateway: int, *, profile: str = "payfirst-prepaid-v1",
                protocol: str = "modbus-tcp", host: str = "127.0.0.1", base_port: int = 0,
                seed: int = 0) -> list[SimGatewaySpec]:
    """A uniform fleet for benchmarks: gateways GW001..., units 1..n, ports base_port+i (0: any)."""
    kind = "water" if profile == "payfirst-water-v1" else "electric"
    return [
        SimGatewaySpec(
            code=f"GW{g + 1:03d}", host=host, port=base_port + g if base_port else 0,
            protocol=protocol,
            meters=tuple(SimMeterSpec(unit_id=u, profile=profile, kind=kind, seed=seed + g)
                         for u in range(1, meters_per_gateway + 1)),
        )
        for g in range(gateways)
    ]
