"""Meter mode: a purchase is written into the meter exactly once, and the purchase count guards it."""
from __future__ import annotations

from sqlalchemy import select

from portal.control.commands import queue_purchase
from portal.extensions import db
from portal.models import AlarmKind, AuditEntry, CommandStatus, ControlCommand
from tests.worker.poller.farm import GW, M

FARM = (GW("GW1", (M(1, control_mode="meter", balance_fen=0, remaining_fen=1_000),)),)
AMOUNT = 2_500


def _queue(f, key: str = "payment:P1") -> ControlCommand:
    cmd = queue_purchase(db.session, f.meter("GW1", 1), AMOUNT, key, "system:payments")
    db.session.commit()
    return cmd


def test_queued_purchase_is_written_into_the_meter_once(farm):
    f = farm(*FARM)
    f.cycle()
    cmd = _queue(f)

    f.cycle()

    snap = f.snapshot("GW1", 1)
    assert (snap["remaining_fen"], snap["purchase_count"], snap["purchase_total_fen"]) == (1_000 + AMOUNT, 1, AMOUNT)
    meter = f.meter("GW1", 1)
    assert (meter.purchase_count, meter.purchase_total_fen) == (1, AMOUNT)
    assert db.session.get(ControlCommand, cmd.id).status == CommandStatus.APPLIED
    assert db.session.execute(select(AuditEntry).where(AuditEntry.action == "meter.purchase_written")).scalar_one()


def test_later_cycles_do_not_write_a_purchase_again(farm):
    f = farm(*FARM)
    _queue(f)
    f.cycle()

    for _ in range(3):
        f.cycle()

    snap = f.snapshot("GW1", 1)
    assert (snap["remaining_fen"], snap["purchase_count"]) == (1_000 + AMOUNT, 1)
    st = f.meter("GW1", 1).state
    assert (st.remaining_fen, st.purchase_count, st.purchase_total_fen) == (1_000 + AMOUNT, 1, AMOUNT)
    assert f.alarms(AlarmKind.TAMPER) == []


def test_the_same_purchase_queued_twice_is_written_once(farm):
    f = farm(*FARM)
    first, again = _queue(f), _queue(f)

    f.cycle()

    assert first.id == again.id
    assert f.snapshot("GW1", 1)["purchase_count"] == 1


def test_purchase_whose_ack_was_lost_is_recorded_applied_without_a_second_write(farm):
    f = farm(*FARM)
    cmd = _queue(f)
    f.sim_meter("GW1", 1).purchase(AMOUNT, 1)  # it reached the meter; the platform never heard back

    f.cycle()

    snap = f.snapshot("GW1", 1)
    assert (snap["remaining_fen"], snap["purchase_count"], snap["purchase_total_fen"]) == (1_000 + AMOUNT, 1, AMOUNT)
    assert db.session.get(ControlCommand, cmd.id).status == CommandStatus.APPLIED
    assert (f.meter("GW1", 1).purchase_count, f.meter("GW1", 1).purchase_total_fen) == (1, AMOUNT)
    assert f.alarms(AlarmKind.TAMPER) == []


def test_purchase_count_changed_behind_the_platforms_back_raises_tamper(farm):
    f = farm(*FARM)
    f.sim_meter("GW1", 1).purchase(800, 1)  # a top-up the platform never made

    f.cycle()

    [alarm] = f.alarms(AlarmKind.TAMPER)
    assert alarm.meter_id == f.meter("GW1", 1).id and "1 purchases" in alarm.message
    assert f.meter("GW1", 1).purchase_count == 0  # the platform's count is not rewritten


def test_purchase_is_not_written_while_counts_disagree(farm):
    f = farm(*FARM)
    f.sim_meter("GW1", 1).purchase(800, 1)
    cmd = _queue(f)

    f.cycle()

    assert f.snapshot("GW1", 1)["purchase_count"] == 1
    assert db.session.get(ControlCommand, cmd.id).status == CommandStatus.PENDING
    assert len(f.alarms(AlarmKind.TAMPER)) == 1


def test_two_purchases_that_reached_the_meter_before_a_lost_commit_are_recorded_not_rewritten(farm):
    f = farm(*FARM)
    f.cycle()
    first, second = _queue(f, "payment:P1"), _queue(f, "payment:P2")
    f.sim_meter("GW1", 1).purchase(AMOUNT, 1)  # both reached the meter; the cycle's commit was lost
    f.sim_meter("GW1", 1).purchase(AMOUNT, 2)

    f.cycle()

    snap = f.snapshot("GW1", 1)
    assert (snap["purchase_count"], snap["purchase_total_fen"]) == (2, 2 * AMOUNT)
    assert {db.session.get(ControlCommand, c.id).status for c in (first, second)} == {CommandStatus.APPLIED}
    assert f.alarms(AlarmKind.TAMPER) == []


def test_a_meter_mode_meter_is_given_the_tariffs_price_and_kept_at_it(farm):
    from portal.models import TariffVersion

    f = farm(*FARM)
    f.sim_meter("GW1", 1).set_price_e4(12_345)  # set by hand at the meter
    f.cycle()  # first read: the price register is checked and rewritten
    assert f.snapshot("GW1", 1)["price_e4"] == 10_000  # the farm's flat tariff: 1.0000 yuan

    version = db.session.execute(select(TariffVersion)).scalar_one()
    db.session.add(TariffVersion(tariff_id=version.tariff_id, effective_from=f.now, unit_price_e4=8_800))
    db.session.commit()
    for _ in range(15):  # the new price reaches the meter within a quarter of an hour
        f.cycle()
    assert f.snapshot("GW1", 1)["price_e4"] == 8_800


def test_meters_loaded_in_parts_are_each_given_the_price_and_the_tariff_is_read_once(farm, monkeypatch):
    """A cycle loads its meters a part at a time (worker.poller._loading_parts): every part's meter-mode meters get
    the tariff's price, and the site's tariff and its versions are read for the first part only."""
    from sqlalchemy import event

    from worker import poller

    f = farm(GW("GW1", (M(1, control_mode="meter", remaining_fen=1_000),)),
             GW("GW2", (M(1, control_mode="meter", remaining_fen=1_000),)))
    for code in ("GW1", "GW2"):
        f.sim_meter(code, 1).set_price_e4(12_345)  # set by hand at the meter
    monkeypatch.setattr(poller, "LOAD_FIRST", 1)  # a part for each gateway
    monkeypatch.setattr(poller, "LOAD_GROWTH", 1)
    versions_read: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):
        if "FROM tariff_versions" in statement and "JOIN tariffs" in statement:
            versions_read.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        f.cycle()
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    assert [f.snapshot(code, 1)["price_e4"] for code in ("GW1", "GW2")] == [10_000, 10_000]
    assert len(versions_read) == 1
