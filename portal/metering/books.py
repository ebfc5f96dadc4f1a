"""Meter-mode books (内控): the ledger mirrors what the meters hold, one set of books in both modes.

A meter-mode meter keeps its own remaining amount and charges itself at its price; the platform writes money
into it (purchases 0110H and deductions 0114H, in one count sequence) and reads it back. A shop's ledger
balance must equal what its meters hold plus the writes queued for them (SPEC §3), so:

- **Stored per meter** (`meters.books_*`): the remaining amount and write count of the last read the ledger
  has accounted for, the net of the writes acknowledged up to that count (purchases − deductions, the
  platform's running totals at that count) and the instant of that read.
- **Each read is accounted** once the cycle knows what it wrote into the meter after it (each acknowledged
  write carries its count): used = remaining then + net written since − remaining now. A positive amount is
  a usage debit (ENERGY or WATER, key usage:<meter>:<read instant>: one per meter and reading; the books move
  in the same transaction, so no read is counted twice). A remaining amount that rose without a write is
  tamper: the books move on (what is used is still debited) and the check below keeps showing the money
  nobody paid for. A count the platform cannot explain leaves the books where they are; the purchase-count
  tamper alarm says why.

A poll cycle keeps a `BooksRecorder`: each read is accounted as it arrives, or, for a meter with money
writes queued, when its gateway's bus is done and the writes are known; the debits and books are written
set-wise with the rest of the cycle, mostly while the other buses still run. The check of the ledger against
the meters, and the catching up of books that begin, are in `books_check`.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from portal.bulk import update_rows
from portal.control.balance import apply_balance_rules
from portal.control.commands import MONEY_WRITES
from portal.ledger.bulk import Movement, lock_balances, post_many
from portal.metering.daily import DayTotals, roll_up_charges
from portal.metering.rows import MeterRow
from portal.models import AlarmKind, ControlMode, EntryKind, Meter, MeterKind
from portal.money import format_yuan

ACTOR = "system:books"
#: the books' columns of `meters`
BOOKS = ("books_remaining_fen", "books_count", "books_net_fen", "books_read_at")


@dataclass(frozen=True)
class Usage:
    """A usage debit: what a meter-mode meter charged itself between two accounted reads."""

    meter_id: int
    account_id: int
    kind: EntryKind
    fen: int
    key: str
    memo: str


@dataclass(frozen=True)
class Accounted:
    """One read against the books: the debit (if any), the books to store (None: unchanged), a tamper."""

    usage: Usage | None = None
    books: dict | None = None
    problem: str | None = None


def account_read(meter, remaining: int, count: int, written: list[tuple[int, int]], at: datetime) -> Accounted:
    """Account one read (remaining, count) of a meter-mode meter taken at `at`.

    `meter` has the books and the platform's write count and totals *after* this cycle's writes; `written`
    are the writes this cycle acknowledged, as (count, signed fen): those counted after the read are not in
    the remaining amount it shows.
    """
    first = meter.purchase_count - len(written)
    if not first <= count <= meter.purchase_count:
        return Accounted()  # writes the platform never made, or a count gone back: not accountable
    net = meter.purchase_total_fen - meter.deduction_total_fen - sum(a for k, a in written if k > count)
    books = dict(books_remaining_fen=remaining, books_count=count, books_net_fen=net, books_read_at=at)
    if meter.books_remaining_fen is None:
        return Accounted(books=books)  # the first read: the books start here
    if meter.books_read_at is not None and at <= meter.books_read_at:
        return Accounted()  # not newer than the books
    since = net - meter.books_net_fen
    used = meter.books_remaining_fen + since - remaining
    if used < 0:
        return Accounted(books=books, problem=(
            f"{meter.code}: remaining amount rose by ¥{format_yuan(-used)} without a write "
            f"(¥{format_yuan(meter.books_remaining_fen)} + ¥{format_yuan(since)} written → ¥{format_yuan(remaining)})"))
    if (remaining, count) == (meter.books_remaining_fen, meter.books_count):
        return Accounted()  # nothing moved
    usage = None
    if used:
        kind = EntryKind.WATER if meter.kind == MeterKind.WATER else EntryKind.ENERGY
        usage = Usage(meter.id, meter.account_id, kind, used, f"usage:{meter.id}:{at.isoformat()}",
                      f"{meter.code}: {format_yuan(meter.books_remaining_fen)}"
                      f"{f' + {format_yuan(since)}' if since else ''} → {format_yuan(remaining)}")
    return Accounted(usage=usage, books=books)


def held(meter) -> int | None:
    """What the books say a meter-mode meter holds now, writes acknowledged since its last read included;
    None before its first read."""
    if meter.books_remaining_fen is None:
        return None
    return meter.books_remaining_fen + meter.purchase_total_fen - meter.deduction_total_fen - meter.books_net_fen


def post_usage(session: Session, usages: list[Usage], now: datetime | None = None,
               days: DayTotals | None = None) -> set[int]:
    """Post the usage debits once each (the ledger's bulk path), then the balance rules of those shops at
    `now`: low-balance levels and arrears as in platform mode (the meters trip themselves). The debits are
    added to their meters' days (to `days`, which the cycle writes, or at once). Returns the accounts charged."""
    if not usages:
        return set()
    balances = lock_balances(session, (u.account_id for u in usages))
    created: dict[str, datetime] = {}
    charges = []
    for kind in (EntryKind.ENERGY, EntryKind.WATER):
        moves = [Movement(u.account_id, -u.fen, u.key, memo=u.memo, meter_id=u.meter_id) for u in usages
                 if u.kind == kind]
        # a read is accounted once (its books move in this transaction): its key is new, and a clash fails loudly
        for m in post_many(session, moves, kind, actor=ACTOR, balances=balances, known_new=True, created=created):
            balances[m.account_id] += m.amount_fen
            charges.append((m.meter_id, m.account_id, -m.amount_fen, created[m.key]))
    if days is not None:  # the meters' days (portal.metering.daily)
        days.add_charges(charges)
    else:
        roll_up_charges(session, charges, now)
    charged = {u.account_id for u in usages}
    apply_balance_rules(session, charged, now, ACTOR)
    return charged


class BooksRecorder:
    """A cycle's side of the books: what each meter-mode meter showed and took, accounted per gateway."""

    def __init__(self, now: datetime):
        self.now = now
        self._reads: dict[int, tuple[int, int]] = {}  # meter id -> (remaining, count) read this cycle
        self._written: dict[int, list[tuple[int, int]]] = {}  # meter id -> [(count, signed fen)] acknowledged
        self._usage: list[Usage] = []
        self._books: dict[int, dict] = {}  # meter id -> books columns to write
        self._counts: dict[int, dict] = {}  # meter id -> write count and totals to write
        self.alarms: list[dict] = []
        #: meters whose books began with this cycle's read (portal.metering.books_check.start_books)
        self.started: list[MeterRow] = []

    def read(self, meter: MeterRow, fields: dict) -> None:
        """A meter answered: account what its prepaid block showed now, or, with money writes queued for it,
        once its gateway's writes are known."""
        if meter.control_mode != ControlMode.METER or meter.account_id is None:
            return
        remaining, count = fields.get("remaining_fen"), fields.get("purchase_count")
        if remaining is None or count is None:
            return
        if any(c.action in MONEY_WRITES for c in meter.commands):
            self._reads[meter.id] = (remaining, count)
        else:  # nothing can be written to it this cycle, so nothing is to wait for
            self._account(meter, remaining, count)

    def written(self, meter: MeterRow, action: str, count: int, amount_fen: int) -> None:
        """The meter acknowledged a purchase or deduction as write number `count`."""
        signed = amount_fen if action == "purchase" else -amount_fen
        meter.purchase_count = count
        if signed > 0:
            meter.purchase_total_fen += signed
        else:
            meter.deduction_total_fen -= signed
        self._written.setdefault(meter.id, []).append((count, signed))
        self._counts[meter.id] = dict(id=meter.id, purchase_count=count, purchase_total_fen=meter.purchase_total_fen,
                                      deduction_total_fen=meter.deduction_total_fen)

    def account(self, meters: list[MeterRow]) -> None:
        """A gateway's bus is done: account its meters whose reads waited for their writes."""
        for meter in meters:
            read = self._reads.pop(meter.id, None)
            if read is not None:
                self._account(meter, *read)

    def _account(self, meter: MeterRow, remaining: int, count: int) -> None:
        began = meter.books_remaining_fen is None
        done = account_read(meter, remaining, count, self._written.get(meter.id, []), self.now)
        if done.usage is not None:
            self._usage.append(done.usage)
        if done.books is not None:
            for name, value in done.books.items():
                setattr(meter, name, value)
            self._books[meter.id] = dict(id=meter.id, **done.books)
            if began:
                self.started.append(meter)
        if done.problem is not None:
            self.alarms.append(dict(kind=AlarmKind.TAMPER, subject=f"meter:{meter.id}:remaining",
                                    site_id=meter.site_id, meter_id=meter.id, account_id=meter.account_id,
                                    message=done.problem,
                                    data=dict(what="meter_problem", meter=meter.code, problem=done.problem)))

    def take_usage(self) -> list[Usage]:
        """The usage debits accounted since the last call."""
        usage, self._usage = self._usage, []
        return usage

    def flush(self, session: Session) -> None:
        """Write the meters' counts and books (one statement each); the usage is posted by the caller."""
        table = Meter.__table__
        update_rows(session, table, "id", list(self._counts.values()))
        update_rows(session, table, "id", list(self._books.values()))
        self._counts.clear()
        self._books.clear()
