"""How the events' params are written (portal.notify.events): plain strings, the same for every channel.

Money is yuan as `12.34` (a debt `-2.50`), an instant is business time to the minute (`2026-12-06 18:00`),
and a word (a reason, a payment channel, what waits for approval) is written in the business's language,
Chinese, as the sentences are by default. Shops, sites, meters and gateways are named by their codes (a shop by
its name too), looked up set-wise: a poll cycle or a monthly run tells thousands at once.
"""
from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import NamedTuple

from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.bulk import among, chunks
from portal.models import Account, AccountStatus, Gateway, Meter, Site
from portal.money import yuan
from portal.settings import business_tz

#: the language the words in params are written in: the sentences' own default (Event.text)
LANGUAGE = "zh"

#: words that params carry, by what they say and their code
WORDS = {
    # why supply went off: a meter's desired_reason, or the reason a meter gives for tripping itself
    "reason": {
        "arrears": _l("balance used up"),
        "remote": _l("switched off by the property office"),
        "over_power": _l("power above the limit"),
        "unknown": _l("switched off at the meter"),
    },
    # why a shop in arrears keeps its supply (portal.control.balance.Safeguards.holding_shop)
    "held": {
        "exempt": _l("your shop is exempt from switch-off"),
        "keep_power": _l("keep-power is granted"),
        "no_trip_time": _l("it is a time when supply is not switched off"),
    },
    # how money came in: a payment order's channel, a counter recharge's method
    "paid": {
        "alipay_wap": _l("Alipay"),
        "alipay_qr": _l("Alipay"),
        "wechat_native": _l("WeChat Pay"),
        "wechat_jsapi": _l("WeChat Pay"),
        "sandbox": _l("payment sandbox"),
        "cash": _l("cash at the counter"),
        "transfer": _l("bank transfer"),
        "api": _l("recharge by the property office"),
    },
    # what a manager is asked to approve: a proposal's kind, or a refund
    "asks": {
        "recharge": _l("a counter recharge"),
        "closure": _l("an account closure"),
        "transfer": _l("a balance transfer"),
        "adjustment": _l("a manual adjustment"),
        "meter_swap": _l("a meter replacement"),
        "keep_power": _l("keep-power"),
        "refund": _l("a refund"),
    },
    # what the platform writes into a meter (a write's kind, portal.metering.cycle / worker.relays)
    "write": {
        "supply": _l("supply switch"),
        "keep_power": _l("keep-power"),
        "power_limit": _l("power limit"),
        "price": _l("price"),
        "purchase": _l("purchase write"),
        "deduction": _l("deduction write"),
        "error": _l("reconciliation of its state"),
    },
    # whose bill a reconciliation read
    "bill": {"alipay": _l("Alipay"), "wechat": _l("WeChat Pay")},
    # a meter without a shop; the platform's own jobs as an actor
    "who": {"common": _l("common area"), "system": _l("the system")},
}


def word(what: str, code: str) -> str:
    """The word for a code of WORDS[what] in LANGUAGE; an unknown code is written as it is."""
    found = WORDS[what].get(code)
    if found is None:
        return code
    with force_locale(LANGUAGE):
        return str(found)


def asking(asks: str, shop: str, amount_fen: int | None) -> str:
    """What a manager is asked to approve, in LANGUAGE: the operation, its shop and the money it moves."""
    with force_locale(LANGUAGE):
        if amount_fen:
            return str(_l("%(asks)s for %(shop)s, ¥%(amount)s", asks=word("asks", asks), shop=shop,
                          amount=money(abs(amount_fen))))
        return str(_l("%(asks)s for %(shop)s", asks=word("asks", asks), shop=shop))


def money(fen: int) -> str:
    """Fen as yuan: 1234 -> '12.34', -250 -> '-2.50'."""
    return yuan(fen)


def when(at: datetime) -> str:
    """An instant in business time, to the minute: '2026-12-06 18:00'."""
    return at.astimezone(business_tz()).strftime("%Y-%m-%d %H:%M")


def by(actor: str) -> str:
    """Who did it, for a sentence: a staff user's or an API token's name; the system's jobs as one word."""
    kind, _sep, name = actor.partition(":")
    if kind == "system":
        return word("who", "system")
    return name if kind in ("staff", "api") and name else actor


class Shop(NamedTuple):
    """What the sentences say of a shop, and where it is."""

    id: int
    code: str
    name: str
    site_id: int
    balance_fen: int
    #: not closed: a closed shop is told nothing more (its balance and its supply are no longer its news)
    open: bool

    def params(self) -> dict[str, str]:
        """The params every tenant event starts with."""
        return {"shop": self.code, "shop_name": self.name}


def shops(session: Session, ids: Iterable[int]) -> dict[int, Shop]:
    """{account id: Shop}, as the database holds them now (balances after this transaction's postings)."""
    session.flush()
    found: dict[int, Shop] = {}
    for part in chunks(sorted(set(ids))):
        found.update((r.id, Shop(*r)) for r in session.execute(
            select(Account.id, Account.code, Account.name, Account.site_id, Account.balance_fen,
                   Account.status == AccountStatus.ACTIVE).where(among(session, Account.id, part))))
    return found


def codes(session: Session, model, ids: Iterable[int]) -> dict[int, str]:
    """{id: code} of sites, meters or gateways."""
    assert model in (Site, Meter, Gateway)
    wanted = sorted({i for i in ids if i is not None})
    found: dict[int, str] = {}
    for part in chunks(wanted):
        found.update(session.execute(select(model.id, model.code).where(among(session, model.id, part))).tuples().all())
    return found
