"""Money as exact integers: fen (分) everywhere, yuan only as text at the edges; prices in 0.0001 yuan.

No float ever holds an amount. Text becomes integers through `Decimal` and a pattern that says exactly what
is accepted, and integers become text by integer division. Three kinds of text meet here:

- what a person types (`parse_yuan`, `parse_units`): full-width digits, a ¥ or 元, no sign, no exponent, no
  thousands separator (a decimal comma would be a hundredfold error);
- what a payment platform sends or wants (`yuan_to_fen`, `fen_to_yuan`): plain decimals, nothing else;
- what a page or a spreadsheet shows (`format_yuan`, `yuan`, `format_price`).
"""
from __future__ import annotations

import re
import unicodedata
from decimal import Decimal

#: fen in one yuan
FEN_PER_YUAN = 100
#: price units (0.0001 yuan) in one yuan
E4_PER_YUAN = 10_000
#: what a page shows for an amount it does not have
MISSING = "—"

_TYPED = re.compile(r"(\d{1,9})(?:\.(\d+))?")
_PLATFORM = re.compile(r"(-?)([0-9]{1,12})(?:\.([0-9]{1,2}))?")


# --- what people type -----------------------------------------------------------------------------------

def parse_units(text: str | None, places: int, *, blank: int | None = None, digits: int = 9) -> int | None:
    """A non-negative decimal typed by a person ('5', '5.25', '１２.３', '¥8', '8元') in units of 10^-places.

    At most `digits` digits before the point and `places` after it. Blank text gives `blank` when one is
    given; everything else that is not such a decimal is a ValueError.
    """
    cleaned = unicodedata.normalize("NFKC", text or "").strip().replace("¥", "").replace("元", "").strip()
    if not cleaned and blank is not None:
        return blank
    found = _TYPED.fullmatch(cleaned)
    if found is None or len(found.group(1)) > digits or len(found.group(2) or "") > places:
        raise ValueError(f"not an amount with at most {places} decimals: {text!r}")
    return int(Decimal(f"{found.group(1)}.{found.group(2) or '0'}").scaleb(places))


def parse_yuan(text: str | None) -> int:
    """A yuan amount typed by a person ('50', '12.3', '12.34', full-width digits too) as integer fen."""
    return parse_units(text, 2)


def parse_price(text: str | None) -> int:
    """A price typed in yuan with at most four decimals as 0.0001 yuan: '0.6523' -> 6523."""
    return parse_units(text, 4, digits=7)


# --- what the payment platforms send and want -------------------------------------------------------------

def fen_to_yuan(fen: int) -> str:
    """Integer fen as a platform's amount string: 1234 -> '12.34'; only non-negative integers go out."""
    if type(fen) is not int or fen < 0:
        raise ValueError(f"an amount toward a payment platform must be a non-negative integer of fen, got {fen!r}")
    return yuan(fen)


def yuan_to_fen(text: str, signed: bool = False) -> int:
    """A platform's yuan string ('12.34', '7', '-0.01' when `signed`) as integer fen; ValueError otherwise."""
    found = _PLATFORM.fullmatch(text) if isinstance(text, str) else None
    if found is None or (found.group(1) and not signed):
        raise ValueError(f"not a yuan amount: {text!r}")
    fen = int(Decimal(found.group(2) + "." + (found.group(3) or "0")).scaleb(2))
    return -fen if found.group(1) else fen


# --- what pages and spreadsheets show --------------------------------------------------------------------

def yuan(fen: int) -> str:
    """Fen as plain yuan (spreadsheets, platforms, form values): -123456 -> '-1234.56'."""
    sign = "-" if fen < 0 else ""
    whole, part = divmod(abs(int(fen)), FEN_PER_YUAN)
    return f"{sign}{whole}.{part:02d}"


def format_yuan(fen: int | None) -> str:
    """Fen as yuan for people, thousands grouped: -123456 -> '-1,234.56'; None -> '—'."""
    if fen is None:
        return MISSING
    sign = "-" if fen < 0 else ""
    whole, part = divmod(abs(int(fen)), FEN_PER_YUAN)
    return f"{sign}{whole:,}.{part:02d}"


def format_money(fen: int) -> str:
    """Fen as money in a sentence: ¥12.50, and -¥2.50 for a debt (the sign before the currency, as a bill writes
    it)."""
    return ("-¥" if fen < 0 else "¥") + format_yuan(abs(fen))


def in_capitals(fen: int) -> str:
    """Fen in Chinese capitals as a receipt writes them (人民币大写): 123450 -> '壹仟贰佰叁拾肆元伍角整'.

    cn2an does the digits; the accounting rule (会计基础工作规范 §52) adds 整 after an amount that ends at
    元 or 角, never after 分; a debt is written 负...; zero is 零元整.
    """
    import cn2an  # here, not at the top: only receipts need it, and it loads its own tables on import

    if fen == 0:
        return "零元整"
    words = cn2an.an2cn(yuan(abs(int(fen))), "rmb")
    if not words.endswith(("分", "整")):
        words += "整"
    return ("负" if fen < 0 else "") + words


def format_price(e4: int | None) -> str:
    """A price in 0.0001 yuan with its four decimals: 6523 -> '0.6523'; None -> '—'."""
    if e4 is None:
        return MISSING
    whole, part = divmod(int(e4), E4_PER_YUAN)
    return f"{whole}.{part:04d}"
