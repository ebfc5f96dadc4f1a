"""Build simulator specs for a site, from the database or from an import file."""
from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from portal.metering.books import held
from portal.metering.books_check import queued_net
from portal.models import Gateway, IntervalReading, Meter, Site, Tariff, TariffVersion
from portal.sites.checks import text
from portal.sites.reader import read_workbook
from worker.simulator.specs import SimGatewaySpec, SimMeterSpec

#: a flat price for meters whose tariff is not known yet (1.0000 yuan)
DEFAULT_PRICE_E4 = 10_000


def specs_for_site(session: Session, site_code: str, baud: int | None = None) -> list[SimGatewaySpec]:
    """One gateway spec per gateway of the site, with every meter behind it."""
    site = session.execute(select(Site).where(Site.code == site_code)).scalar_one_or_none()
    if site is None:
        raise LookupError(f"no site {site_code!r}")
    prices = _flat_prices(session, site)
    meter_ids = session.execute(select(Meter.id).where(Meter.site_id == site.id)).scalars().all()
    queued = queued_net(session, meter_ids)
    # the registers carry on from the newest stored reading (a backfilled history, or the last demo's polls)
    stored = _newest_registers(session, site.id)
    specs = []
    for gw in session.execute(select(Gateway).where(Gateway.site_id == site.id).order_by(Gateway.code)).scalars():
        meters = session.execute(
            select(Meter).where(Meter.gateway_id == gw.id).options(joinedload(Meter.account), joinedload(Meter.state))
            .order_by(Meter.unit_id)
        ).scalars()
        specs.append(SimGatewaySpec(
            code=gw.code, host=gw.host, port=gw.port, protocol=gw.protocol.value, baud=baud,
            meters=tuple(_meter_spec(m, prices.get(m.tariff_id or site.default_tariff_id, DEFAULT_PRICE_E4),
                                     queued.get(m.id, 0), stored.get(m.id)) for m in meters),
        ))
    return specs


def specs_from_file(path: str | Path, baud: int | None = None) -> list[SimGatewaySpec]:
    """Gateway specs straight from an import file (no database needed)."""
    sheets = read_workbook(path)
    by_gateway: dict[str, list[SimMeterSpec]] = {}
    for _, row in sheets.get("meters", ([], []))[1]:
        by_gateway.setdefault(text(row.get("gateway")), []).append(SimMeterSpec(
            unit_id=int(row["unit_id"]), profile=text(row["profile"]), kind=text(row.get("kind")) or "electric",
            control_mode=text(row.get("control_mode")) or "platform", seed=int(row["unit_id"]),
        ))
    return [
        SimGatewaySpec(code=text(row["code"]), host=text(row["host"]), port=int(row["port"]),
                       protocol=text(row["protocol"]), baud=baud, meters=tuple(by_gateway.get(text(row["code"]), ())))
        for _, row in sheets.get("gateways", ([], []))[1]
    ]


def _meter_spec(meter: Meter, price_e4: int, queued_fen: int, stored: int | None) -> SimMeterSpec:
    """A meter as the platform last knew it: a meter-mode meter holds what its books say (portal.metering.books),
    or, never read yet, the shop's balance less the writes still queued for it, with the platform's counts;
    the energy register carries on from the last reading or state, whichever is further (`stored`: the newest
    interval reading), so the first poll's delta is what the simulator used since, never a reset."""
    meter_mode = meter.control_mode.value == "meter"
    remaining = 0
    if meter_mode and meter.account:
        books = held(meter)
        remaining = books if books is not None else meter.account.balance_fen - queued_fen
    st = meter.state
    return SimMeterSpec(
        unit_id=meter.unit_id, profile=meter.profile, kind=meter.kind.value, control_mode=meter.control_mode.value,
        price_e4=price_e4, remaining_fen=remaining,
        purchase_count=meter.purchase_count if meter_mode else 0,
        purchase_total_fen=meter.purchase_total_fen if meter_mode else 0,
        energy_start=max((st.energy_total or 0) if st is not None else 0, stored or 0),
        base_load_w=800 if meter.account else 3_000, seed=meter.id,
    )


def _newest_registers(session: Session, site_id: int) -> dict[int, int]:
    """Each meter's newest stored reading: one index probe per meter (a max() per meter would read a year of
    them on SQLite, where the readings have no other index)."""
    r = IntervalReading
    newest = (select(r.energy_total).where(r.meter_id == Meter.id).order_by(r.interval_start.desc()).limit(1)
              .correlate(Meter).scalar_subquery())
    rows = session.execute(select(Meter.id, newest).where(Meter.site_id == site_id)).tuples().all()
    return {meter_id: energy for meter_id, energy in rows if energy is not None}


def _flat_prices(session: Session, site: Site) -> dict[int, int]:
    """The latest flat price of each tariff of the site (the simulator's meter-mode price)."""
    rows = session.execute(
        select(TariffVersion.tariff_id, TariffVersion.unit_price_e4).join(Tariff)
        .where(Tariff.site_id == site.id).order_by(TariffVersion.effective_from)
    ).all()
    return dict(rows)
