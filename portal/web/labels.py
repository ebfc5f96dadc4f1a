"""Human labels for enum values, translatable (templates call `label(value)`)."""
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
}


def label(value) -> str:
    """The translated label of an enum member or its value; unknown values are shown as they are."""
    key = getattr(value, "value", value)
    return LABELS.get(key, key)
