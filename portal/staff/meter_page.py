"""The meter page, /staff/meters/<code>: live values (polled), a readings chart, commands and their outcomes,
alarms, keep-power, the power limit, profile and wiring.

A meter code is unique within a site, not across sites: `?site=CODE` names the site; without it one match in the
user's scope is shown, several get a short chooser, none is a 404 (another site's meter too, as everywhere).
Keep-power needs a reason and an end: a manager grants it, an electrician asks a manager (portal.approvals).
"""
from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime, timedelta

from flask import abort, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select

from portal.approvals.proposals import ProposalRefused, propose_keep_power
from portal.control.commands import CommandRefused
from portal.control.keep_power import grant_keep_power
from portal.control.power_limit import LIMIT_MAX_W, LIMIT_MIN_W, set_power_limit
from portal.extensions import db
from portal.models import Alarm, ControlCommand, Meter, Proposal, ProposalKind, ProposalStatus, Site, Tariff, utcnow
from portal.models.meter import KEEP_POWER_PROFILES, SWITCHABLE_PROFILES
from portal.settings import business_tz
from portal.staff.blueprint import bp
from portal.staff.meter_chart import readings_chart
from portal.staff.meter_filters import OFF_REASONS
from portal.staff.meter_rows import row_context
from portal.web.access import require_area, scoped, scoped_or_404
from portal.web.alarm_text import kind_label
from portal.web.htmx import fragment, is_htmx, render
from portal.web.params import BadParameter, query_arg
from portal.web.roles import commands_for, may_command, may_open

#: seconds between two refreshes of the live values (a command's outcome shows within this)
LIVE_SECONDS = 5
COMMANDS_SHOWN, ALARMS_SHOWN = 30, 10
#: what a datetime-local field sends (seconds, when a browser adds them, are dropped)
_LOCAL_TIME = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2})(?::[0-9]{2}(?:\.[0-9]+)?)?")
#: a command in words (ControlCommand.action)
COMMAND_LABELS = {"trip": _l("Trip"), "close": _l("Close"), "keep_power_on": _l("Keep-power on"),
                  "keep_power_off": _l("Keep-power off"), "purchase": _l("Purchase"), "deduction": _l("Deduction"),
                  "power_limit": _l("Power limit")}
COMMAND_STATUSES = {"pending": _l("waiting for the meter"), "applied": _l("acknowledged"), "failed": _l("failed"),
                    "superseded": _l("replaced by a newer one")}
#: the end a keep-power form offers first
DEFAULT_TERM = timedelta(days=1)


def _site_code(name: str, text: str) -> str:
    if len(text) > 32:
        raise BadParameter(_("%(name)s is a site code of at most 32 characters", name=name))
    return text


@bp.get("/meters/<code>")
@require_area("meters")
def meter_page(code: str):
    """One meter by its code (and `?site=`), or a chooser when several sites have that code.

    htmx asks this address for a part by the part's id (HX-Target): a row of the list (`meter-<id>`), which
    follows its meter while a command waits, and this page's live values (`meter-live`). So every address a
    page polls is a page a person can open too.
    """
    site_code = query_arg("site", _site_code, "")
    query = scoped(select(Meter).join(Site, Site.id == Meter.site_id), Meter.site_id).where(Meter.code == code)
    if site_code:
        query = query.where(Site.code == site_code)
    found = db.session.scalars(query.order_by(Site.code).limit(50)).all()
    if not found:
        abort(404)
    if len(found) > 1:
        sites = {s.id: s for s in db.session.scalars(select(Site).where(Site.id.in_({m.site_id for m in found})))}
        return render("staff/meter/choose.html", "staff/meter/choose.html", meters=found, sites=sites, code=code)
    meter = found[0]
    part = request.headers.get("HX-Target", "") if is_htmx() else ""
    if part == f"meter-{meter.id}":  # a row of the list that follows its meter until the meter acknowledges
        return fragment("staff/meters/_row.html", **row_context(m=meter))
    if part == "meter-live":  # this page's live values, every few seconds
        return fragment("staff/meter/_live.html", **_live(meter))
    now = utcnow()
    return render("staff/meter/page.html", "staff/meter/page.html", **{**_live(meter), **control_context(meter)},
                  chart=readings_chart(db.session, meter.id, now, business_tz()), wiring=_wiring(meter),
                  alarms=db.session.scalars(select(Alarm).where(Alarm.meter_id == meter.id)
                                            .order_by(Alarm.raised_at.desc(), Alarm.id.desc())
                                            .limit(ALARMS_SHOWN)).all(),
                  site=db.session.get(Site, meter.site_id), off_reasons=OFF_REASONS)


def _wiring(meter: Meter) -> dict:
    site = db.session.get(Site, meter.site_id)
    tariff_id = meter.tariff_id or site.default_tariff_id
    return {"tariff": db.session.get(Tariff, tariff_id) if tariff_id else None,
            "site_default_tariff": meter.tariff_id is None,
            "parent": db.session.get(Meter, meter.parent_meter_id) if meter.parent_meter_id else None,
            "subs": db.session.scalars(select(Meter.code).where(Meter.parent_meter_id == meter.id)
                                       .order_by(Meter.code)).all()}


