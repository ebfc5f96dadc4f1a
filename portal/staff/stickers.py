"""Printable meter-box sticker sheets for a site (/staff/stickers): an A4 page of stickers, each with the QR code of
the shop's `/r/<token>`, its code, its name and its binding code.

Binding codes are stored hashed (portal.auth.binding): a printed code cannot be read back, so printing is issuing.
A manager (the role that issues binding codes) chooses the shops to print; the sheet gives each of them a new
code, and the code printed before on their stickers and bills stops working. So the page ticks the shops that
never had a code (a new site, a new shop) and nothing else, asks a separate confirmation when a chosen shop has
a code already, and prints at most MAX_SHEET shops at a time (a code costs a deliberate hash). The sheet answers
the POST that issued the codes, is never cached, and the audit log keeps who printed which shops. The sticker's
QR stays good whatever happens to its code: its token is made once (`accounts binding-codes` is the same verb on
the command line, for a whole site into a spreadsheet; the shops' monthly bills, portal.staff.bills, issue theirs
through the same `issue_for_print` and draw the same QR).
"""
from __future__ import annotations

import qrcode
from flask import abort, make_response, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from qrcode.image.svg import SvgPathImage
from sqlalchemy import select

from portal.auth.binding import STICKER_PATH, PrintedCodesInUse, issue_for_print, printed
from portal.extensions import db
from portal.models import Account, AccountStatus, Site
from portal.settings import public_url
from portal.staff.blueprint import bp
from portal.web.access import require_area, scoped
from portal.web.htmx import render
from portal.web.params import BadParameter, one_of, query_arg

#: the most stickers one sheet issues (8 A4 pages of 12): each code is a deliberate scrypt hash
MAX_SHEET = 96
#: stickers on an A4 page (3 across, 4 down)
PER_PAGE = 12
#: which shops the chooser ticks: those that never had a code (the default), all, or none
TICKS = ("new", "all", "none")
AREA = "account_binding_codes"


def sticker_qr(url: str) -> str:
    """The QR code of a sticker's address as inline SVG (error correction M: a sticker gets scuffed)."""
    return qrcode.make(url, image_factory=SvgPathImage, error_correction=qrcode.constants.ERROR_CORRECT_M,
                       border=2).to_string(encoding="unicode")


def sticker_address(account: Account) -> dict[str, str]:
    """The shop's sticker address (`url`, its `/r/<token>`) and its QR code (`qr`); the shop has a token (issuing
    its first binding code made it)."""
    url = public_url(STICKER_PATH + account.sticker_token)
    return dict(url=url, qr=sticker_qr(url))


def codes_in_use(refused: PrintedCodesInUse) -> str:
    """What a print that would void printed codes without the confirmation is told."""
    return _("%(n)s of the chosen shops have a binding code already: tick the box that says their printed codes "
             "stop working, or untick them.", n=len(refused.accounts))


def _site_code(name: str, text: str) -> str:
    if len(text) > 32:
        raise BadParameter(_("%(name)s is a site code of at most 32 characters", name=name))
    return text


def _my_sites() -> list[Site]:
    return list(db.session.scalars(scoped(select(Site), Site.id).order_by(Site.code)))


def _site(code: str | None, sites: list[Site]) -> Site | None:
    """The site asked for among the user's (404 for another's or none: a site code cannot be probed); the only
    one when the user has one and asked for none."""
    if code is None:
        return sites[0] if len(sites) == 1 else None
    found = next((s for s in sites if s.code == code), None)
    if found is None:
        abort(404)
    return found


def _open_shops(site: Site) -> list[Account]:
    return list(db.session.scalars(select(Account).where(
        Account.site_id == site.id, Account.status == AccountStatus.ACTIVE).order_by(Account.code)))


def _chooser(site: Site | None, sites: list[Site], *, ticked: set[int] | None = None, error: str | None = None,
             refused: bool = False):
    shops = _open_shops(site) if site else []
    if ticked is None:
        tick = query_arg("tick", one_of(TICKS), "new")
        ticked = {a.id for a in shops if tick == "all" or (tick == "new" and a.binding_code_hash is None)}
    return render("staff/stickers.html", "staff/_stickers.html", refused=refused, site=site, sites=sites,
                  shops=shops, ticked=ticked, error=error, max_sheet=MAX_SHEET)


@bp.get("/stickers")
@require_area(AREA, to_change=True)
def stickers():
    """Choose a site's shops to print stickers for (those without a binding code are ticked)."""
    sites = _my_sites()
    return _chooser(_site(query_arg("site", _site_code), sites), sites)


def _chosen(site: Site) -> list[Account]:
    """The open shops of the site that the form chose (ids of other sites' shops are ignored)."""
    try:
        ids = {int(i) for i in request.form.getlist("account")[:MAX_SHEET + 1]}
    except ValueError:
        abort(400, description=_("account must be a shop's id"))
    return [a for a in _open_shops(site) if a.id in ids]


@bp.post("/stickers")
@require_area(AREA, to_change=True)
def print_stickers():
    """Issue new binding codes to the chosen shops and answer their sticker sheet (shown this once)."""
    sites = _my_sites()
    site = _site(request.form.get("site", "")[:32], sites)
    shops = _chosen(site)
    ticked = {a.id for a in shops}
    if not shops:
        return _chooser(site, sites, ticked=ticked, refused=True, error=_("Tick the shops to print stickers for."))
    if len(shops) > MAX_SHEET:
        return _chooser(site, sites, ticked=ticked, refused=True, error=_(
            "At most %(most)s stickers at a time: untick some, and print the rest next.", most=MAX_SHEET))
    try:
        issued = issue_for_print(db.session, site.id, shops, current_user.actor, "stickers.printed",
                                 confirmed=request.form.get("reissue") == "yes")
    except PrintedCodesInUse as refused:
        return _chooser(site, sites, ticked=ticked, refused=True, error=codes_in_use(refused))
    db.session.commit()
    return _sheet(site, issued)


def _sheet(site: Site, issued: list[tuple[Account, str]]):
    """The A4 sheet: the codes are in no other place, so the answer is never stored by a cache."""
    stickers = [dict(account=account, code=printed(code), **sticker_address(account)) for account, code in issued]
    pages = [stickers[i:i + PER_PAGE] for i in range(0, len(stickers), PER_PAGE)]
    response = make_response(render("staff/stickers_sheet.html", "staff/stickers_sheet.html", site=site,
                                    pages=pages, count=len(stickers),
                                    back=url_for("staff.stickers", site=site.code, tick="none")))
    response.headers["Cache-Control"] = "no-store"
    return response
