"""/staff/notifications/recipients: a site's staff recipients (portal.notify.recipients), who are told of its
alarms; a manager of the site (and admins) adds, edits and switches them off and on, auditors read the list.

The site is chosen among the reader's (?site=CODE, else the first); a recipient of another site gets the same 404
as one that does not exist. A refused form answers with the form and its first error in it (htmx: 200, a plain
post: 422).
"""
from __future__ import annotations

from flask import abort, flash, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from portal.extensions import db
from portal.models import NotifyRecipient, Site
from portal.notify.deliveries import masked
from portal.notify.events import EVENTS
from portal.notify.recipients import (
    STAFF_EVENTS,
    RecipientRefused,
    add_recipient,
    change_recipient,
    set_recipient_active,
)
from portal.staff.blueprint import bp
from portal.staff.notifications import my_sites, tabs
from portal.staff.notify_forms import ActiveForm, RecipientForm
from portal.staff.user_forms import first_error
from portal.web.access import require_area, scoped_or_404
from portal.web.htmx import go_to, render
from portal.web.params import query_arg, short_text
from portal.web.roles import may_open


def _chosen(code: str | None) -> tuple[list[Site], Site]:
    """The reader's sites and the one asked for (the first when none is); 404 when it is not theirs."""
    sites = my_sites()
    site = next((s for s in sites if s.code == code), None) if code else (sites[0] if sites else None)
    if site is None:
        abort(404)
    return sites, site


def _list(site: Site, sites: list[Site], form: RecipientForm | None = None, **shown) -> dict:
    recipients = db.session.scalars(select(NotifyRecipient).where(NotifyRecipient.site_id == site.id)
                                    .order_by(NotifyRecipient.active.desc(), NotifyRecipient.name)).all()
    return dict(tabs=tabs(), sites=sites, site=site, recipients=recipients, events=EVENTS,
                staff_events=STAFF_EVENTS, form=form or RecipientForm(formdata=None),
                may_manage=may_open(current_user.role, "notify_manage"),
                shown_address=(lambda a: a) if may_open(current_user.role, "notify_numbers") else masked,
                **{"error": None, "message": None, **shown})


@bp.get("/notifications/recipients")
@require_area("notify_recipients")
def notify_recipients():
    """A site's recipients: name, addresses, events, duty hours, active; and the form for a new one."""
    sites, site = _chosen(query_arg("site", short_text(40)))
    return render("staff/notifications/recipients.html", "staff/notifications/_recipients.html",
                  **_list(site, sites))


@bp.post("/notifications/recipients")
@require_area("notify_manage")
def new_notify_recipient():
    """Add a recipient to a site of the reader's (the site: the form's `site` code)."""
    sites, site = _chosen(request.form.get("site", "")[:40] or None)
    form = RecipientForm()
    error = None if form.validate() else first_error(form)
    if error is None:
        try:
            recipient = add_recipient(db.session, site.id, form.fields(), current_user.actor)
        except RecipientRefused as refused:
            db.session.rollback()
            error = str(refused)
        else:
            db.session.commit()
            return render("staff/notifications/recipients.html", "staff/notifications/_recipients.html",
                          **_list(site, sites, message=_("%(name)s will be told of the site's alarms.",
                                                         name=recipient.name)))
    return render("staff/notifications/recipients.html", "staff/notifications/_recipients.html", refused=True,
                  **{**_list(site, sites, form), "error": error})


def _recipient_or_404(recipient_id: int) -> NotifyRecipient:
    return scoped_or_404(NotifyRecipient, recipient_id)


def _one(recipient: NotifyRecipient, form: RecipientForm | None = None, **shown) -> dict:
    if form is None:
        form = RecipientForm(formdata=None, name=recipient.name, phone=recipient.phone,
                             wechat_openid=recipient.wechat_openid or "", events=list(recipient.events or ()),
                             duty_start=recipient.duty_start, duty_end=recipient.duty_end)
    return dict(tabs=tabs(), r=recipient, site=db.session.get(Site, recipient.site_id), form=form,
                staff_events=STAFF_EVENTS, events=EVENTS, **{"error": None, "message": None, **shown})


@bp.get("/notifications/recipients/<int:recipient_id>")
@require_area("notify_manage", to_change=True)
def notify_recipient(recipient_id: int):
    """One recipient's form, to change or switch off."""
    recipient = _recipient_or_404(recipient_id)
    return render("staff/notifications/recipient.html", "staff/notifications/_recipient.html", **_one(recipient))


@bp.post("/notifications/recipients/<int:recipient_id>")
@require_area("notify_manage")
def save_notify_recipient(recipient_id: int):
    """Save a recipient's name, addresses, events and duty hours."""
    recipient = _recipient_or_404(recipient_id)
    form = RecipientForm()
    error = None if form.validate() else first_error(form)
    if error is None:
        try:
            changed = change_recipient(db.session, recipient, form.fields(), current_user.actor)
        except RecipientRefused as refused:
            db.session.rollback()
            error = str(refused)
        else:
            db.session.commit()
            return render("staff/notifications/recipient.html", "staff/notifications/_recipient.html",
                          **_one(recipient, message=_("Saved.") if changed else _("Nothing changed.")))
    return render("staff/notifications/recipient.html", "staff/notifications/_recipient.html", refused=True,
                  **{**_one(recipient, form), "error": error})


@bp.post("/notifications/recipients/<int:recipient_id>/active")
@require_area("notify_manage")
def notify_recipient_active(recipient_id: int):
    """Switch a recipient off (told of nothing from now on) or on again; back to the site's list."""
    recipient = _recipient_or_404(recipient_id)
    form = ActiveForm()
    error = None if form.validate() else first_error(form)
    if error is None:
        try:
            active = form.active.data == "1"
            changed = set_recipient_active(db.session, recipient, active, current_user.actor)
        except RecipientRefused as refused:
            db.session.rollback()
            error = str(refused)
        else:
            db.session.commit()
            if changed:
                flash(_("%(name)s is told of the site's alarms again.", name=recipient.name) if active else
                      _("%(name)s is told of nothing from now on.", name=recipient.name), "info")
            site = db.session.get(Site, recipient.site_id)
            return go_to(url_for("staff.notify_recipients", site=site.code))
    return render("staff/notifications/recipient.html", "staff/notifications/_recipient.html", refused=True,
                  **{**_one(recipient), "error": error})