def _live(meter: Meter) -> dict:
    """The values the poller wrote last, and the meter's latest commands with their outcome."""
    commands = db.session.scalars(select(ControlCommand).where(ControlCommand.meter_id == meter.id)
                                  .order_by(ControlCommand.id.desc()).limit(COMMANDS_SHOWN)).all()
    return {"meter": meter, "st": meter.state, "recent_commands": commands, "live_seconds": LIVE_SECONDS,
            "site_code": db.session.scalar(select(Site.code).where(Site.id == meter.site_id)),
            "waiting": [c for c in commands if c.status.value == "pending"]}


def control_context(meter: Meter, **extra) -> dict:
    """What the meter page's controls offer this user: commands, keep-power (grant or ask), the power limit."""
    role = current_user.role
    waiting = db.session.scalars(select(Proposal).where(
        Proposal.meter_id == meter.id, Proposal.kind == ProposalKind.KEEP_POWER,
        Proposal.status == ProposalStatus.PROPOSED).order_by(Proposal.id)).all()
    until = (utcnow() + DEFAULT_TERM).astimezone(business_tz())
    return {"meter": meter, "commands": commands_for(role), "switchable": meter.profile in SWITCHABLE_PROFILES,
            "keeps_flag": meter.profile in KEEP_POWER_PROFILES,
            "may_grant": may_command(role, "keep_power_on"), "may_ask": may_open(role, "keep_power_requests"),
            "may_limit": may_open(role, "meter_settings"), "keep_power_waiting": waiting,
            "form_key": secrets.token_hex(16), "default_until": until.strftime("%Y-%m-%dT%H:%M"),
            "limit_min": LIMIT_MIN_W, "limit_max": LIMIT_MAX_W, "error": None, "message": None,
            "form": {}, **extra}


def control_answer(meter: Meter, *, error: str | None = None, message: str | None = None):
    """The meter page's controls again, with what was done or why it was refused (the form kept)."""
    db.session.refresh(meter)
    return fragment("staff/meter/_control.html", refused=error is not None,
                    **control_context(meter, error=error, message=message, form=request.form if error else {}))


def _until(text: str) -> datetime | None:
    """A datetime-local field (business time: YYYY-MM-DDTHH:MM) as UTC; None when blank or not such a time."""
    found = _LOCAL_TIME.fullmatch(text.strip())
    if not found:
        return None
    try:
        return datetime(*map(int, found.groups()), tzinfo=business_tz()).astimezone(UTC)
    except (ValueError, OverflowError):  # the 31st of April; the year 1 in Shanghai, which is no UTC year
        return None


@bp.post("/meters/<int:meter_id>/keep-power")
@require_area("meters")
def meter_keep_power(meter_id: int):
    """Keep-power with a reason and an end: granted now by a manager, asked for by an electrician."""
    meter = scoped_or_404(Meter, meter_id)
    role = current_user.role
    if not (may_command(role, "keep_power_on") or may_open(role, "keep_power_requests")):
        abort(403)
    reason, until = request.form.get("reason", ""), _until(request.form.get("until", ""))
    try:
        if may_command(role, "keep_power_on"):
            grant_keep_power(db.session, meter, reason, until, current_user.actor)
            message = _("Keep-power granted.")
        else:
            proposal = propose_keep_power(db.session, meter, reason, until, current_user.actor,
                                          request.form.get("form_key", ""))
            message = _("Asked: proposal %(no)s waits for a manager on the approvals page.", no=proposal.id)
    except (CommandRefused, ProposalRefused) as exc:
        db.session.rollback()
        return control_answer(meter, error=str(exc))
    db.session.commit()
    return control_answer(meter, message=message)


@bp.post("/meters/<int:meter_id>/power-limit")
@require_area("meter_settings")
def meter_power_limit(meter_id: int):
    """A manager sets the meter's power limit in W (blank: none), range-checked."""
    meter = scoped_or_404(Meter, meter_id)
    text = request.form.get("limit_w", "").strip().replace(",", "")
    if text and not (text.isascii() and text.isdigit() and len(text) <= 9):
        return control_answer(meter, error=_("The power limit is %(low)s W to %(high)s W (blank: no limit).",
                                       low=f"{LIMIT_MIN_W:,}", high=f"{LIMIT_MAX_W:,}"))
    try:
        changed = set_power_limit(db.session, meter, int(text) if text else None, current_user.actor)
    except CommandRefused as exc:
        db.session.rollback()
        return control_answer(meter, error=str(exc))
    db.session.commit()
    return control_answer(meter, message=_("Power limit saved.") if changed else _("Nothing changed."))


def meter_url(meter: Meter, site_code: str | None = None) -> str:
    """A meter's page, with its site's code (a code is unique per site only; the site is looked up once a
    request when the caller does not know it)."""
    if site_code is None:
        site = db.session.get(Site, meter.site_id)
        site_code = site.code if site is not None else None
    return url_for("staff.meter_page", code=meter.code, site=site_code)


@bp.context_processor
def meter_page_helpers() -> dict:
    """The meter page's address for every staff template."""
    return {"meter_url": meter_url, "command_label": lambda action: COMMAND_LABELS.get(action, action),
            "command_status": lambda status: COMMAND_STATUSES.get(status.value, status.value),
            "kind_label": kind_label, "off_reason": lambda reason: OFF_REASONS.get(reason, reason)}
