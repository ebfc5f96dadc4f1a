"""Accounting one read of a meter-mode meter against its books (portal.metering.books.account_read)."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from portal.metering.books import account_read, held
from portal.metering.books_check import step_fen
from portal.models import EntryKind, MeterKind

pytestmark = pytest.mark.no_db
T0 = datetime(2025, 3, 3, 4, 0, tzinfo=UTC)
T1 = T0 + timedelta(minutes=1)


def meter(count=0, bought=0, deducted=0, books=(1_000, 0, 0, T0), kind=MeterKind.ELECTRIC):
    """A meter as the cycle sees it after its writes: the platform's count and totals, and its books."""
    remaining, books_count, net, at = books if books is not None else (None, None, None, None)
    return SimpleNamespace(id=7, account_id=3, code="E7", kind=kind, purchase_count=count, purchase_total_fen=bought,
                           deduction_total_fen=deducted, books_remaining_fen=remaining, books_count=books_count,
                           books_net_fen=net, books_read_at=at)


def test_the_first_read_starts_the_books_and_debits_nothing():
    done = account_read(meter(books=None), 800, 0, [], T1)
    assert done.usage is None and done.problem is None
    assert done.books == dict(books_remaining_fen=800, books_count=0, books_net_fen=0, books_read_at=T1)


def test_a_decrease_is_a_usage_debit_keyed_by_meter_and_read():
    done = account_read(meter(), 970, 0, [], T1)
    assert (done.usage.fen, done.usage.kind, done.usage.key) == (30, EntryKind.ENERGY, f"usage:7:{T1.isoformat()}")
    assert done.books["books_remaining_fen"] == 970


def test_water_is_debited_as_water():
    assert account_read(meter(kind=MeterKind.WATER), 990, 0, [], T1).usage.kind == EntryKind.WATER


def test_writes_acknowledged_since_the_last_read_are_in_the_remaining_amount_it_shows():
    # a purchase of 500 (count 1) and a deduction of 200 (count 2) written after the last accounted read
    m = meter(count=2, bought=500, deducted=200)
    done = account_read(m, 1_250, 2, [], T1)
    assert done.usage.fen == 1_000 + 500 - 200 - 1_250
    assert (done.books["books_count"], done.books["books_net_fen"]) == (2, 300)


def test_writes_of_this_cycle_after_the_read_are_not_in_it():
    m = meter(count=1, bought=500)  # written this cycle after the read, as count 1
    done = account_read(m, 990, 0, [(1, 500)], T1)
    assert done.usage.fen == 10 and (done.books["books_count"], done.books["books_net_fen"]) == (0, 0)


def test_writes_found_on_the_meter_ahead_of_the_platform_are_in_it():
    m = meter(count=1, bought=500)  # recovered this cycle: the meter already shows count 1
    done = account_read(m, 1_490, 1, [(1, 500)], T1)
    assert done.usage.fen == 10 and done.books["books_net_fen"] == 500


def test_a_rise_without_a_write_is_a_problem_and_the_books_move_on():
    done = account_read(meter(), 1_500, 0, [], T1)
    assert done.usage is None and "rose by ¥5.00 without a write" in done.problem
    assert done.books["books_remaining_fen"] == 1_500


@pytest.mark.parametrize("count", [2, 5])
def test_a_count_the_platform_cannot_explain_leaves_the_books_alone(count):
    done = account_read(meter(count=1, bought=500), 900, count, [], T1)
    assert (done.usage, done.books, done.problem) == (None, None, None)


def test_a_read_not_newer_than_the_books_is_ignored():
    done = account_read(meter(books=(1_000, 0, 0, T1)), 900, 0, [], T1)
    assert done.usage is None and done.books is None


def test_nothing_moved_writes_nothing():
    done = account_read(meter(), 1_000, 0, [], T1)
    assert done.usage is None and done.books is None


def test_what_the_books_say_a_meter_holds():
    assert held(meter(count=2, bought=500, deducted=200)) == 1_300
    assert held(meter(books=None)) is None


@pytest.mark.parametrize("price, kind, step", [
    (10_000, MeterKind.ELECTRIC, 1), (10_001, MeterKind.ELECTRIC, 2), (0, MeterKind.ELECTRIC, 1),
    (350_000, MeterKind.ELECTRIC, 35), (45_000, MeterKind.WATER, 1), (450_000, MeterKind.WATER, 5)])
def test_one_price_step_is_what_one_register_unit_costs_in_whole_fen(price, kind, step):
    assert step_fen(price, kind) == step
