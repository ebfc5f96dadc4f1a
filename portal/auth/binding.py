"""Which tenant users see which shops (SPEC §4 "Tenant sign-in"): binding by the phone on file or by the binding
code printed on the shop's bills and meter-box sticker, and the codes and sticker tokens themselves.

A binding code is 8 characters of an alphabet without look-alikes (no 0/O, 1/I), about 2^40 codes. It is printed
and lives for years, so it is stored as a salted scrypt hash, like a password: the table alone gives nobody a code,
and rotating SECRET_KEY does not void the stickers. Codes are issued by staff (`flask accounts binding-codes`),
written out once and never readable again; reissuing one voids the old. The sticker token is the QR code's
`/r/<token>`: random, unique, made once per shop and kept when its code is reissued (the sticker's QR stays good).

A phone proves itself by an SMS code (portal.auth.login_codes); a shop whose phone on file is that number is the
tenant's to bind. The verbs flush and audit; the caller commits.
"""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable, Sequence
from functools import cache

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.audit import audit
from portal.models import Account, AccountStatus, TenantBinding, TenantUser

#: the binding code's characters: digits and capitals without 0/O and 1/I (32 of them), and its length
ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
CODE_LENGTH = 8
#: scrypt's cost (16 MiB, some tens of milliseconds a check) and the digest's length: the stored value fits its
#: column (Account.binding_code_hash, 128 characters), which werkzeug's 64-byte scrypt digests would not
_N, _R, _P, _DKLEN = 2 ** 14, 8, 1, 32
#: where a sticker's QR code points, before its token (portal.tenant.sticker serves it)
STICKER_PATH = "/r/"
#: the phone on file as written in an import ("139 0000 0001", "+86-139...") compared with a normalised number
_PREFIXES = ("", "+86", "86", "0086")


def new_binding_code() -> str:
    """A fresh binding code, e.g. "K7QM4XR2"."""
    return "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))


def tidy_code(typed: str | None) -> str:
    """A code as typed ("k7qm-4xr2 ") as it was issued ("K7QM4XR2")."""
    return re.sub(r"[\s\-]", "", typed or "").upper()


def printed(code: str) -> str:
    """A code as printed and shown: two groups of four, "K7QM-4XR2"."""
    return f"{code[:4]}-{code[4:]}"


