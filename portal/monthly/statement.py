"""The energy-and-money statement of a site's month (SPEC §4 `statement`): per shop its opening and closing
balance, what moved in between by column, and its meters' opening and closing readings and use.

Money comes from the ledger (portal.monthly.reports: balances at the month's ends by index probes, the few
sparse entries summed, energy charges the rest), readings and use from the daily roll-ups (portal.metering
.energy_report), never from the 15-minute readings. Two checks say whether it can be trusted:

- **ties out**: closing = opening + paid + energy + fees + allocation + other, per shop and in total, and the
  closing is the ledger's own (the balance after the shop's last entry of the month);
- **roll-ups agree**: the energy and water money the daily roll-ups recorded for the shop's meters equals the
  energy and water money of the ledger. They differ when the roll-ups missed a day (a database restored, a
  rebuild not run): `flask --app wsgi energy rebuild-daily` mends them; the ledger is right either way.

Columns are signed as the ledger is: money in positive, charges negative, so the sheet sums across a row.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property

from sqlalchemy.orm import Session

from portal.metering.energy_report import EnergyRow, as_number, energy_rows
from portal.models import MeterKind, Site
from portal.monthly.reports import Statement, monthly_report, monthly_report_side_by_side
from portal.sheets import report_xlsx, yuan_number

#: SPEC §4: the sheet's columns, in order
COLUMNS = ("account", "opening_yuan", "paid_yuan", "energy_yuan", "fees_yuan", "allocation_yuan", "other_yuan",
           "closing_yuan")
#: the same in Chinese, for the header's comments (never as extra rows above the data)
COLUMNS_ZH = ("商户编号", "期初余额（元）", "缴费（元，微信、支付宝、柜台，减去退款）", "电费和水费（元，负数为扣费）",
              "物业费（元）", "公摊（元）", "其他（元：应急额度、冲正、转账、调整等）",
              "期末余额（元）= 期初 + 以上各项")
#: each money column and the report's columns (portal.monthly.reports.COLUMNS) it adds up; "other" is the rest
MONEY = {"paid": ("payments", "refunds"), "energy": ("energy", "water"), "fees": ("fee",),
         "allocation": ("allocation",), "other": ("other",)}


@dataclass
class ShopStatement:
    """One shop's month: its money (from the ledger) and its meters (from the roll-ups)."""

    money: Statement
    meters: list[EnergyRow] = field(default_factory=list)
    #: energy and water charged to the shop's meters in the month by the daily roll-ups (positive fen)
    rolled_up_fen: int = 0

    @property
    def code(self) -> str:
        return self.money.code

    def fen(self, column: str) -> int:
        """A money column, signed: opening, closing, or one of MONEY."""
        return self._columns[column]

    @cached_property
    def _columns(self) -> dict[str, int]:
        """Every column once (the page and the sheet ask for each several times): the money is read-only here."""
        out = {c: sum(self.money.column(k) for k in kinds) for c, kinds in MONEY.items()}
        return {"opening": self.money.opening_fen, **out, "closing": self.money.closing_fen}

    @property
    def ledger_closing_fen(self) -> int:
        """The balance after the shop's last entry of the month, as the ledger wrote it."""
        return self.money.closing if self.money.closing is not None else self.money.closing_fen

    @property
    def ties_out(self) -> bool:
        moved = sum(self.fen(c) for c in MONEY)
        return self.fen("opening") + moved == self.fen("closing") == self.ledger_closing_fen

    @property
    def roll_up_gap_fen(self) -> int:
        """What the roll-ups lack of the ledger's energy and water charges (0 when they agree)."""
        return -self.fen("energy") - self.rolled_up_fen

    def usage(self, kind: MeterKind) -> int:
        """The month's use of the shop's meters of a kind, in stored units (0.01 kWh, litres)."""
        return sum(m.usage for m in self.meters if m.kind == kind)


