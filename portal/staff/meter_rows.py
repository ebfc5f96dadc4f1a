"""A row of the meter list, alone or in its table: what it shows besides the meter, in words translated once per
request, and how often a row whose meter has a command waiting asks for itself (at its meter's page address:
portal.staff.meter_page answers a row's part there)."""
from __future__ import annotations

from datetime import timedelta

from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf.csrf import generate_csrf
from sqlalchemy import select

from portal.extensions import db
from portal.models import Meter, Site, utcnow
from portal.models.meter import SWITCHABLE_PROFILES
from portal.staff.meter_filters import OFF_REASONS
from portal.web.access import scoped
from portal.web.labels import label
from portal.web.roles import commands_for

#: a row with a command waiting asks for itself this often...
POLL_FAST = "2s"
#: ...and this often once the command has waited this long (its gateway is down: it will wait a while yet)
POLL_SLOW, SLOW_AFTER = "30s", timedelta(minutes=5)
#: the supply commands of a row and of a selection (keep-power has its terms: on the meter page)
SUPPLY_ACTIONS = ("trip", "close")


def row_poll(meter: Meter) -> str | None:
    """How often a row asks for itself again: while a command waits for the meter; None when none waits."""
    waiting = meter.pending_commands
    if not waiting:
        return None
    return POLL_FAST if utcnow() - max(c.created_at for c in waiting) < SLOW_AFTER else POLL_SLOW


def row_words(commands: list[str]) -> dict:
    """Every word a row shows, translated once per request: 50 rows asking gettext a dozen times each was most of
    the list's server time."""
    buttons = [("trip", _("Trip")), ("close", _("Close")), ("keep_power_off", _("End keep-power"))]
    return {
        "online": _("online"), "offline": _("offline"), "inferred": _("inferred"), "wanted": _("wanted"),
        "keep_power": _("keep-power"), "no_relay": _("no relay"), "waiting": _("waiting for the meter…"),
        "command": _("Command"), "reason": _("Reason"), "common_area": _("common area"),
        "supply_actual": _("Supply (actual)"), "water": _("water"), "electric": _("electricity"),
        **{value: str(label(value)) for value in ("on", "off", "platform", "meter")},
        "reasons": {code: str(text) for code, text in OFF_REASONS.items()},
        "buttons": [(action, text) for action, text in buttons if action in commands],
        "supply_commands": [a for a in SUPPLY_ACTIONS if a in commands],
        "may_end_keep_power": "keep_power_off" in commands, "csrf": generate_csrf(),
    }


def row_context(**extra) -> dict:
    """What a meter row shows besides the meter: which meters switch, which commands this user may send."""
    commands = commands_for(current_user.role)
    return {"switchable": SWITCHABLE_PROFILES, "commands": commands, "w": row_words(commands), "row_error": None,
            "reason": "",
            "row_poll": row_poll, "bulk": any(a in commands for a in SUPPLY_ACTIONS),
            "site_codes": dict(db.session.execute(scoped(select(Site.id, Site.code), Site.id)).tuples().all()),
            **extra}


