"""Human labels for enum values and for who did something, translatable (templates call `label` and `who`)."""
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

LABELS = {
    "admin": _l("administrator"),
    "manager": _l("property manager"),
    "cashier": _l("cashier"),
    "operator": _l("electrician"),
    "auditor": _l("auditor"),
    "platform": _l("platform account"),
    "meter": _l("meter account"),
    "on": _l("on"),
    "off": _l("off"),
    # how an allocation group splits its cost
    "fixed": _l("fixed shares"),
    "area": _l("floor area"),
    "consumption": _l("consumption"),
    # payment channels: staff read words, the codes stay in the API and the spreadsheets
    "alipay_wap": _l("Alipay"),
    "alipay_qr": _l("Alipay QR"),
    "wechat_native": _l("WeChat Pay QR"),
    "wechat_jsapi": _l("WeChat Pay"),
    "sandbox": _l("payment sandbox (demo)"),
}

#: the system's own jobs, as they sign the ledger and the audit log (`system:<job>`)
SYSTEM_ACTORS = {
    "billing": _l("billing run"), "balance": _l("balance rules"), "arrears": _l("arrears rules"),
    "fees": _l("monthly fees run"), "allocation": _l("allocation run"), "import": _l("site import"),
    "demo": _l("demo setup"), "books": _l("books check"), "keep_power": _l("keep-power end"),
}


def label(value) -> str:
    """The translated label of an enum member or its value; unknown values are shown as they are."""
    key = getattr(value, "value", value)
    return LABELS.get(key, key)


def who(actor: str | None, channel=None) -> str:
    """Words for an actor code: a staff user's name, "Alipay payer" for a 2088… buyer id, "the system"...

    `channel` is given when the actor is a payment's payer (a platform's buyer id or openid, meaningless
    to staff): the payer is then named by the platform.
    """
    actor = actor or ""
    if channel is not None:
        code = getattr(channel, "value", channel) or ""
        if code.startswith("wechat"):
            return _("WeChat payer")
        if code.startswith("alipay") or code == "sandbox":
            return _("Alipay payer")
        return _("payer")
    kind, _sep, name = actor.partition(":")
    if kind == "staff":
        return name
    if kind == "api":
        return _("%(name)s (API)", name=name)
    if kind == "tenant":
        return _("tenant")
    if kind == "system":
        return str(SYSTEM_ACTORS.get(name, _l("the system")))
    return _("payer") if actor else "—"