@dataclass(frozen=True)
class Totals:
    """The site's month: each money column summed, use by kind, and how many shops do not tie out."""

    fen: dict[str, int]
    usage: dict[MeterKind, int]
    untied: list[str]
    roll_up_gaps: list[str]

    @property
    def ties_out(self) -> bool:
        return not self.untied and self.fen["opening"] + sum(self.fen[c] for c in MONEY) == self.fen["closing"]


def statement(session: Session, site_id: int, month: str, start: datetime, end: datetime,
              meters: Iterable[EnergyRow]) -> list[ShopStatement]:
    """Every shop of the site that existed during the month, by code, with its meters among `meters` (the
    month's energy rows of the site: portal.metering.energy_report.energy_rows), and what their roll-ups charged it."""
    return _joined(monthly_report(session, site_id, month, start, end), meters)


def _joined(money: Iterable[Statement], meters: Iterable[EnergyRow]) -> list[ShopStatement]:
    rows = [ShopStatement(s) for s in money]
    by_code = {r.code: r for r in rows}
    for m in meters:
        for code, fen in m.charged.items():
            if code in by_code:
                by_code[code].rolled_up_fen += fen
                if code != m.account:  # a meter that left the shop in the month still shows its readings there
                    by_code[code].meters.append(m)
        if m.account in by_code:
            by_code[m.account].meters.append(m)
    return rows


def read_statement(session: Session, site: Site, month: str, start: datetime, end: datetime) -> list[ShopStatement]:
    """The site's statement for the month, its two halves read side by side: the ledger's on a connection of its
    own (in a thread) while the roll-ups are read on the session's. Each is mostly a wait on the database (about
    half a second apiece for 10,000 shops), so together they take about as long as the longer one.

    The other connection sees what is committed: a report reads what other transactions wrote, so nothing of
    the session's own unflushed work is missed in practice; tests that build rows commit them first."""
    with Session(bind=session.get_bind()) as ledger_side, ThreadPoolExecutor(1) as pool:
        money = pool.submit(monthly_report, ledger_side, site.id, month, start, end)
        meters = energy_rows(session, site, month)
        return _joined(money.result(), meters)


def money_statement(session: Session, site_id: int, month: str, start: datetime,
                    end: datetime) -> Iterator[ShopStatement]:
    """The statement's money alone, the ledger's side: what the workbook's columns are (SPEC §4 `statement`), without
    the meters and the roll-ups' check that the page shows beside them. Yielded shop by shop as it is read, on
    connections of its own that share one snapshot (portal.monthly.reports.monthly_report_side_by_side), so the
    workbook's first rows are written while the rest are read; like `read_statement`, it sees what is committed."""
    for s in monthly_report_side_by_side(session.get_bind(), site_id, month, start, end):
        yield ShopStatement(s)


def totals(rows: list[ShopStatement]) -> Totals:
    """The columns summed over every shop, and the shops that do not tie out or whose roll-ups lag."""
    fen = {c: sum(r.fen(c) for r in rows) for c in ("opening", *MONEY, "closing")}
    usage = {kind: sum(r.usage(kind) for r in rows) for kind in MeterKind}
    return Totals(fen, usage, [r.code for r in rows if not r.ties_out],
                  [r.code for r in rows if r.roll_up_gap_fen])


def statement_xlsx(rows: Iterable[ShopStatement]) -> bytes:
    """The `statement` workbook of SPEC §4: one row per shop, yuan as numbers with two decimals (exact from
    fen), the account code as text that no spreadsheet evaluates."""
    money = dict.fromkeys(range(1, len(COLUMNS)), "0.00")
    return report_xlsx("statement", COLUMNS, COLUMNS_ZH, (
        ([r.code, *(yuan_number(r.fen(c)) for c in ("opening", *MONEY, "closing"))], money) for r in rows),
        widths=(12, *(14,) * (len(COLUMNS) - 1)))


def reading_text(row: EnergyRow) -> str:
    """A meter's month in one line: `E001 1234.56 → 1300.00`, or `E001 —` when it reported nothing."""
    if row.opening is None:
        return f"{row.meter} —"
    return f"{row.meter} {as_number(row.opening, row.kind)} → {as_number(row.closing, row.kind)}"

