"""A shop's own property fee: the rate per m² or the fixed amount a manager sets for one shop instead of the site's.

The fee run (portal.monthly.fees) reads `Account.fee_rate_e4_per_m2` and `Account.fee_fixed_fen`, each None for
"the site's". As there, a fixed amount above zero replaces rate × area, so a shop charged by its own rate has its
fixed amount set to 0 (else the site's fixed amount would still win), and a shop charged a fixed amount needs no
rate. A fixed amount of 0 means "none" to the run, so a shop that pays no fee has its own rate of 0. Every change
is audited with its before and after; it applies from the next run on.
"""
from __future__ import annotations

from sqlalchemy.orm import Session

from portal.audit import audit
from portal.models import Account
from portal.monthly.fees import fee_for

#: the most a shop's own rate may be: ¥1,000 per m² a month (0.0001 yuan); beyond it, a slip of the keyboard
RATE_MAX_E4 = 10_000_000
#: the most a shop's own fixed fee may be: ¥100,000 a month (fen)
FIXED_MAX_FEN = 10_000_000
#: how a shop's fee is made: the site's, its own rate × area, or its own fixed amount
BASES = ("site", "rate", "fixed")


class OverrideRefused(ValueError):
    """A fee override that is refused; `code` says why: "basis" (none of BASES) or "range" (out of bounds)."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


def override_values(basis: str, rate_e4: int | None = None, fixed_fen: int | None = None) -> tuple[int | None,
                                                                                                   int | None]:
    """(fee_rate_e4_per_m2, fee_fixed_fen) for a basis of BASES: its own rate, its own fixed amount, or the site's."""
    if basis == "site":
        return None, None
    if basis == "rate" and type(rate_e4) is int and 0 <= rate_e4 <= RATE_MAX_E4:
        return rate_e4, 0
    if basis == "fixed" and type(fixed_fen) is int and 0 < fixed_fen <= FIXED_MAX_FEN:
        return None, fixed_fen
    if basis not in BASES:
        raise OverrideRefused("basis", f"the fee basis must be one of {', '.join(BASES)}")
    raise OverrideRefused("range", "the rate must be 0 to 1000 yuan per m², the fixed amount 0.01 to 100000 yuan")


def set_fee_override(session: Session, account: Account, actor: str, basis: str, *, rate_e4: int | None = None,
                     fixed_fen: int | None = None) -> dict:
    """Give the shop its own fee (or the site's again); returns what changed ({field: [before, after]}), audited."""
    rate, fixed = override_values(basis, rate_e4, fixed_fen)
    values = {"fee_rate_e4_per_m2": rate, "fee_fixed_fen": fixed}
    changed = {name: [getattr(account, name), value] for name, value in values.items()
               if getattr(account, name) != value}
    for name, (_before, after) in changed.items():
        setattr(account, name, after)
    if changed:
        audit(session, actor, "account.fee_override", "account", account.id, account.site_id, changed=changed)
    return changed


def basis_of(account: Account) -> str:
    """Which of BASES the shop's fee is made by now."""
    if account.fee_fixed_fen is not None and account.fee_fixed_fen > 0:
        return "fixed"
    if account.fee_rate_e4_per_m2 is not None:
        return "rate"
    return "site"


def next_fee(account: Account) -> tuple[int, str]:
    """The fee the next run charges this shop (fen) and how it is made, as portal.monthly.fees computes it."""
    site = account.site
    rate = site.fee_rate_e4_per_m2 if account.fee_rate_e4_per_m2 is None else account.fee_rate_e4_per_m2
    fixed = site.fee_fixed_fen if account.fee_fixed_fen is None else account.fee_fixed_fen
    return fee_for(rate, account.area_m2, fixed)
