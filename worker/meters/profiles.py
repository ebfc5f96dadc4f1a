"""Meter profiles as data: register tables, read blocks, write commands and capabilities.

Every table here is transcribed from /work/shared/METERS.md; a new meter model is a new
`Profile(...)` entry, never a new class. Units on the right of each `Reg` are the
platform's integer units ("Logical fields" in METERS.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from .errors import Unsupported

#: Register widths by type name; "f32" is IEEE-754 single precision.
WIDTH = {"u16": 1, "i16": 1, "u32": 2, "i32": 2, "f32": 2}


@dataclass(frozen=True, slots=True)
class Reg:
    """One logical field at one address: platform value = raw × mul / div (floats rounded)."""

    address: int
    field: str
    type: str
    mul: int = 1
    div: int = 1
    #: Plausible range in platform units; a value outside it means the meter answers garbage.
    lo: int | None = None
    hi: int | None = None
    #: Raw value -> platform value for coded registers (supply, trip reason...); others are garbage.
    codes: Mapping[int, object] | None = None
    #: Slot in a tuple field (the four TOU energies, the three phases).
    index: int | None = None
    #: "big" = high word first, as METERS.md says unless stated.
    word_order: str = "big"

    @property
    def width(self) -> int:
        """Number of 16-bit registers this field occupies."""
        return WIDTH[self.type]


@dataclass(frozen=True, slots=True)
class Block:
    """A contiguous range read with one function-03 request."""

    start: int
    count: int
    #: Optional blocks are read only on demand (full reads, write confirmation), never per poll.
    optional: bool = False


@dataclass(frozen=True, slots=True)
class WriteSpec:
    """How one command becomes a function-16 write, and which field confirms it afterwards."""

    address: int
    #: Fixed register values per argument value (relay/valve codes, flags)...
    table: Mapping[object, tuple[int, ...]] | None = None
    #: ...or numeric arguments packed in order as (type, platform units per raw step).
    args: tuple[tuple[str, int], ...] = ()
    #: Reading field that must equal argument `confirm_arg` after the write; None = cannot confirm.
    confirm: str | None = None
    confirm_arg: int = 0


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a profile can do, so the platform never offers a control the meter lacks."""

    relay: bool = False
    valve: bool = False
    supply_readable: bool = False  # False: supply is inferred from the last acknowledged command
    internal_balance: bool = False  # meter-mode (内控) possible
    purchase_count: bool = False
    tou: bool = False
    power_limit: bool = False
    keep_power: bool = False
    control_mode: bool = False


@dataclass(frozen=True, eq=False)
class Profile:
    """A meter model: its registers, how to read them, how to command it."""

    name: str
    medium: str  # "electric" (energy in 0.01 kWh) or "water" (volume in litres)
    registers: tuple[Reg, ...]
    blocks: tuple[Block, ...]
    writes: Mapping[str, WriteSpec]
    caps: Capabilities
    source: str = ""
    _by_field: dict[str, Reg] = field(default_factory=dict, init=False, repr=False)
    #: Tuple fields and their sizes, e.g. {"energy_tou": 4}.
    groups: dict[str, int] = field(default_factory=dict, init=False, repr=False)
    #: The blocks a poll reads, without and with the optional ones (every poll of every meter asks).
    _poll: dict[bool, tuple[Block, ...]] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "writes", MappingProxyType(dict(self.writes)))
        self._poll[False] = tuple(b for b in self.blocks if not b.optional)
        self._poll[True] = self.blocks
        for r in self.registers:
            if r.index is None:
                self._by_field[r.field] = r
            else:
                self.groups[r.field] = max(self.groups.get(r.field, 0), r.index + 1)

    def __reduce__(self):
        # a cycle's plans cross into the process that runs its buses (worker/buses.py): a known model goes by
        # name, as each meter stores it; another (a test's) by its fields
        if PROFILES.get(self.name) is self:
            return get_profile, (self.name,)
        return Profile, (self.name, self.medium, self.registers, self.blocks, dict(self.writes), self.caps,
                         self.source)

    def poll_blocks(self, full: bool = False) -> tuple[Block, ...]:
        """Blocks read per poll (plus the optional ones when `full`)."""
        return self._poll[full]

    def write_spec(self, command: str) -> WriteSpec:
        """The write for `command`, or `Unsupported` when this model has no such register."""
        try:
            return self.writes[command]
        except KeyError:
            raise Unsupported(f"{self.name} does not support {command}") from None

    def block_for(self, field_name: str) -> Block:
        """The declared block holding `field_name` (used to read a write back)."""
        reg = self._by_field[field_name]
        for b in self.blocks:
            if b.start <= reg.address and reg.address + reg.width <= b.start + b.count:
                return b
        raise LookupError(f"{self.name}: no block covers {field_name}")  # a table bug

    def tight_blocks(self, block: Block) -> tuple[Block, ...]:
        """`block` split into runs of documented registers, for meters that reject gap addresses."""
        spans = sorted(
            {(r.address, r.address + r.width) for r in self.registers
             if block.start <= r.address < block.start + block.count}
        )
        runs: list[list[int]] = []
        for lo, hi in spans:
            if runs and lo <= runs[-1][1]:
                runs[-1][1] = max(runs[-1][1], hi)
            else:
                runs.append([lo, hi])
        return tuple(Block(lo, hi - lo, block.optional) for lo, hi in runs)


