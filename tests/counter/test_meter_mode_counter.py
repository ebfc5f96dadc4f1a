"""Money that leaves a meter-mode shop at the counter leaves its meter too: one set of books (SPEC §3)."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from portal.counter import operations as ops
from portal.counter.adjustments import adjust_balance
from portal.extensions import db
from portal.models import CommandStatus, ControlCommand, ControlMode

KEY, OTHER_KEY = "c" * 32, "d" * 32


@pytest.fixture
def meter_shop(make_site, make_account, make_meter):
    """A meter-mode shop holding ¥100.00 in its meter (the books say so), and a neighbour at the same site."""
    site = make_site("books-mall")
    shop = make_account(site=site, code="M101", balance_fen=10_000)
    meter = make_meter(account=shop, code="P201", control_mode=ControlMode.METER,
                       state={"online": True, "remaining_fen": 10_000})
    meter.books_remaining_fen, meter.books_count, meter.books_net_fen = 10_000, 0, 0
    db.session.commit()
    return shop, meter, make_account(site=site, code="M102")


def writes(meter) -> list[tuple[str, int, CommandStatus]]:
    return [(c.action, c.payload["amount_fen"], c.status) for c in db.session.scalars(
        select(ControlCommand).where(ControlCommand.meter_id == meter.id,
                                     ControlCommand.action.in_(("purchase", "deduction"))).order_by(ControlCommand.id))]


def test_a_transfer_out_of_a_meter_mode_shop_is_deducted_from_its_meter(meter_shop):
    shop, meter, neighbour = meter_shop
    ops.transfer_balance(db.session, shop, neighbour, 4_000, "new lease", "staff:c", KEY)
    ops.transfer_balance(db.session, shop, neighbour, 4_000, "new lease", "staff:c", KEY)  # sent twice
    db.session.commit()
    assert writes(meter) == [("deduction", 4_000, CommandStatus.PENDING)]


def test_a_manual_debit_of_a_meter_mode_shop_is_deducted_from_its_meter(meter_shop):
    shop, meter, _ = meter_shop
    adjust_balance(db.session, shop, -1_500, "meter box repair", "staff:m", KEY)
    adjust_balance(db.session, shop, 2_000, "goodwill", "staff:m", OTHER_KEY)
    db.session.commit()
    assert writes(meter) == [("deduction", 1_500, CommandStatus.PENDING), ("purchase", 2_000, CommandStatus.PENDING)]


def test_closing_a_meter_mode_shop_empties_its_meter_and_its_books_stand_at_the_reading(meter_shop):
    shop, meter, _ = meter_shop
    closure = ops.close_account(db.session, shop, "moved out", "staff:c", meter_remaining_fen=9_200)
    db.session.commit()
    assert closure.payout_fen == 9_200 and shop.balance_fen == 0
    assert writes(meter)[-1] == ("deduction", 9_200, CommandStatus.PENDING)
    assert meter.books_remaining_fen == 9_200  # the ¥8.00 used since the last poll is posted once, not again
