"""What people are told of: every event, who hears it, whether quiet hours hold it, and its sentence.

An event's sentence is written out in the recipient's language from its params (strings: codes, yuan as
`12.34`, times as `2026-12-06 18:00`), for the channels that send text (the GSM modem, the log) and for the
delivery log; channels with templates (WeChat, Aliyun SMS) send the same params into the template configured
for the event (WECHAT_TEMPLATE_<EVENT>, ALIYUN_SMS_TEMPLATE_<EVENT>).

Urgent events (supply off and restored, a sign-in code) are never held by quiet hours and are sent before
the rest, so a burst of low-balance messages after a fee run does not hold up a shop's supply going off.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

from flask_babel import force_locale
from flask_babel import lazy_gettext as _l

from portal.models import Audience


@dataclass(frozen=True)
class Event:
    name: str
    audience: Audience
    #: a short name for pages (the delivery log, preferences, the templates' list)
    label: object
    #: the sentence, a format string over `params`
    sentence: object
    #: the params the sentence (and a template) uses, in order
    params: tuple[str, ...]
    #: never held by quiet hours; sent first
    urgent: bool = False
    #: a shop may turn it off (supply off and restored, and codes, always go)
    mutable: bool = True

    def text(self, params: dict[str, str], language: str = "zh") -> str:
        """The sentence in `language`, filled from `params` (a missing param reads as empty)."""
        return _sentence(self.name, language).format_map(_Lenient(params))


@functools.lru_cache(maxsize=256)
def _sentence(event: str, language: str) -> str:
    # translated once per event and language: a fee run writes ten thousand sentences, and switching the locale
    # for each was most of the time it took to route them
    with force_locale(language):
        return str(EVENTS[event].sentence)


class _Lenient(dict):
    def __missing__(self, key: str) -> str:
        return ""


def _tenant(name, label, sentence, params, **kw) -> Event:
    return Event(name, Audience.TENANT, label, sentence, params, **kw)


def _staff(name, label, sentence, params, **kw) -> Event:
    return Event(name, Audience.STAFF, label, sentence, params, **kw)


_SHOP = ("shop", "shop_name")

#: every event by name (the names are the suffixes of WECHAT_TEMPLATE_<EVENT> and ALIYUN_SMS_TEMPLATE_<EVENT>)
EVENTS: dict[str, Event] = {e.name: e for e in (
    _tenant("low_balance_1", _l("Low balance (level 1)"),
            _l("{shop} {shop_name}: your balance is ¥{balance}, below ¥{level}. Please top up."),
            (*_SHOP, "balance", "level")),
    _tenant("low_balance_2", _l("Low balance (level 2)"),
            _l("{shop} {shop_name}: your balance is ¥{balance}, below ¥{level}. Please top up soon."),
            (*_SHOP, "balance", "level")),
    _tenant("low_balance_3", _l("Low balance (level 3)"),
            _l("{shop} {shop_name}: your balance is only ¥{balance}. Top up now to keep your supply on."),
            (*_SHOP, "balance", "level")),
    _tenant("arrears", _l("Arrears warning"),
            _l("{shop} {shop_name}: your balance is ¥{balance}. Supply will be switched off at {trip_at} unless "
               "you pay ¥{restore} or more."),
            (*_SHOP, "balance", "trip_at", "restore")),
    # arrears while a safeguard holds the shop's supply on: no trip time to announce (`why`: WORDS["held"])
    _tenant("arrears_held", _l("Arrears (supply kept on)"),
            _l("{shop} {shop_name}: your balance is ¥{balance}, in arrears. Supply stays on ({why}); please pay "
               "¥{restore} or more."),
            (*_SHOP, "balance", "why", "restore")),
    _tenant("supply_off", _l("Supply off"),
            _l("{shop} {shop_name}: supply was switched off at {at} ({reason}). Pay ¥{restore} or more to "
               "restore it."),
            (*_SHOP, "at", "reason", "restore"), urgent=True, mutable=False),
    _tenant("supply_off_by_office", _l("Supply off (call the office)"),
            _l("{shop} {shop_name}: supply was switched off at {at} ({reason}). Please contact the property office "
               "to have it restored."),
            (*_SHOP, "at", "reason"), urgent=True, mutable=False),
    _tenant("supply_restored", _l("Supply restored"),
            _l("{shop} {shop_name}: supply was restored at {at}. Balance ¥{balance}."),
            (*_SHOP, "at", "balance"), urgent=True, mutable=False),
    _tenant("payment_credited", _l("Payment credited"),
            _l("{shop} {shop_name}: ¥{amount} received ({channel}). Balance ¥{balance}."),
            (*_SHOP, "amount", "channel", "balance")),
    _tenant("emergency_taken", _l("Emergency credit taken"),
            _l("{shop} {shop_name}: emergency credit of ¥{amount} is on your account; it is repaid from your "
               "next payment. Balance ¥{balance}."),
            (*_SHOP, "amount", "balance")),
    _tenant("emergency_repaid", _l("Emergency credit repaid"),
            _l("{shop} {shop_name}: your emergency credit of ¥{amount} is repaid. Balance ¥{balance}."),
            (*_SHOP, "amount", "balance")),
    _tenant("fee_posted", _l("Property fee charged"),
            _l("{shop} {shop_name}: the property fee of ¥{amount} for {month} was charged. Balance ¥{balance}."),
            (*_SHOP, "amount", "month", "balance")),
    _tenant("allocation_posted", _l("Common-area share charged"),
            _l("{shop} {shop_name}: your share of the common areas for {month} is ¥{amount}. Balance "
               "¥{balance}."),
            (*_SHOP, "amount", "month", "balance")),
    _tenant("over_power", _l("Power limit exceeded"),
            _l("{shop} {shop_name}: meter {meter} drew {watts} W, over its limit of {limit} W, and was switched "
               "off at {at}."),
            (*_SHOP, "meter", "watts", "limit", "at"), urgent=True, mutable=False),
    _tenant("login_code", _l("Sign-in code"),
            _l("Your PayFirst sign-in code is {code}. It is valid for 5 minutes; do not tell anyone."),
            ("code",), urgent=True, mutable=False),
    _staff("meter_offline", _l("Meter offline"),
           _l("{site}: meter {meter} ({shop}) has not answered since {at}."), ("site", "meter", "shop", "at")),
    _staff("meter_online", _l("Meter back online"),
           _l("{site}: meter {meter} ({shop}) answers again since {at}."), ("site", "meter", "shop", "at")),
    _staff("gateway_offline", _l("Gateway offline"),
           _l("{site}: gateway {gateway} has not answered since {at}."), ("site", "gateway", "at")),
    _staff("gateway_online", _l("Gateway back online"),
           _l("{site}: gateway {gateway} answers again since {at}."), ("site", "gateway", "at")),
    _staff("tamper", _l("Tamper"),
           _l("{site}: meter {meter} ({shop}) reports tampering: {detail}."), ("site", "meter", "shop", "detail")),
    _staff("books_mismatch", _l("Books mismatch"),
           _l("{site}: shop {shop}'s ledger balance ¥{ledger} differs from its meters' ¥{meters}."),
           ("site", "shop", "ledger", "meters")),
    _staff("payment_anomaly", _l("Payment anomaly"),
           _l("{site}: payment {order} ({shop}) needs a look: {detail}."), ("site", "order", "shop", "detail")),
    _staff("reconciliation_mismatch", _l("Reconciliation mismatch"),
           _l("{site}: the {channel} bill of {day} differs from our orders in {count} places."),
           ("site", "channel", "day", "count")),
    _staff("approval_waiting", _l("Approval waiting"),
           _l("{site}: {what} by {by} waits for a second person's approval."), ("site", "what", "by")),
    # a meter that answers but refuses a write (or holds a value no register can): its alarm reaches the staff too
    _staff("meter_write_failed", _l("Meter write failed"),
           _l("{site}: meter {meter} ({shop}) did not take the {write}: {error}."),
           ("site", "meter", "shop", "write", "error")),
)}

#: what a shop can turn off, for its preferences page
MUTABLE = tuple(e.name for e in EVENTS.values() if e.audience is Audience.TENANT and e.mutable)
