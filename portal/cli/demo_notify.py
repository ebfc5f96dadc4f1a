"""`demo seed`'s part of SPEC §3 "Nobody is left uninformed": the demo site's staff recipients, and binding codes
and sticker tokens for its shops, so that the demo's messages and sign-in can be tried at once.

Composed here, above portal.sites and portal.auth (portal.sites may not import the sign-in): the recipients are made
by the Recipients tab's verb (portal.notify.recipients) and the codes by `accounts binding-codes`' own
(portal.auth.binding), every change audited as theirs are. A second seed adds nothing: a recipient whose number the
site has already is left alone (even switched off), and a shop with a code keeps it.

A binding code cannot be read back, so the one the seed prints (SHOWN_SHOP's) is kept in the instance folder beside
the demo's other secrets and printed again while it still matches; once staff reissue it on the shop's page, the
seed says so instead.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import time
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.auth.binding import STICKER_PATH, binding_code_matches, issue_binding_codes, printed, tidy_code
from portal.models import Account, AccountStatus, NotifyRecipient, Site
from portal.notify.recipients import RecipientFields, add_recipient

ACTOR = "system:demo"
#: the demo site's staff recipients: the duty electrician for the meters and buses during working hours, the
#: property manager for the money and the approvals at any hour (demo numbers: the log channel sends nothing)
RECIPIENTS = (
    RecipientFields("值班电工 duty electrician", "13700000001", None,
                    ("meter_offline", "meter_online", "gateway_offline", "gateway_online", "tamper",
                     "meter_write_failed"), time(8, 0), time(22, 0)),
    RecipientFields("物业经理 property manager", "13700000002", None,
                    ("payment_anomaly", "reconciliation_mismatch", "books_mismatch", "approval_waiting"), None, None),
)
#: the shops given binding codes and sticker tokens: the first bus's, as an office prints one floor's stickers
#: first (each code is a scrypt hash of some tens of milliseconds: all 300 would add seconds to every new demo)
CODED_SHOPS = 60
#: the shop whose binding code and sticker the seed prints: its own tenant's, bound by phone, so a visitor signed
#: in by SMS with another number binds it with the code
SHOWN_SHOP = "S004"
#: where that code is kept between seeds (in the instance folder, like the sandbox's keys)
CODE_FILE = "demo-binding-code.txt"


@dataclass(frozen=True)
class Shown:
    """The shop whose code the seed prints: its code (None: not known any more) and sticker token."""

    account: str
    code: str | None
    sticker_token: str | None


def seed_recipients(session: Session, site: Site) -> int:
    """Add the demo's staff recipients the site lacks (by phone number); how many were added."""
    known = set(session.scalars(select(NotifyRecipient.phone).where(NotifyRecipient.site_id == site.id)))
    added = [add_recipient(session, site.id, fields, ACTOR) for fields in RECIPIENTS if fields.phone not in known]
    return len(added)


def seed_binding_codes(session: Session, site: Site, instance_dir: Path) -> tuple[int, Shown | None]:
    """Issue binding codes and sticker tokens to the coded shops that have none; how many, and the shown shop's."""
    shops = list(session.scalars(select(Account).where(Account.site_id == site.id,
                                                       Account.status == AccountStatus.ACTIVE)
                                 .order_by(Account.code).limit(CODED_SHOPS)))
    issued = dict(issue_binding_codes(session, shops, ACTOR))
    shown = next((a for a in shops if a.code == SHOWN_SHOP), None)
    if shown is None:
        return len(issued), None
    path = instance_dir / CODE_FILE
    if shown in issued:
        _keep(path, issued[shown])
        return len(issued), Shown(shown.code, issued[shown], shown.sticker_token)
    kept = tidy_code(path.read_text()) if path.exists() else ""
    code = kept if kept and binding_code_matches(shown.binding_code_hash, kept) else None
    return len(issued), Shown(shown.code, code, shown.sticker_token)


def _keep(path: Path, code: str) -> None:
    """Write the code for the next seed's printout, readable by this user alone."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(code + "\n")


def notify_lines(base_url: str, shown: Shown | None) -> list[str]:
    """What the seed prints of the demo's messages and of one shop's binding code and sticker."""
    base = base_url.rstrip("/")
    lines = [f"Messages ({base}/staff/notifications, Demo messages tab): what the shops and the staff recipients "
             f"({', '.join(r.phone for r in RECIPIENTS)}) are sent, sign-in codes included"]
    if shown is None:
        return lines
    if shown.code:
        lines.append(f"Binding code of {shown.account}: {printed(shown.code)} — sign in by SMS with any other "
                     f"number ({base}/auth/tenant/login?by=sms), then bind {shown.account} with it")
    else:
        lines.append(f"Binding code of {shown.account}: reissued since the demo was seeded — issue a new one on "
                     f"{base}/staff/accounts/{shown.account}")
    if shown.sticker_token:
        lines.append(f"Meter-box sticker of {shown.account}: {base}{STICKER_PATH}{shown.sticker_token}")
    return lines
