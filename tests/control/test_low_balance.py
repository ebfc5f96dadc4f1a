"""Low-balance alarms at three levels: each raised once per crossing, cleared when a recharge lifts it."""
from __future__ import annotations

import itertools
import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from portal.control.balance import LOW_KINDS, enforce_balance
from portal.extensions import db
from portal.ledger.entries import post_entry
from portal.models import EntryKind
from tests.control.conftest import WORKDAY, alarms, pay, use

LEVELS = [5_000, 2_000, 500]  # the site's defaults
_keys = itertools.count(1)


def open_levels(account) -> list[int]:
    """Which level numbers (1..3) have an open alarm."""
    return [n for n, kind in enumerate(LOW_KINDS, start=1) if alarms(account, kind)]


def test_crossing_the_first_level_raises_only_its_alarm(shop):
    account = shop(balance_fen=6_000)

    use(account, 1_000)

    assert open_levels(account) == [1]


def test_a_level_is_crossed_at_the_level_itself(shop):
    account = shop(balance_fen=6_000)
    use(account, 999)
    assert open_levels(account) == []

    use(account, 1)

    assert open_levels(account) == [1]


def test_falling_past_several_levels_at_once_raises_each(shop):
    account = shop(balance_fen=6_000)

    use(account, 5_600)

    assert open_levels(account) == [1, 2, 3]


def test_each_level_alarms_once_however_often_the_shop_is_billed(shop):
    account = shop(balance_fen=5_100)
    for _ in range(4):
        use(account, 100)  # 5,000 (crossed), 4,900, 4,800, 4,700

    assert len(alarms(account, LOW_KINDS[0], open_only=False)) == 1


def test_a_recharge_clears_the_levels_it_lifts_the_balance_above(shop):
    account = shop(balance_fen=6_000)
    use(account, 5_600)  # 400: all three

    pay(account, 1_700)  # 2,100: above levels 2 and 3, still at or below level 1

    assert open_levels(account) == [1]


def test_crossing_again_after_a_recharge_raises_a_new_alarm(shop):
    account = shop(balance_fen=6_000)
    use(account, 1_000)
    pay(account, 1_000)
    use(account, 1_000)

    raised = alarms(account, LOW_KINDS[0], open_only=False)
    assert [a.cleared_at is not None for a in raised] == [True, False]


def test_a_site_may_use_fewer_levels(shop):
    account = shop(balance_fen=6_000, low_balance_levels_fen=[1_000])

    use(account, 5_800)

    assert open_levels(account) == [1]


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(moves=st.lists(st.integers(min_value=-3_000, max_value=3_000).filter(bool), min_size=1, max_size=8))
def test_law_open_alarms_are_the_crossed_levels_and_each_crossing_alarms_once(shop, moves):
    account = shop(balance_fen=6_000)
    crossings = [0, 0, 0]
    balance = 6_000
    for move in moves:
        before, balance = balance, balance + move
        for i, level in enumerate(LEVELS):
            crossings[i] += before > level >= balance
        post_entry(db.session, account, move, EntryKind.ADJUSTMENT, f"law:{next(_keys)}")
        enforce_balance(db.session, account, now=WORKDAY)
        db.session.commit()

    assert open_levels(account) == [n for n, level in enumerate(LEVELS, start=1) if balance <= level]
    assert [len(alarms(account, kind, open_only=False)) for kind in LOW_KINDS] == crossings


def test_a_batch_of_shops_crossing_levels_reads_the_sites_once(shop):
    """The cycle's rules after a batch of debits: every site's levels are read once for the batch, not once per step
    (the busy shops, their low levels, their arrears)."""
    from sqlalchemy import event

    from portal.control.balance import apply_balance_rules

    shops = [shop(balance_fen=6_000), shop(balance_fen=600), shop(balance_fen=100, overdraft_limit_fen=0)]
    for account in shops:
        post_entry(db.session, account, -1_000, EntryKind.ENERGY, f"energy:test:{next(_keys)}")
    seen = []

    def listener(conn, cursor, statement, *args):
        if re.search(r"\bFROM sites\b", statement):
            seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", listener)
    try:
        apply_balance_rules(db.session, [a.id for a in shops], WORKDAY)
    finally:
        event.remove(db.engine, "before_cursor_execute", listener)
    db.session.commit()
    assert [open_levels(a) for a in shops] == [[1], [1, 2, 3], [1, 2, 3]]
    assert len(seen) == 1, seen
