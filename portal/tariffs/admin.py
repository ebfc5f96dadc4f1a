"""Managing tariffs: create a tariff, add a price version, assign a tariff to one meter.

Plain functions on a session, each audited in the caller's transaction (the caller commits). A price
change is always a new version from now or later: a version starting in the past would re-price
consumption already charged, so it is refused. Every version is checked by portal.tariffs.pricing.validate
before it is stored. A meter-mode meter charges itself at the one price its register holds (0140H), so
only a flat tariff may price it (README, "Meters, polling and relays").

Units: prices are integers in 0.0001 yuan per kWh / m³ (`_e4`); tier limits are monthly units of
0.01 kWh (the form takes kWh).
"""
from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from flask_babel import lazy_gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.audit import audit
from portal.models import ControlMode, Meter, Site, Tariff, TariffKind, TariffVersion, utcnow
from portal.models.meter import PRICE_MAX_E4
from portal.money import parse_price, parse_units
from portal.tariffs.pricing import PERIODS, TariffError, Version, validate

MAX_PERIODS = 8
MAX_TIERS = 8
_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,31}")
_HHMM = re.compile(r"([01]\d|2[0-3]):([0-5]\d)|24:00")


class TariffAdminError(TariffError):
    """A tariff change that is refused; the message is meant for the manager."""


# -- parsing what a manager types ------------------------------------------------------------------

def _clean(text: str | None) -> str:
    return unicodedata.normalize("NFKC", text or "").strip()


def yuan_to_e4(text: str | None) -> int:
    """A price in yuan with at most four decimals as integer 0.0001 yuan: '0.6523' -> 6523 (exact)."""
    try:
        return parse_price(text)
    except ValueError:
        raise TariffAdminError(_("Prices are yuan with at most four decimals, such as 0.6523.")) from None


def kwh_to_units(text: str | None) -> int:
    """A monthly limit in kWh (at most two decimals) as 0.01 kWh units: '200' -> 20000."""
    try:
        return parse_units(text, 2)
    except ValueError:
        raise TariffAdminError(_("Tier limits are kWh with at most two decimals.")) from None


def limit_to_units(text: str | None, medium: str) -> int:
    """A monthly tier limit in the meter's own unit: kWh -> 0.01 kWh (x100), m³ -> litres (x1000)."""
    if medium == "water":
        try:
            return parse_units(text, 3)
        except ValueError:
            raise TariffAdminError(_("Tier limits for water are m³ with at most three decimals.")) from None
    return kwh_to_units(text)


def local_to_utc(text: str | None, tz: ZoneInfo) -> datetime | None:
    """A wall-clock time typed in the business time zone ('2025-03-03T12:30') as UTC; blank: None."""
    value = _clean(text).replace(" ", "T")
    if not value:
        return None
    try:
        naive = datetime.fromisoformat(value)
    except ValueError:
        raise TariffAdminError(_("Choose the date and time the prices start.")) from None
    if naive.tzinfo is not None:
        return naive.astimezone(UTC)
    return naive.replace(tzinfo=tz).astimezone(UTC)


# -- the changes -----------------------------------------------------------------------------------

def create_tariff(session: Session, site: Site, code: str, name: str, kind: str | TariffKind,
                  actor: str) -> Tariff:
    """A new tariff of the site (no prices yet: add a version)."""
    code, name = _clean(code), _clean(name)
    if not _CODE.fullmatch(code):
        raise TariffAdminError(_("A tariff code is 1 to 32 letters, digits, '-', '_' or '.'."))
    if not name or len(name) > 120:
        raise TariffAdminError(_("Give the tariff a name (at most 120 characters)."))
    try:
        kind = TariffKind(kind)
    except ValueError:
        raise TariffAdminError(_("Choose flat, time-of-use or tiered.")) from None
    taken = session.execute(select(Tariff.id).where(Tariff.site_id == site.id, Tariff.code == code)).first()
    if taken is not None:
        raise TariffAdminError(_("This site already has a tariff %(code)s.", code=code))
    tariff = Tariff(site_id=site.id, code=code, name=name, kind=kind)
    session.add(tariff)
    session.flush()
    audit(session, actor, "tariff.create", "tariff", tariff.id, site.id, code=code, name=name, kind=kind.value)
    return tariff


