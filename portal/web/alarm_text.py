"""Alarms in the reader's language: the sentence of an alarm's message id (`data["what"]`), filled from its data.

portal.alarms stores what an alarm is about as data; this is the one place that turns it into words. Amounts
are fen in the data and yuan on the page; free text a device or a platform gave (an error) is shown as it came.
An alarm without data (raised before alarms carried it) or with an id this table does not know shows its
stored English sentence.
"""
from __future__ import annotations

from flask_babel import lazy_gettext as _l

from portal.models import Alarm, AlarmKind
from portal.money import format_money

#: the sentence of each message id; %(name_yuan)s is the value `name_fen` of the data as money
TEXTS = {
    "low_balance": _l("%(account)s: balance %(balance_yuan)s, at or below low level %(level)s "
                      "(%(level_yuan)s)"),
    "arrears": _l("%(account)s: in arrears, balance %(balance_yuan)s"),
    "arrears_held": _l("%(account)s: in arrears, balance %(balance_yuan)s; a safeguard keeps supply on"),
    "arrears_warned": _l("%(account)s: in arrears, balance %(balance_yuan)s; supply off after a "
                         "%(warning_minutes)s-minute warning"),
    "supply_off": _l("Meter %(meter)s: supply off (%(reason)s)"),
    "over_power": _l("%(meter)s: power %(power_w)s W above the limit %(limit_w)s W; tripped"),
    "meter_offline": _l("Meter %(meter)s not answering (%(why)s)"),
    "gateway_offline": _l("Gateway %(gateway)s (%(address)s) not answering"),
    "gateway_poll_failed": _l("Gateway %(gateway)s: poll failed: %(error)s"),
    "meter_problem": _l("%(meter)s: %(problem)s"),
    "write_failed": _l("%(meter)s: writing %(write)s failed: %(error)s; the rest of its gateway is served"),
    "write_unwritable": _l("%(meter)s: %(write)s cannot be written (no register holds it)"),
    "swap_over_books": _l("%(meter)s: the replaced meter held %(read_yuan)s, %(over_yuan)s more than its books "
                          "(%(books_yuan)s); the new meter was given the books' amount"),
    "books_mismatch": _l("%(account)s: the ledger holds %(ledger_yuan)s, the meters %(held_yuan)s with "
                         "%(queued_yuan)s queued for them; a difference of %(difference_yuan)s"),
    "reconciliation": _l("Reconciliation of %(day)s, %(source)s order %(order)s: %(mismatch)s (%(detail)s)"),
    "payment_held": _l("Order %(order)s for %(account)s: %(why)s; a refund of %(refund_yuan)s is proposed"),
    "payment_held_closure": _l("Order %(order)s for %(account)s: %(why)s; settle it at the shop's closure"),
    "notify_anomaly": _l("%(source)s notice for order %(order)s: %(why)s"),
}

#: reconciliation's kinds of mismatch (portal.payments.reconciliation.Mismatch.kind)
MISMATCHES = {
    "paid_not_credited": _l("paid but not credited"),
    "credited_not_on_bill": _l("credited but not on the platform's bill"),
    "amount_differs": _l("the amounts differ"),
}

#: why a meter's supply went off (portal.metering.supply.off_reason: the platform's reason, else the meter's)
OFF_REASONS = {
    "arrears": _l("balance used up"),
    "remote": _l("switched off by the property office"),
    "over_power": _l("power above the limit"),
    "closure": _l("shop closed"),
    "unknown": _l("switched off at the meter"),
}

KINDS = {
    AlarmKind.LOW_BALANCE_1: _l("Low balance (level 1)"),
    AlarmKind.LOW_BALANCE_2: _l("Low balance (level 2)"),
    AlarmKind.LOW_BALANCE_3: _l("Low balance (level 3)"),
    AlarmKind.ARREARS: _l("Arrears"),
    AlarmKind.SUPPLY_OFF: _l("Supply off"),
    AlarmKind.OVER_POWER: _l("Over power"),
    AlarmKind.METER_OFFLINE: _l("Meter offline"),
    AlarmKind.GATEWAY_OFFLINE: _l("Gateway offline"),
    AlarmKind.TAMPER: _l("Meter fault or tampering"),
    AlarmKind.PAYMENT_ANOMALY: _l("Payment anomaly"),
    AlarmKind.BOOKS_MISMATCH: _l("Meter books differ"),
}


def kind_label(kind: AlarmKind) -> str:
    return str(KINDS.get(kind, kind.value))


def alarm_text(alarm: Alarm) -> str:
    """What the alarm says, in the reader's language."""
    data = alarm.data or {}
    what = _variant(data)
    if what not in TEXTS:
        return alarm.message
    values = {key: ("" if value is None else value) for key, value in data.items()}
    for key, value in data.items():
        if key.endswith("_fen") and isinstance(value, int):
            values[key.removesuffix("_fen") + "_yuan"] = format_money(value)
    if "mismatch" in data:
        values["mismatch"] = str(MISMATCHES.get(data["mismatch"], data["mismatch"]))
    if what == "supply_off" and "reason" in data:
        values["reason"] = str(OFF_REASONS.get(data["reason"], data["reason"]))
    try:
        return str(TEXTS[what]) % values  # the translated sentence, filled
    except (KeyError, ValueError, TypeError):  # data of another shape than the sentence: say what was stored
        return alarm.message


def _variant(data: dict) -> str | None:
    """The message id, with the variants the data decides (a warning time, a refund or a closure)."""
    what = data.get("what")
    if what == "arrears" and data.get("held"):
        return "arrears_held"
    if what == "arrears" and data.get("warning_minutes"):
        return "arrears_warned"
    if what == "payment_held" and data.get("refund_fen") is None:
        return "payment_held_closure"
    return what