def _scrypt(code: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(code.encode(), salt=salt, n=n, r=r, p=p, dklen=_DKLEN, maxmem=64 * 1024 * 1024)


def hash_binding_code(code: str) -> str:
    """What is stored: "scrypt:N:r:p$<salt>$<hex digest>" (about 100 characters)."""
    salt = secrets.token_hex(8)
    return f"scrypt:{_N}:{_R}:{_P}${salt}${_scrypt(code, salt.encode(), _N, _R, _P).hex()}"


@cache
def _dummy_hash() -> str:
    return hash_binding_code(new_binding_code())


def binding_code_matches(stored: str | None, typed: str) -> bool:
    """Whether the typed code (tidied) is the one `stored` was made from; with nothing stored, one hash all the same
    (no timing tells whether the shop has a code)."""
    method, _, rest = (stored or _dummy_hash()).partition("$")
    salt, _, digest = rest.partition("$")
    try:
        name, n, r, p = method.split(":")
        ours = _scrypt(tidy_code(typed), salt.encode(), int(n), int(r), int(p)).hex()
    except ValueError:
        return False
    return stored is not None and name == "scrypt" and hmac.compare_digest(ours, digest)


def new_sticker_token() -> str:
    """A sticker's QR token: 22 url-safe characters (128 random bits)."""
    return secrets.token_urlsafe(16)


def issue_binding_codes(session: Session, accounts: Iterable[Account], actor: str, *,
                        reissue: bool = False) -> list[tuple[Account, str]]:
    """Give each shop a new binding code (only those without one unless `reissue`) and a sticker token if it has
    none; the plain codes are returned, to be written out once: they cannot be read back."""
    issued = []
    for account in accounts:
        if account.binding_code_hash is not None and not reissue:
            continue
        code = new_binding_code()
        account.binding_code_hash = hash_binding_code(code)
        new_token = account.sticker_token is None
        if new_token:
            account.sticker_token = new_sticker_token()
        audit(session, actor, "account.binding_code_issued", "account", account.id, account.site_id,
              reissued=not new_token and reissue, sticker_token_made=new_token)
        issued.append((account, code))
    session.flush()
    return issued


class PrintedCodesInUse(Exception):
    """Printing would give new codes to shops whose printed code still works, and nobody confirmed voiding them."""

    def __init__(self, accounts: list[Account]) -> None:
        super().__init__(f"{len(accounts)} shops have a binding code already")
        self.accounts = accounts


def issue_for_print(session: Session, site_id: int, accounts: Sequence[Account], actor: str, action: str, *,
                    confirmed: bool, **detail) -> list[tuple[Account, str]]:
    """New binding codes for the shops of a sheet about to be printed (meter-box stickers, monthly bills): every
    shop gets one, so a shop that had a code loses it, and that needs `confirmed` (PrintedCodesInUse otherwise,
    nothing issued). Audited per shop and once for the sheet (`action`, with its shops and those replaced)."""
    replaced = [a for a in accounts if a.binding_code_hash is not None]
    if replaced and not confirmed:
        raise PrintedCodesInUse(replaced)
    issued = issue_binding_codes(session, accounts, actor, reissue=True)
    audit(session, actor, action, "site", site_id, site_id, shops=[a.code for a, _code in issued],
          replaced=[a.code for a in replaced], **detail)
    return issued


def _phone_on_file(phone: str):
    """The SQL condition: an account's phone on file is this (normalised) number, however it was written."""
    written = func.replace(func.replace(Account.phone, " ", ""), "-", "")
    return written.in_([prefix + phone for prefix in _PREFIXES])


def shops_on_file(session: Session, phone: str, account_code: str | None = None) -> list[Account]:
    """The open shops whose phone on file is `phone` (those with this account code, when given; a code may be
    used by one shop on each site)."""
    query = select(Account).where(_phone_on_file(phone), Account.status == AccountStatus.ACTIVE)
    if account_code is not None:
        query = query.where(Account.code == account_code)
    return list(session.scalars(query.order_by(Account.id)))


def bind(session: Session, tenant: TenantUser, accounts: Sequence[Account], how: str) -> list[Account]:
    """Bind the shops to the tenant (those already theirs stay as they are); the ones newly bound."""
    had = {a.id for a in tenant.accounts}
    new = [a for a in accounts if a.id not in had]
    for account in new:
        session.add(TenantBinding(tenant_user_id=tenant.id, account_id=account.id))
        audit(session, tenant.actor, "tenant.bound", "account", account.id, account.site_id, by=how)
    session.flush()
    session.expire(tenant, ["accounts"])
    return new


def tenant_for_phone(session: Session, phone: str) -> TenantUser:
    """The tenant user a proven phone signs in as: theirs, or a new one bound to the shops with that phone on file
    (none: they bind a shop next, by its binding code)."""
    tenant = session.scalar(select(TenantUser).where(TenantUser.phone == phone))
    if tenant is not None:
        return tenant
    shops = shops_on_file(session, phone)
    tenant = TenantUser(name=shops[0].tenant_name if shops else "", phone=phone)
    session.add(tenant)
    session.flush()
    bind(session, tenant, shops, "phone")
    return tenant


def bind_by_phone(session: Session, tenant: TenantUser, account_code: str) -> list[Account]:
    """The shops with this account code whose phone on file is the tenant's, bound; [] when there are none."""
    if not tenant.phone:
        return []
    shops = shops_on_file(session, tenant.phone, account_code)
    bind(session, tenant, shops, "phone")
    return shops


def bind_by_code(session: Session, tenant: TenantUser, account_code: str, typed: str) -> list[Account]:
    """The shop with this account code and binding code, bound; [] when none matches (one hash check per shop with
    that account code, and one when there is none)."""
    candidates = list(session.scalars(select(Account).where(
        Account.code == account_code, Account.status == AccountStatus.ACTIVE).order_by(Account.id)))
    matched = [a for a in candidates if binding_code_matches(a.binding_code_hash, typed)]
    if not candidates:
        binding_code_matches(None, typed)
    bind(session, tenant, matched, "binding_code")
    return matched
