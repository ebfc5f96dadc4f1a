"""Staff pages: the meter list (filters, sorting, page jump), a row's commands with their reason, a row that
follows its meter until the meter acknowledges, and trip / close of a selection.

The filters and the sort are portal.staff.meter_filters'; a row's words and polling portal.staff.meter_rows; the
meter page (/staff/meters/<code>, which also answers a polling row) is portal.staff.meter_page. Who may send
which command is the role table's (portal.web.roles.COMMANDS); every command is the control domain's
`command_meter`, audited with its reason, one entry per meter.
"""
from __future__ import annotations

from flask import abort, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import joinedload, selectinload

from portal.control.commands import ACTIONS, CommandRefused, command_meter
from portal.extensions import db
from portal.models import Gateway, Meter
from portal.models.meter import SWITCHABLE_PROFILES
from portal.staff import meter_filters as mf
from portal.staff.blueprint import bp
from portal.staff.meter_page import control_answer
from portal.staff.meter_rows import SUPPLY_ACTIONS, row_context
from portal.web.access import require_area, scoped, scoped_or_404
from portal.web.htmx import fragment, render
from portal.web.params import BadParameter, page_arg, parse_id
from portal.web.roles import may_command

PAGE_SIZE = 50
#: the most meters one bulk command takes (a few pages of the list)
BULK_MAX = 500
REASON_MAX = 200
#: the bulk panel before anything is selected
BULK_NOTHING_YET = dict(action="trip", error=None, done=None, ready=[], refusals=[], missing=0)


def _row_options():
    return (joinedload(Meter.gateway), selectinload(Meter.pending_commands))


@bp.get("/meters")
@require_area("meters")
def meters():
    """The meter list of the user's sites, filtered and sorted as the URL says, a page at a time."""
    f = mf.parse_filters()
    page = page_arg()
    query = mf.filtered(scoped(mf.base_query(), Meter.site_id), f)
    total = db.session.scalar(mf.count_query(query))
    pages = max((total + PAGE_SIZE - 1) // PAGE_SIZE, 1)
    page = min(page, pages)  # a bookmark of a list that has since shrunk: its last page
    # the page's ids first, sorting narrow rows (an id and its keys), then those 50 meters with what they show:
    # sorting 10,000 whole rows of three tables cost several times more
    ids = db.session.scalars(mf.sorted_by(query.with_only_columns(Meter.id), f)
                             .limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)).all()
    loaded = {m.id: m for m in db.session.scalars(select(Meter).where(Meter.id.in_(ids)).options(
        joinedload(Meter.state), joinedload(Meter.account), *_row_options())).unique()}
    found = [loaded[i] for i in ids]
    return render("staff/meters/page.html", "staff/meters/_table.html", meters=found, filters=f,
                  args=mf.url_args(f), page=page, pages=pages, total=total,
                  page_only=lambda: {"gateways": _gateways(), "choices": mf.CHOICES, "sorts": mf.SORTS,
                                     "orders": mf.ORDERS, **BULK_NOTHING_YET},
                  **row_context())


def _gateways() -> list[Gateway]:
    return db.session.scalars(scoped(select(Gateway), Gateway.site_id).order_by(Gateway.code, Gateway.id)).all()


def _meter_in_scope(meter_id: int) -> Meter:
    meter = scoped_or_404(Meter, meter_id)
    db.session.refresh(meter)  # the row shows what the poller wrote since this session last looked
    return meter


def _reason() -> tuple[str, str | None]:
    """The form's reason and, when it is missing or too long, why it is refused."""
    reason = request.form.get("reason", "").strip()
    if not reason:
        return reason, _("Say why (the reason is kept with the command and in the audit log).")
    if len(reason) > REASON_MAX:
        return reason, _("The reason is at most %(most)s characters.", most=REASON_MAX)
    return reason, None


