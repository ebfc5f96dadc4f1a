"""What a cycle loads straight from the driver (portal.metering.rows): the same rows the ORM would give, in UTC
whatever the session's time zone (PostgreSQL answers in its TimeZone; a property office in China often sets
Asia/Shanghai)."""
from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import text

from portal.bulk import insert_rows
from portal.extensions import db
from portal.metering.rows import _METER_COLUMNS, load_gateways, load_meters, load_states
from portal.models import ControlMode, IntervalReading, Meter, MeterKind, MeterState, Supply
from tests.metering.test_daily import sequence

SEEN = datetime(2026, 12, 7, 3, 4, 5, 123456, tzinfo=UTC)


def test_a_cycle_loads_its_meters_and_their_states_as_the_orm_has_them_whatever_the_sessions_time_zone(make_meter):
    meter = make_meter(control_mode=ControlMode.METER, books_read_at=SEEN, books_remaining_fen=1_234, state=dict(
        online=True, supply_actual=Supply.ON, energy_total=12_345, power_w=-70, voltage_dv=2_201, trip_reason="none",
        remaining_fen=-5, keep_power_actual=True, over_limit_reads=2, missed_polls=1, last_seen_at=SEEN,
        updated_at=SEEN))
    db.session.execute(text("SET LOCAL TIME ZONE 'Asia/Shanghai'"))
    gateways = load_gateways(db.session, [meter.gateway_id])
    load_meters(db.session, gateways)
    loaded = {m.id: m for gw in gateways for m in gw.meters}

    load_states(db.session, loaded)

    row = db.session.get(Meter, meter.id)
    assert {name: getattr(loaded[meter.id], name) for name in _METER_COLUMNS} == {
        name: getattr(row, name) for name in _METER_COLUMNS}
    assert loaded[meter.id].kind is MeterKind.ELECTRIC and loaded[meter.id].control_mode is ControlMode.METER
    assert loaded[meter.id].supply_desired is row.supply_desired and loaded[meter.id].books_read_at.tzinfo is UTC
    state = loaded[meter.id].state
    row = db.session.get(MeterState, meter.id)
    assert state == {c.name: getattr(row, c.name) for c in MeterState.__table__.columns} | {"energy_tou": None}
    assert state["last_seen_at"] == state["updated_at"] == SEEN
    assert state["last_seen_at"].tzinfo is UTC and state["updated_at"].tzinfo is UTC
    assert state["supply_actual"] is Supply.ON


def test_a_cycle_finds_the_newest_reading_in_utc_whatever_the_sessions_time_zone(make_meter):
    from portal.metering.rows import last_intervals

    meter = make_meter()
    insert_rows(db.session, IntervalReading.__table__, sequence(meter.id, [(1, 10)] * 3, start=SEEN.replace(
        minute=0, second=0, microsecond=0)))
    db.session.execute(text("SET LOCAL TIME ZONE 'Asia/Shanghai'"))

    newest = last_intervals(db.session, [meter.id], now=datetime(2026, 12, 8, tzinfo=UTC))[meter.id]

    assert newest.meter_id == meter.id
    assert newest.interval_start == datetime(2026, 12, 7, 3, 45, tzinfo=UTC) and newest.interval_start.tzinfo is UTC
    assert newest.energy_total == 50_030
