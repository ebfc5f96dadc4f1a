"""Money: exact integers from what people type and platforms send, and text for pages and spreadsheets."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from portal.money import (
    fen_to_yuan,
    format_price,
    format_yuan,
    parse_price,
    parse_units,
    parse_yuan,
    yuan,
    yuan_to_fen,
)

pytestmark = pytest.mark.no_db


@pytest.mark.parametrize("text, fen", [("200", 20_000), ("200.5", 20_050), ("0.01", 1), ("88.88", 8_888),
                                       ("１２.３４", 1_234), ("19.99", 1_999), ("0.29", 29)])
def test_yuan_typed_at_the_counter_becomes_exact_fen(text, fen):
    assert parse_yuan(text) == fen


@pytest.mark.parametrize("text", ["", "abc", "-5", "1e3", "12,50", "1.234", ".5", "NaN", "inf", "1 000", "0x1F"])
def test_nonsense_yuan_is_refused(text):
    with pytest.raises(ValueError):
        parse_yuan(text)


@pytest.mark.parametrize("fen, shown", [(0, "0.00"), (5, "0.05"), (-1234, "-12.34"), (123456789, "1,234,567.89"),
                                        (-100000, "-1,000.00"), (None, "—")])
def test_pages_show_yuan_with_thousands_grouped(fen, shown):
    assert format_yuan(fen) == shown


@pytest.mark.parametrize("fen, text", [(0, "0.00"), (-123456, "-1234.56"), (100, "1.00"), (7, "0.07")])
def test_spreadsheets_get_plain_signed_yuan(fen, text):
    assert yuan(fen) == text


@given(st.integers(min_value=-10**12, max_value=10**12))
def test_plain_yuan_reads_back_to_the_same_fen(fen):
    assert yuan_to_fen(yuan(fen), signed=True) == fen


@given(st.integers(min_value=0, max_value=10**11 - 1))  # up to 999,999,999.99 yuan
def test_what_a_page_shows_a_person_can_type_back(fen):
    assert parse_yuan(format_yuan(fen).replace(",", "")) == fen


@pytest.mark.parametrize("bad", [-1, 1.5, True, "100", None])
def test_only_non_negative_integer_fen_go_to_a_platform(bad):
    with pytest.raises(ValueError):
        fen_to_yuan(bad)


@pytest.mark.parametrize("text", ["12.345", "1e2", "+1", " 1", "1,00", "NaN", "", None, "-0.01"])
def test_platform_amounts_are_plain_decimals_only(text):
    with pytest.raises(ValueError):
        yuan_to_fen(text)


@pytest.mark.parametrize("e4, shown", [(6523, "0.6523"), (52000, "5.2000"), (0, "0.0000"), (None, "—")])
def test_prices_show_four_decimals(e4, shown):
    assert format_price(e4) == shown


def test_prices_are_typed_with_at_most_four_decimals():
    assert parse_price("0.6523") == 6523 and parse_price("¥2") == 20_000 and parse_price("１.２") == 12_000
    for bad in ("0.65231", "12345678", "-1", "1,5"):
        with pytest.raises(ValueError):
            parse_price(bad)


def test_a_blank_amount_is_the_default_only_when_one_is_given():
    assert parse_units("", 2, blank=0) == 0 and parse_units("  ", 4, blank=7) == 7
    with pytest.raises(ValueError):
        parse_units("", 2)
    assert parse_units("8元", 2) == 800 and parse_units("1.5", 3) == 1500


@pytest.mark.parametrize("fen, words", [
    (123450, "壹仟贰佰叁拾肆元伍角整"), (5, "伍分"), (100000000, "壹佰万元整"), (1000, "壹拾元整"),
    (10001, "壹佰元零壹分"), (50, "伍角整"), (101010, "壹仟零壹拾元壹角整"), (-250, "负贰元伍角整"), (0, "零元整"),
    (8850, "捌拾捌元伍角整"), (120003, "壹仟贰佰元零叁分"),
])
def test_amounts_in_chinese_capitals_follow_the_accounting_rule(fen, words):
    """整 after an amount that ends at 元 or 角, never after 分; 零 for the skipped places; 负 for a debt."""
    from portal.money import in_capitals

    assert in_capitals(fen) == words


@pytest.mark.no_db
def test_money_in_a_sentence_puts_a_debts_sign_before_the_currency():
    from portal.money import format_money

    assert (format_money(1_250), format_money(-250), format_money(0), format_money(123_456_789)) == (
        "¥12.50", "-¥2.50", "¥0.00", "¥1,234,567.89")