# Plausible ranges in platform units (why: 0xFFFF / 0xFFFFFFFF and NaN are what a sick meter
# or a garbled frame yields; nothing in a shop reaches these bounds).
ENERGY = (0, 99_999_999)  # 0.01 kWh: an eight-digit register display, 999 999.99 kWh
LITRES = (0, 999_999_999)
VOLTS = (0, 10_000)  # 0.1 V: a low-voltage meter never sees 1000 V
FEN = (-1_000_000_000, 1_000_000_000)
PF = (-1000, 1000)

SUPPLY = MappingProxyType({0: "on", 1: "off"})
TRIP = MappingProxyType({0: "none", 1: "arrears", 2: "remote", 3: "over_power"})
FLAG = MappingProxyType({0: False, 1: True})
MODE = MappingProxyType({0: "platform", 1: "meter"})

_MEASUREMENT = (  # Acrel DDSY1352 §8.1, shared by payfirst-prepaid-v1
    Reg(0x0000, "energy_total", "u32", lo=ENERGY[0], hi=ENERGY[1]),
    *(Reg(0x0002 + 2 * i, "energy_tou", "u32", lo=ENERGY[0], hi=ENERGY[1], index=i)
      for i in range(4)),  # sharp 尖, peak 峰, flat 平, valley 谷
    Reg(0x000B, "voltage", "u16", lo=VOLTS[0], hi=VOLTS[1]),
    Reg(0x000C, "current", "u16", lo=0, hi=20_000),  # 0.01 A; 200 A is beyond any 1-phase meter
    Reg(0x000D, "power_w", "i16", lo=-30_000, hi=30_000),  # 0.001 kW = 1 W
    Reg(0x000F, "apparent_va", "u16", lo=0, hi=30_000),
    Reg(0x0010, "pf", "i16", lo=PF[0], hi=PF[1]),
)

_PREPAID = (  # the platform's reference prepaid block, electric and water alike
    Reg(0x0100, "remaining_fen", "i32", lo=FEN[0], hi=FEN[1]),
    Reg(0x0102, "purchase_count", "u16"),
    Reg(0x0103, "purchase_total_fen", "u32", lo=0, hi=2_000_000_000),
    Reg(0x0105, "supply", "u16", codes=SUPPLY),
    Reg(0x0106, "trip_reason", "u16", codes=TRIP),
    Reg(0x0107, "keep_power", "u16", codes=FLAG),
    Reg(0x0108, "control_mode", "u16", codes=MODE),
    Reg(0x0140, "price_e4", "u32", lo=0, hi=100_000_000),  # 0.0001 yuan per kWh or m³
)

_PREPAID_WRITES = {
    "set_supply": WriteSpec(0x0120, table={"on": (0x55,), "off": (0xAA,)}, confirm="supply"),
    "set_keep_power": WriteSpec(0x0121, table={True: (1,), False: (0,)}, confirm="keep_power"),
    # the meter accepts only count = purchase_count + 1, so the count doubles as idempotency key
    "write_purchase": WriteSpec(0x0110, args=(("u32", 1), ("u16", 1)),
                                confirm="purchase_count", confirm_arg=1),
    # a deduction (扣费) takes the next count of the same sequence; the purchase total stays
    "write_deduction": WriteSpec(0x0114, args=(("u32", 1), ("u16", 1)),
                                 confirm="purchase_count", confirm_arg=1),
    "set_price": WriteSpec(0x0140, args=(("u32", 1),), confirm="price_e4"),
    "set_control_mode": WriteSpec(0x0108, table={"platform": (0,), "meter": (1,)},
                                  confirm="control_mode"),
}