def add_version(session: Session, tariff: Tariff, effective_from: datetime | None, *, actor: str,
                unit_price_e4: int | None = None, periods=(), period_prices_e4: dict | None = None,
                tiers=(), medium: str = "electric", now: datetime | None = None) -> TariffVersion:
    """New prices for `tariff` from `effective_from` (UTC; None = now), never from a moment already past.

    flat: unit_price_e4. tou: periods [(start "HH:MM", end "HH:MM", period)] covering the day once
    (at most 8) and period_prices_e4 {period: e4}. tiered: tiers [(upto units or None, price_e4)],
    ascending, the last open, in the unit of `medium`'s meters (0.01 kWh, or litres for water).
    """
    now = now or utcnow()
    when = effective_from or now
    if when.tzinfo is None:
        raise TariffAdminError("effective_from must be timezone-aware")
    when = when.astimezone(UTC)
    if when < now.replace(second=0, microsecond=0):  # "now" typed to the minute is still now
        raise TariffAdminError(_("New prices cannot start in the past: a change never re-prices consumption "
                                 "already charged."))
    taken = session.execute(select(TariffVersion.id).where(
        TariffVersion.tariff_id == tariff.id, TariffVersion.effective_from == when)).first()
    if taken is not None:
        raise TariffAdminError(_("A version of this tariff already starts at that time."))

    kind = TariffKind(tariff.kind)
    row = dict(unit_price_e4=0, periods=None, period_prices_e4=None, tiers=None)
    if kind == TariffKind.FLAT:
        if unit_price_e4 is None:
            raise TariffAdminError(_("Enter the price."))
        row["unit_price_e4"] = _price(unit_price_e4)
    elif kind == TariffKind.TOU:
        periods = [(_hhmm(s), _hhmm(e), p) for s, e, p in periods]
        if not periods:
            raise TariffAdminError(_("Enter the time-of-use periods of the day."))
        if len(periods) > MAX_PERIODS:
            raise TariffAdminError(_("At most %(n)s periods a day.", n=MAX_PERIODS))
        for _s, _e, p in periods:
            if p not in PERIODS:
                raise TariffAdminError(_("Each period is sharp, peak, flat or valley."))
        prices = {p: _price(v) for p, v in (period_prices_e4 or {}).items() if v is not None}
        if set(prices) - set(PERIODS):
            raise TariffAdminError(_("Each period is sharp, peak, flat or valley."))
        missing = {p for _s, _e, p in periods} - set(prices)
        if missing:
            raise TariffAdminError(_("Enter a price for every period used."))
        row.update(periods=[{"start": s, "end": e, "period": p} for s, e, p in periods],
                   period_prices_e4={p: prices[p] for p in PERIODS if p in prices},
                   unit_price_e4=prices.get("flat", max(prices.values())))
    else:
        tiers = [(None if upto is None else int(upto), _price(price)) for upto, price in tiers]
        if not tiers:
            raise TariffAdminError(_("Enter at least one tier."))
        if len(tiers) > MAX_TIERS:
            raise TariffAdminError(_("At most %(n)s tiers.", n=MAX_TIERS))
        if any(u is not None and u <= 0 for u, _p in tiers):
            raise TariffAdminError(_("Tier limits are above zero."))
        if medium not in ("electric", "water"):
            raise TariffAdminError(_("A tiered tariff is for electricity or for water."))
        # The limits count the meters' own units, so a tiered tariff serves one medium only.
        row.update(tiers=[{"upto": u, "price_e4": p, "medium": medium} for u, p in tiers],
                   unit_price_e4=tiers[0][1])

    version = Version(kind=kind.value, unit_price_e4=row["unit_price_e4"],
                      periods=tuple((p["start"], p["end"], p["period"]) for p in row["periods"] or ()),
                      period_prices_e4=row["period_prices_e4"],
                      tiers=tuple((t["upto"], t["price_e4"]) for t in row["tiers"] or ()))
    try:
        validate(version)
    except TariffError as exc:
        raise TariffAdminError(_message(str(exc))) from None

    created = TariffVersion(tariff_id=tariff.id, effective_from=when, **row)
    session.add(created)
    session.flush()
    audit(session, actor, "tariff.version.add", "tariff", tariff.id, tariff.site_id, version_id=created.id,
          effective_from=when.isoformat(), **{k: v for k, v in row.items() if v is not None})
    return created


