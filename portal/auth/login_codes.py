"""SMS sign-in codes (SPEC §4 "Tenant sign-in"): six digits by SMS, valid 5 minutes, 5 tries, never stored plain.

A phone asks for a code: a new code supersedes the phone's earlier unused ones, and a phone that got one less than
RESEND_AFTER ago gets none (the page says when to ask again). Every phone number is answered alike, on file or
not: the code goes to whoever holds the number, so nothing tells a stranger which numbers are some shop's. Only
the phone's newest code counts; each wrong try counts against it, and the MAX_TRIES-th burns it.

The code is kept as an HMAC-SHA256 keyed with SECRET_KEY (over a per-code salt, the phone and the code), not a slow
password hash: six digits are a million guesses, which a slow hash would not stop once the table leaked (a GPU
tries them in minutes), whereas without the key the stored value says nothing; and the check costs nothing, so a
flood of wrong codes burns no CPU. The code itself leaves only in its SMS (the delivery's params, for the sender).
The verbs flush; the caller commits. How often a phone or an address may ask is Flask-Limiter's
(portal.auth.guards).
"""
from __future__ import annotations

import enum
import hashlib
import hmac
import math
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from portal.models import LoginCode, utcnow
from portal.notify.codes import CODE_TTL
from portal.notify.route import tell_phone
from portal.settings import current

#: how long a code is valid, how many wrong tries burn it, and how soon the same phone may ask for another
MAX_TRIES = 5
RESEND_AFTER = timedelta(seconds=60)
CODE_DIGITS = 6
#: a mainland mobile number, after spaces, dashes and a +86 / 0086 prefix are taken off
_MOBILE = re.compile(r"1[3-9]\d{9}")
_PREFIXES = ("+86", "0086", "86")
_SCHEME = "hmac-sha256"


class PhoneInvalid(ValueError):
    """Not a mobile number an SMS can reach."""


def normalise_phone(raw: str | None) -> str:
    """The 11 digits of a mainland mobile number written any usual way ("139 0000 0001", "+86-139..."), or raise."""
    digits = re.sub(r"[\s\-()]", "", raw or "")
    for prefix in _PREFIXES:
        if digits.startswith(prefix) and len(digits) == len(prefix) + 11:
            digits = digits[len(prefix):]
            break
    if not _MOBILE.fullmatch(digits):
        raise PhoneInvalid(raw)
    return digits


def masked(phone: str) -> str:
    """A phone as a page may show it back: 139****0001."""
    return phone[:3] + "****" + phone[-4:]


def _digest(salt: str, phone: str, code: str) -> str:
    key = current().core.secret_key.encode()
    return hmac.new(key, f"login-code\x00{salt}\x00{phone}\x00{code}".encode(), hashlib.sha256).hexdigest()


def hash_code(phone: str, code: str) -> str:
    """What is stored for a code: scheme, salt and keyed digest ("hmac-sha256$<salt>$<hex>")."""
    salt = secrets.token_hex(8)
    return f"{_SCHEME}${salt}${_digest(salt, phone, code)}"


def code_matches(stored: str, phone: str, code: str) -> bool:
    """Whether `code` is the one `stored` was made from (a constant-time comparison)."""
    scheme, _, rest = stored.partition("$")
    salt, _, digest = rest.partition("$")
    expected = _digest(salt, phone, code)  # computed whatever the stored value, so a bad row costs the same
    return scheme == _SCHEME and hmac.compare_digest(expected, digest)


@dataclass(frozen=True)
class Issued:
    """What asking for a code did: sent one now, or not yet (`wait` seconds until another may be asked for)."""

    sent: bool
    wait: int = 0


def _newest(session: Session, phone: str, *, lock: bool = False) -> LoginCode | None:
    query = select(LoginCode).where(LoginCode.phone == phone).order_by(LoginCode.created_at.desc(),
                                                                       LoginCode.id.desc()).limit(1)
    return session.scalar(query.with_for_update() if lock else query)


def issue_login_code(session: Session, phone: str, address: str, now: datetime | None = None) -> Issued:
    """Send `phone` a new code (queued as an SMS delivery), unless it got one less than RESEND_AFTER ago; the
    phone's earlier unused codes stop counting. `phone` is normalised (normalise_phone)."""
    now = now or utcnow()
    newest = _newest(session, phone)
    if newest is not None and now - newest.created_at < RESEND_AFTER:
        return Issued(False, max(1, math.ceil((newest.created_at + RESEND_AFTER - now).total_seconds())))
    session.execute(update(LoginCode).where(LoginCode.phone == phone, LoginCode.used_at.is_(None),
                                            LoginCode.expires_at > now).values(expires_at=now))
    code = f"{secrets.randbelow(10 ** CODE_DIGITS):0{CODE_DIGITS}d}"
    row = LoginCode(phone=phone, code_hash=hash_code(phone, code), expires_at=now + CODE_TTL, tries=0,
                    address=(address or "")[:64], created_at=now)
    session.add(row)
    session.flush()
    tell_phone(session, phone, "login_code", f"code{row.id}", {"code": code})
    return Issued(True)


class Checked(enum.Enum):
    """A code's check: right (the code is now used), wrong (tries are left), or dead (expired, used, burned by
    wrong tries, superseded, or never sent: ask for another)."""

    RIGHT = "right"
    WRONG = "wrong"
    DEAD = "dead"


def check_login_code(session: Session, phone: str, code: str, now: datetime | None = None) -> Checked:
    """Check a code typed for `phone` against its newest code, counting the try; a right code is used up."""
    now = now or utcnow()
    code = (code or "").strip()
    row = _newest(session, phone, lock=True)  # two tries at once are counted one after the other
    alive = row is not None and row.used_at is None and row.expires_at > now and row.tries < MAX_TRIES
    right = code_matches(row.code_hash if row is not None else "", phone, code)
    if not alive:
        return Checked.DEAD
    if right:
        row.used_at = now
        session.flush()
        return Checked.RIGHT
    row.tries += 1
    session.flush()
    return Checked.WRONG if row.tries < MAX_TRIES else Checked.DEAD