ACREL_DDSY1352 = Profile(
    name="acrel-ddsy1352",
    medium="electric",
    registers=_MEASUREMENT,
    blocks=(Block(0x0000, 0x11),),
    # 0057H, two registers, as the ems4j Acrel plugin drives it: 1,1 trips (拉闸), 1,0 closes (合闸)
    writes={"set_supply": WriteSpec(0x0057, table={"off": (1, 1), "on": (1, 0)})},
    caps=Capabilities(relay=True, tou=True),
    source="Acrel DDSY1352/DTSY1352 Operation Manual T1.0 §8.1; relay per ems4j",
)

PAYFIRST_PREPAID_V1 = Profile(
    name="payfirst-prepaid-v1",
    medium="electric",
    registers=(*_MEASUREMENT, *_PREPAID,
               Reg(0x0130, "power_limit_w", "u16", mul=10)),  # 0.01 kW; 0 = no limit
    # power limit and price are set by the platform, so a poll need not re-read them
    blocks=(Block(0x0000, 0x11), Block(0x0100, 9),
            Block(0x0130, 1, optional=True), Block(0x0140, 2, optional=True)),
    writes={**_PREPAID_WRITES,
            "set_power_limit": WriteSpec(0x0130, args=(("u16", 10),), confirm="power_limit_w")},
    caps=Capabilities(relay=True, supply_readable=True, internal_balance=True,
                      purchase_count=True, tou=True, power_limit=True, keep_power=True,
                      control_mode=True),
    source="METERS.md payfirst-prepaid-v1",
)

PAYFIRST_WATER_V1 = Profile(
    name="payfirst-water-v1",
    medium="water",
    registers=(Reg(0x0000, "energy_total", "u32", lo=LITRES[0], hi=LITRES[1]),
               Reg(0x0002, "flow_lph", "u16"),
               *_PREPAID),
    blocks=(Block(0x0000, 3), Block(0x0100, 9), Block(0x0140, 2, optional=True)),
    writes=_PREPAID_WRITES,  # 0120H opens/closes the valve with the relay's codes
    caps=Capabilities(valve=True, supply_readable=True, internal_balance=True,
                      purchase_count=True, keep_power=True, control_mode=True),
    source="METERS.md payfirst-water-v1",
)


def _f32(address: int, name: str, mul: int, div: int, lo: int, hi: int,
         index: int | None = None) -> Reg:
    return Reg(address, name, "f32", mul=mul, div=div, lo=lo, hi=hi, index=index)


CHINT_DTSU666 = Profile(
    name="chint-dtsu666",
    medium="electric",
    registers=(
        # `voltage`/`current` carry phase A so a three-phase meter fills the common fields too
        _f32(0x2006, "voltage", 1, 1, *VOLTS),  # float × 0.1 V -> 0.1 V
        *(_f32(0x2006 + 2 * i, "voltage_phases", 1, 1, *VOLTS, index=i) for i in range(3)),
        _f32(0x200C, "current", 1, 10, 0, 1_000_000),  # float × 0.001 A -> 0.01 A
        *(_f32(0x200C + 2 * i, "current_phases", 1, 10, 0, 1_000_000, index=i)
          for i in range(3)),
        _f32(0x2012, "power_w", 1, 10, -10_000_000, 10_000_000),  # float × 0.1 W -> W
        _f32(0x202A, "pf", 1, 1, *PF),
        _f32(0x2044, "frequency", 1, 1, 0, 7_000),  # float × 0.01 Hz -> 0.01 Hz
        _f32(0x101E, "energy_total", 100, 1, 0, 10_000_000_000),  # kWh -> 0.01 kWh
        _f32(0x1028, "energy_export", 100, 1, 0, 10_000_000_000),
    ),
    # 2006H-2045H is one 64-register read; the meter defines the registers in between
    blocks=(Block(0x2006, 0x40), Block(0x101E, 0x0C)),
    writes={},  # a common-area meter is read and allocated, never switched
    caps=Capabilities(),
    source="volkszaehler/mbmd dtsu666.go; gerontec/dtsu666",
)

PROFILES: Mapping[str, Profile] = MappingProxyType({
    p.name: p for p in (ACREL_DDSY1352, PAYFIRST_PREPAID_V1, PAYFIRST_WATER_V1, CHINT_DTSU666)
})


def get_profile(name: str) -> Profile:
    """The profile called `name` (as stored per meter), or `Unsupported`."""
    try:
        return PROFILES[name]
    except KeyError:
        raise Unsupported(f"unknown meter profile {name!r}") from None
