"""The shop's status part (`#status` of the shop page): balance, days left, supply and its reason, emergency
credit, meters, the common-area split. The shop page, the recharge form's refusal and emergency credit all
render it."""
from __future__ import annotations

from sqlalchemy.orm import selectinload

from portal.control.emergency import emergency_limit, emergency_refusal
from portal.extensions import db
from portal.models import Account, ControlMode, Meter
from portal.monthly.allocation import breakdown
from portal.tenant.blueprint import own_account
from portal.tenant.days import days_context
from portal.tenant.supply import supply_state

#: the event the parts of the shop page listen to when the money or the supply may have moved
CHANGED = "shop-changed"


def meters_hold(acct: Account) -> int | None:
    """What the shop's meter-mode (内控) meters hold as last read, in fen; None without such a meter or a read."""
    held = [m.state.remaining_fen for m in acct.meters if m.control_mode == ControlMode.METER
            and m.state is not None and m.state.remaining_fen is not None]
    return sum(held) if held else None


def status_context(acct: Account, emergency_error: str | None = None, emergency_message: str | None = None) -> dict:
    """What the shop's status shows: balance, days left, supply and its reason, emergency credit, meters, the
    common-area split."""
    return dict(account=acct, **days_context(acct), supply=supply_state(acct), meters_hold_fen=meters_hold(acct),
                emergency_refusal=emergency_refusal(acct), emergency_limit_fen=emergency_limit(acct.site),
                emergency_error=emergency_error, emergency_message=emergency_message,
                allocation=breakdown(db.session, acct.id))


def load_shop(account_id: int) -> Account:
    """The tenant's account with its meters and their state (404 when not theirs)."""
    return own_account(account_id, selectinload(Account.meters).selectinload(Meter.state))


