"""Emergency credit: a fixed advance, taken once until repaid, repaid first from the next payment."""
from __future__ import annotations

import pytest

from portal.control.emergency import EmergencyRefused, emergency_refusal, repay_first, take_emergency_credit
from portal.extensions import db
from portal.models import ControlMode
from portal.payments.credit import after_money_in
from tests.control.conftest import OFF, ON, entries, pay, supply, use

ADVANCE = 2_000


def take(account):
    entry = take_emergency_credit(db.session, account, "tenant:1")
    db.session.commit()
    return entry


def refused(account) -> str:
    with pytest.raises(EmergencyRefused) as exc:
        take_emergency_credit(db.session, account, "tenant:1")
    db.session.rollback()
    return exc.value.reason


def test_taking_emergency_credit_posts_the_advance_and_restores_supply(shop):
    account = shop(balance_fen=100, emergency_credit_fen=ADVANCE)
    use(account, 100)
    assert supply(account) == [OFF]

    entry = take(account)

    assert (entry.kind.value, entry.amount_fen, entry.idempotency_key) == ("emergency", ADVANCE,
                                                                          f"emergency:{account.id}:1")
    assert (account.balance_fen, account.emergency_owed_fen) == (ADVANCE, ADVANCE)
    assert supply(account) == [ON]


def test_emergency_credit_is_offered_only_below_the_first_low_level(shop):
    account = shop(balance_fen=5_000, emergency_credit_fen=ADVANCE)  # level 1 is 5,000
    assert refused(account) == "balance_high"

    use(account, 1)

    assert emergency_refusal(account) is None


def test_emergency_credit_is_not_offered_where_the_site_sets_none(shop):
    assert refused(shop(balance_fen=0)) == "not_offered"


def test_emergency_credit_cannot_be_taken_again_until_repaid(shop):
    account = shop(balance_fen=100, emergency_credit_fen=ADVANCE)
    take(account)
    use(account, ADVANCE)

    assert refused(account) == "owed"
    assert [e[0] for e in entries(account)].count("emergency") == 1


def test_the_next_payment_repays_the_emergency_credit_first(shop):
    account = shop(balance_fen=100, emergency_credit_fen=ADVANCE)
    take(account)
    use(account, 1_500)

    pay(account, 5_000)

    assert entries(account) == [("opening", 100, 100), ("emergency", ADVANCE, 2_100), ("energy", -1_500, 600),
                                ("cash", 5_000, 5_600), ("emergency", -ADVANCE, 3_600)]
    assert account.emergency_owed_fen == 0


def test_once_repaid_emergency_credit_is_offered_again(shop):
    account = shop(balance_fen=100, emergency_credit_fen=ADVANCE)
    take(account)
    pay(account, ADVANCE)
    use(account, 100)  # back below the first level: 0 + 100 - 100

    entry = take(account)

    assert entry.idempotency_key == f"emergency:{account.id}:2"


def test_a_payment_smaller_than_the_advance_repays_part_and_keeps_the_rest_owed(shop):
    account = shop(balance_fen=100, emergency_credit_fen=ADVANCE)
    take(account)

    pay(account, 500)

    assert entries(account)[-1] == ("emergency", -500, 2_100)
    assert account.emergency_owed_fen == 1_500
    assert refused(account) == "owed"


def test_a_shop_in_arrears_after_repaying_stays_off(shop):
    account = shop(balance_fen=100, emergency_credit_fen=ADVANCE)
    take(account)
    use(account, ADVANCE + 100)
    assert supply(account) == [OFF]

    pay(account, ADVANCE)  # all of it repays the advance: the balance stays at 0

    assert (account.balance_fen, supply(account)) == (0, [OFF])


def test_fee_arrears_are_repaid_after_the_emergency_credit(shop):
    account = shop(balance_fen=100, emergency_credit_fen=ADVANCE)
    take(account)
    account.fee_arrears_fen = 3_000
    db.session.commit()

    pay(account, 4_000)

    assert entries(account)[-3:] == [("cash", 4_000, 6_100), ("emergency", -ADVANCE, 4_100), ("fee", -2_000, 2_100)]
    assert (account.emergency_owed_fen, account.fee_arrears_fen) == (0, 1_000)


def test_money_in_repays_only_once_for_one_cause(shop):
    account = shop(balance_fen=100, emergency_credit_fen=ADVANCE)
    take(account)

    assert repay_first(db.session, account, 500, "payment:X", "pay:alipay") == 0
    assert repay_first(db.session, account, 500, "payment:X", "pay:alipay") == 0
    db.session.commit()

    assert account.emergency_owed_fen == 1_500
    assert [e for e in entries(account) if e[0] == "emergency"] == [("emergency", ADVANCE, 2_100),
                                                                   ("emergency", -500, 1_600)]


def test_meter_mode_shops_are_not_offered_emergency_credit(shop, make_meter):
    account = shop(balance_fen=0, emergency_credit_fen=ADVANCE)
    make_meter(account=account, control_mode=ControlMode.METER)
    db.session.refresh(account)

    assert refused(account) == "meter_mode"


def test_a_meter_mode_shop_gets_only_what_is_left_after_repayment_written_into_its_meter(shop, make_meter):
    account = shop(balance_fen=0)
    meter = make_meter(account=account, control_mode=ControlMode.METER)
    account.fee_arrears_fen = 300
    db.session.commit()

    after_money_in(db.session, account, 1_000, "cash:test:mm", "staff:cashier")
    db.session.commit()

    purchases = [c.payload["amount_fen"] for c in meter.pending_commands if c.action == "purchase"]
    assert purchases == [700]


def test_a_rerun_after_full_repayment_leaves_the_shop_only_what_it_left_the_first_time(shop):
    account = shop(balance_fen=100, emergency_credit_fen=ADVANCE)
    take(account)

    first = repay_first(db.session, account, 3_000, "payment:Y", "pay:alipay")
    again = repay_first(db.session, account, 3_000, "payment:Y", "pay:alipay")

    assert (first, again, account.emergency_owed_fen) == (1_000, 1_000, 0)