def assign_meter_tariff(session: Session, meter: Meter, tariff: Tariff | None, actor: str,
                        now: datetime | None = None) -> bool:
    """Bill `meter` by `tariff` from now on (None: the site's default again); False when nothing changed.

    Readings not yet billed are priced by the tariff the meter has when they are billed.
    """
    new_id = tariff.id if tariff is not None else None
    if tariff is not None:
        if tariff.site_id != meter.site_id:
            raise TariffAdminError(_("That tariff belongs to another site."))
        if meter.control_mode == ControlMode.METER and TariffKind(tariff.kind) != TariffKind.FLAT:
            raise TariffAdminError(_("Meter %(code)s runs in meter mode and charges itself at one price: give it a "
                                     "flat tariff.", code=meter.code))
        at = now or utcnow()
        media = {t.get("medium", "electric") for v in tariff.versions for t in (v.tiers or ())}
        if media and media != {meter.kind.value}:
            raise TariffAdminError(_("Tariff %(code)s counts its tiers for another kind of meter.", code=tariff.code))
        if not any(v.effective_from <= at for v in tariff.versions):
            raise TariffAdminError(_("Tariff %(code)s has no prices in force yet: add a version first.",
                                     code=tariff.code))
    if meter.tariff_id == new_id:
        return False
    old = meter.tariff_id
    meter.tariff_id = new_id
    session.flush()
    audit(session, actor, "meter.tariff.assign", "meter", meter.id, meter.site_id, meter=meter.code,
          old_tariff_id=old, tariff_id=new_id)
    return True


def set_site_default(session: Session, site: Site, tariff: Tariff, actor: str, now: datetime | None = None) -> None:
    """Bill the site's meters that have no tariff of their own by `tariff` from now on (audited)."""
    if tariff.site_id != site.id:
        raise TariffAdminError(_("That tariff belongs to another site."))
    if not any(v.effective_from <= (now or utcnow()) for v in tariff.versions):
        raise TariffAdminError(_("Tariff %(code)s has no prices in force yet: add a version first.", code=tariff.code))
    if any(t.get("medium", "electric") == "water" for v in tariff.versions for t in (v.tiers or ())):
        raise TariffAdminError(_("A tiered water tariff cannot be the site default; give it to the water meters."))
    if TariffKind(tariff.kind) != TariffKind.FLAT and session.scalar(select(Meter.id).where(
            Meter.site_id == site.id, Meter.control_mode == ControlMode.METER, Meter.tariff_id.is_(None)).limit(1)):
        raise TariffAdminError(_("Meter-mode meters of this site use the default tariff and charge themselves at one "
                                 "price: the default must be flat (or give them a flat tariff of their own)."))
    old, site.default_tariff_id = site.default_tariff_id, tariff.id
    session.flush()
    audit(session, actor, "site.default_tariff", "site", site.id, site.id, old_tariff_id=old, tariff_id=tariff.id)


def version_state(tariff: Tariff, now: datetime | None = None) -> dict[int, str]:
    """{version id: 'past' | 'current' | 'future'} at `now`."""
    now = now or utcnow()
    state, current = {}, None
    for v in tariff.versions:
        if v.effective_from <= now:
            current = v.id
            state[v.id] = "past"
        else:
            state[v.id] = "future"
    if current is not None:
        state[current] = "current"
    return state


def _price(value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise TariffAdminError(_("Prices are zero or more."))
    if value > PRICE_MAX_E4:  # a meter-mode meter must be able to hold it (0140H)
        raise TariffAdminError(_("Prices are at most ¥1,000.0000 per kWh or m³."))
    return value


def _hhmm(value: str) -> str:
    value = _clean(value)
    if not _HHMM.fullmatch(value):
        raise TariffAdminError(_("Times are HH:MM, such as 08:00."))
    return "00:00" if value == "24:00" else value


def _message(text: str) -> str:
    """portal.tariffs.pricing' messages, for the manager."""
    return {
        "time-of-use periods must cover the day exactly once":
            _("The periods must cover the whole day exactly once: no gaps, no overlaps."),
        "every period used needs a price": _("Enter a price for every period used."),
        "tiers need ascending limits and an open last tier":
            _("Tiers need ascending limits, and the last tier has none (open)."),
        "tier limits must ascend": _("Tier limits must ascend."),
    }.get(text, text)


__all__ = [
    "TariffAdminError",
    "add_version",
    "assign_meter_tariff",
    "create_tariff",
    "kwh_to_units",
    "local_to_utc",
    "set_site_default",
    "version_state",
    "yuan_to_e4",
]