@bp.post("/meters/<int:meter_id>/command")
@require_area("meters")
def meter_command(meter_id: int):
    """Trip / close / end keep-power from a row, with a reason; answers with the row (a refusal: in the row)."""
    meter = scoped_or_404(Meter, meter_id)
    action = request.form.get("action", "")
    if action not in ACTIONS:
        abort(400, description=_("action must be one of: %(allowed)s", allowed=", ".join(ACTIONS)))
    if not may_command(current_user.role, action):
        abort(403)
    if action == "keep_power_on":  # it needs an end and, for an electrician, a manager: the meter page's form
        abort(400, description=_("Keep-power is granted on the meter page, with its reason and its end."))
    reason, error = _reason()
    if error is None:
        try:
            command_meter(db.session, meter, action, current_user.actor, reason)
        except CommandRefused as exc:
            db.session.rollback()
            error = str(exc)
        else:
            db.session.commit()
    if request.form.get("view") == "page":  # the meter page's form: its controls answer
        return control_answer(meter, error=error, message=None if error else _("Sent: waiting for the meter."))
    meter = _meter_in_scope(meter.id)
    return fragment("staff/meters/_row.html", refused=error is not None,
                    **row_context(m=meter, row_error=error, reason=reason if error else ""))


def _bulk_ids() -> tuple[list[int], str | None]:
    raw = request.form.getlist("meter")
    if not raw:
        return [], _("Choose the meters first (the boxes at the start of their rows).")
    if len(raw) > BULK_MAX:
        return [], _("At most %(most)s meters at once.", most=BULK_MAX)
    try:
        return sorted({parse_id("meter", v) for v in raw}), None
    except BadParameter as exc:
        abort(400, description=str(exc))


@bp.post("/meters/bulk-command")
@require_area("meters")
def meters_bulk():
    """Trip or close a selection: first the count to confirm ("Trip 37 meters?") and who is refused, then
    the commands, one audited command per meter; meters that cannot be commanded are listed, never skipped."""
    action = request.form.get("action", "")
    if action not in SUPPLY_ACTIONS:
        abort(400, description=_("action must be one of: %(allowed)s", allowed=", ".join(SUPPLY_ACTIONS)))
    if not may_command(current_user.role, action):
        abort(403)
    ids, error = _bulk_ids()
    reason, reason_error = _reason()
    error = error or reason_error
    context = dict(action=action, reason=reason, error=error, done=None, ready=[], refusals=[], missing=0)
    if error is None:
        found = db.session.scalars(scoped(select(Meter), Meter.site_id).where(Meter.id.in_(ids))
                                   .options(joinedload(Meter.account)).order_by(Meter.code, Meter.id)).all()
        context["missing"] = len(ids) - len(found)  # gone, or another site's: alike, as everywhere
        context["ready"] = [m for m in found if m.profile in SWITCHABLE_PROFILES]
        context["refusals"] = [(m, _("no relay or valve")) for m in found if m.profile not in SWITCHABLE_PROFILES]
        if request.form.get("confirm") == str(len(context["ready"])) and context["ready"]:
            done = []
            for meter in context["ready"]:
                try:
                    with db.session.begin_nested():
                        command_meter(db.session, meter, action, current_user.actor, reason)
                except CommandRefused as exc:
                    context["refusals"].append((meter, str(exc)))
                else:
                    done.append(meter)
            db.session.commit()
            context["done"] = done
        elif request.form.get("confirm"):  # the selection changed between the question and the answer
            context["error"] = _("The selection changed: check the count again.")
    answer = fragment("staff/meters/_bulk.html", refused=context["error"] is not None, **context)
    if context["done"]:
        answer.headers["HX-Trigger"] = "meters-changed"  # the table asks for itself again, rows waiting
    return answer


def list_url(args: dict, **more) -> str:
    """The meter list's address with these filters (and a page...)."""
    return url_for("staff.meters", **{**args, **more})


@bp.context_processor
def meter_list_helpers() -> dict:
    """The list's address builder for its templates."""
    return {"meter_list_url": list_url, "off_reason": lambda reason: mf.OFF_REASONS.get(reason, reason)}
