"""Row-by-row checks of an import file; every problem becomes a CellError, nothing is written."""
from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from portal.models import Account, EntryKind, Gateway, LedgerEntry, Meter, Site, Tariff, TariffKind
from portal.models.meter import (
    POWER_LIMIT_MAX_W,
    POWER_LIMIT_PROFILES,
    POWER_LIMIT_STEP_W,
    PROFILES,
    PROFILES_WITH_PREPAID,
    WATER_PROFILES,
)
from portal.money import format_yuan
from portal.sites.sheets import OPTIONAL_SHEETS, SHEETS, CellError

#: the opening entries, as the partial index ix_ledger_entries_opening is defined
OPENING_ONLY = text(f"ledger_entries.kind = '{EntryKind.OPENING.value}'")

CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,31}$")
HOST_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.\-:]{0,254}$")


def text(value) -> str:
    """A cell as text; whole numbers typed into Excel come back as 101, not 101.0."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def decimal(value) -> Decimal:
    """A cell as an exact Decimal (Excel floats go through their shortest repr)."""
    if isinstance(value, bool):
        raise InvalidOperation
    result = Decimal(text(value))
    if not result.is_finite():
        raise InvalidOperation
    return result


def posted_openings(session: Session, site_id: int) -> dict[str, int]:
    """The opening balance posted for each of the site's shops that has one: code -> fen.

    Through the opening entries' own index (migration 0022: a few per shop among a year of charges), with the kind
    written into the SQL so that any plan may use it: a join of the site's shops with every ledger entry took
    minutes once the ledger held a couple of million (a second import of 50,000 shops, on stale statistics)."""
    entries = LedgerEntry.__table__
    return dict(session.execute(
        select(Account.code, entries.c.amount_fen).join(entries, entries.c.account_id == Account.id)
        .where(Account.site_id == site_id, OPENING_ONLY)).all())


class RowChecker:
    """Checks sheets against SPEC §4 and against what the site already holds."""

    def __init__(self, session: Session, site: Site | None):
        self.session, self.site = session, site
        self.errors: list = []
        self.structural = False  # a sheet or header is missing: rows cannot be cross-checked

    def error(self, sheet: str, row: int | None, column: str | None, message: str) -> None:
        self.errors.append(CellError(sheet, row, column, message))

    def check(self, sheets: dict) -> dict[str, list[dict]]:
        """Return clean rows per sheet; errors accumulate in self.errors."""
        out: dict[str, list[dict]] = {name: [] for name in SHEETS}
        for name, required in SHEETS.items():
            if name not in sheets:
                if name not in OPTIONAL_SHEETS:
                    self.error(name, None, None, "sheet is missing")
                    self.structural = True
                continue
            headers, rows = sheets[name]
            missing = [c for c in required if c not in headers]
            for column in missing:
                self.error(name, 1, column, "column header is missing")
                self.structural = True
            if not missing:
                out[name] = self._rows(name, rows)
        if not self.structural:
            self._cross_check(out)
        return out

    def _rows(self, sheet: str, rows) -> list[dict]:
        clean, seen = [], {}
        for number, raw in rows:
            row = getattr(self, f"_{sheet}")(sheet, number, raw)
            code = row.get("code") if row else None
            if code:
                if code in seen:
                    self.error(sheet, number, "code", f"duplicate code {code!r} (also row {seen[code]})")
                seen[code] = number
            if row is not None:
                row["_row"] = number
                clean.append(row)
        return clean

    def _code(self, sheet, number, raw, column="code", required=True) -> str:
        value = text(raw.get(column))
        if not value:
            if required:
                self.error(sheet, number, column, "is required")
            return ""
        if not CODE_RE.match(value):
            self.error(sheet, number, column, f"{value!r} is not a valid code (letters, digits, _ . -; at most 32)")
        return value

    def _name(self, sheet, number, raw, column="name", limit=120) -> str:
        value = text(raw.get(column))
        if len(value) > limit:
            self.error(sheet, number, column, f"longer than {limit} characters")
        return value[:limit]

    def _choice(self, sheet, number, raw, column, choices, default=None) -> str:
        value = text(raw.get(column)).lower() or default
        if value not in choices:
            self.error(sheet, number, column,
                       f"must be one of {', '.join(sorted(choices))}, got {text(raw.get(column))!r}")
        return value

    def _number(self, sheet, number, raw, column, places, minimum=Decimal(0), maximum=None, required=True):
        value = raw.get(column)
        if value is None or text(value) == "":
            if required:
                self.error(sheet, number, column, "is required")
            return None
        try:
            result = decimal(value)
        except InvalidOperation:
            self.error(sheet, number, column, f"{text(value)!r} is not a number")
            return None
        if result.as_tuple().exponent < -places:
            self.error(sheet, number, column, f"at most {places} decimal places, got {text(value)}")
            return None
        if result < minimum or (maximum is not None and result > maximum):
            self.error(sheet, number, column, f"must be between {minimum} and {maximum}" if maximum is not None
                       else f"must be at least {minimum}")
            return None
        return result

    def _gateways(self, sheet, number, raw):
        host = text(raw.get("host"))
        if not HOST_RE.match(host):
            self.error(sheet, number, "host", f"{host!r} is not a host name or address")
        port = self._number(sheet, number, raw, "port", 0, Decimal(1), Decimal(65535))
        return {
            "code": self._code(sheet, number, raw), "name": self._name(sheet, number, raw), "host": host,
            "port": int(port) if port is not None else None,
            "protocol": self._choice(sheet, number, raw, "protocol", {"modbus-tcp", "rtu-over-tcp"}),
        }

    def _accounts(self, sheet, number, raw):
        area = self._number(sheet, number, raw, "area_m2", 2, required=False)
        opening = self._number(sheet, number, raw, "opening_balance", 2, Decimal("-10000000"),
                               Decimal("10000000"), required=False)
        return {
            "code": self._code(sheet, number, raw), "name": self._name(sheet, number, raw),
            "tenant_name": self._name(sheet, number, raw, "tenant"),
            "phone": self._name(sheet, number, raw, "phone", 32), "area_m2": area,
            "opening_fen": int(opening * 100) if opening is not None else 0,
        }

    def _meters(self, sheet, number, raw):
        unit = self._number(sheet, number, raw, "unit_id", 0, Decimal(1), Decimal(247))
        limit = self._number(sheet, number, raw, "power_limit_kw", 3, Decimal(0), Decimal(10000), required=False)
        profile = text(raw.get("profile")).lower()
        if profile not in PROFILES:
            self.error(sheet, number, "profile", f"unknown profile {profile!r}; known: {', '.join(sorted(PROFILES))}")
        watts = int(limit * 1000) if limit else 0
        if profile in POWER_LIMIT_PROFILES and (watts > POWER_LIMIT_MAX_W or watts % POWER_LIMIT_STEP_W):
            # the meter keeps it in its own register (0130H): refused now rather than failing every poll
            self.error(sheet, number, "power_limit_kw", f"{profile} keeps its power limit in steps of 0.01 kW, "
                       f"up to {POWER_LIMIT_MAX_W / 1000:g} kW")
        return {
            "code": self._code(sheet, number, raw), "name": self._name(sheet, number, raw),
            "kind": self._choice(sheet, number, raw, "kind", {"electric", "water"}), "profile": profile,
            "gateway": self._code(sheet, number, raw, "gateway"), "unit_id": int(unit) if unit is not None else None,
            "account": self._code(sheet, number, raw, "account", required=False),
            "control_mode": self._choice(sheet, number, raw, "control_mode", {"platform", "meter"}, "platform"),
            "tariff": self._code(sheet, number, raw, "tariff", required=False),
            "power_limit_w": int(limit * 1000) if limit else None,
        }

    def _tariffs(self, sheet, number, raw):
        price = self._number(sheet, number, raw, "unit_price", 4, Decimal(0), Decimal(1000))
        return {"code": self._code(sheet, number, raw), "name": self._name(sheet, number, raw),
                "price_e4": int(price * 10000) if price is not None else None}

    def _cross_check(self, out: dict) -> None:
        """References between sheets and to rows already in the site."""
        site_id = self.site.id if self.site else None

        def known(model) -> set[str]:
            if site_id is None:
                return set()
            return set(self.session.execute(select(model.code).where(model.site_id == site_id)).scalars())

        gateways = known(Gateway) | {r["code"] for r in out["gateways"]}
        accounts = known(Account) | {r["code"] for r in out["accounts"]}
        tariffs = known(Tariff) | {r["code"] for r in out["tariffs"]}
        # a meter-mode meter keeps one price (0140H): only a flat tariff can be its own (README)
        single_price = {r["code"] for r in out["tariffs"]} | (set(self.session.execute(
            select(Tariff.code).where(Tariff.site_id == site_id, Tariff.kind == TariffKind.FLAT)).scalars())
            if site_id is not None else set())
        default = (self.session.get(Tariff, self.site.default_tariff_id)
                   if self.site is not None and self.site.default_tariff_id else None)
        slots = {}
        if site_id is not None:  # unit ids already taken on each gateway by meters not in this file
            file_codes = {r["code"] for r in out["meters"]}
            for code, gw, unit in self.session.execute(
                select(Meter.code, Gateway.code, Meter.unit_id).join(Gateway).where(Meter.site_id == site_id)
            ):
                if code not in file_codes:
                    slots[(gw, unit)] = f"meter {code} already in the site"
        for r in out["meters"]:
            n = r.pop("_row")
            if r["gateway"] not in gateways:
                self.error("meters", n, "gateway", f"no gateway {r['gateway']!r} in the file or the site")
            if r["account"] and r["account"] not in accounts:
                self.error("meters", n, "account", f"no account {r['account']!r} in the file or the site")
            if r["tariff"] and r["tariff"] not in tariffs:
                self.error("meters", n, "tariff", f"no tariff {r['tariff']!r} in the file or the site")
            if (r["profile"] in WATER_PROFILES) != (r["kind"] == "water"):
                self.error("meters", n, "kind", f"profile {r['profile']} does not measure {r['kind']}")
            if r["control_mode"] == "meter" and r["profile"] not in PROFILES_WITH_PREPAID:
                self.error("meters", n, "control_mode", f"profile {r['profile']} has no prepaid block; use platform")
            if r["control_mode"] == "meter" and not r["account"]:
                self.error("meters", n, "control_mode", "a common-area meter (no account) cannot run in meter mode")
            if r["control_mode"] == "meter" and r["tariff"] in tariffs and r["tariff"] not in single_price:
                self.error("meters", n, "tariff", f"tariff {r['tariff']!r} is not flat: a meter-mode meter keeps one "
                           "price")
            if (r["control_mode"] == "meter" and not r["tariff"] and default is not None
                    and default.kind != TariffKind.FLAT):
                self.error("meters", n, "tariff", f"the site's default tariff {default.code!r} is not flat: give "
                           "this meter-mode meter a flat tariff")
            if r["unit_id"] is None:  # already reported as invalid; it takes no slot
                continue
            slot = (r["gateway"], r["unit_id"])
            if slot in slots:
                self.error("meters", n, "unit_id", f"unit {r['unit_id']} on {r['gateway']} is taken ({slots[slot]})")
            slots[slot] = f"row {n}"
        openings = posted_openings(self.session, site_id) if site_id is not None else {}
        for r in out["accounts"]:
            posted = openings.get(r["code"])
            if posted is not None and r["opening_fen"] and posted != r["opening_fen"]:
                self.error("accounts", r["_row"], "opening_balance",
                           f"an opening balance of {format_yuan(posted)} was already posted; it is posted once")
        for sheet in ("gateways", "accounts", "tariffs"):
            for r in out[sheet]:
                r.pop("_row")
