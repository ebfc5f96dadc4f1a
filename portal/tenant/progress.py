"""Rules behind the tenant's pay pages, free of Flask views: amounts, which channels to offer, order progress."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.models import CommandStatus, ControlCommand, ControlMode, OrderStatus, PaymentOrder, Supply, utcnow
from portal.models.meter import SWITCHABLE_PROFILES
from portal.money import parse_yuan
from portal.settings import current

#: the amount chips, in fen (50, 100, 200, 500 yuan)
PRESETS_FEN = (5_000, 10_000, 20_000, 50_000)
#: channels in the order they are offered, by where the page runs: WeChat's in-app browser can only pay with
#: WeChat Pay (JSAPI), Alipay's app with Alipay (its cashier page, WAP); a desktop browser shows QR codes to scan
#: with a phone; any other phone browser offers Alipay's cashier first
IN_WECHAT = ("wechat_jsapi", "sandbox")
IN_ALIPAY = ("alipay_wap", "sandbox")
ON_DESKTOP = ("alipay_qr", "wechat_native", "sandbox")
ELSEWHERE = ("alipay_wap", "alipay_qr", "wechat_native", "sandbox")
#: what a phone's or tablet's browser says in its user agent (anything else is taken for a desktop)
_HANDHELD = re.compile(r"Mobile|Android|iPhone|iPad|iPod|HarmonyOS|Windows Phone")
#: how long the progress keeps polling for the relay after crediting, and for a payment after expiry
SUPPLY_WAIT = timedelta(minutes=3)
PAY_GRACE = timedelta(minutes=2)


class AmountError(ValueError):
    """The amount chosen is not one we can take; `code` says why (for a translated message)."""

    def __init__(self, code: str):
        super().__init__(code)
        self.code = code


def parse_amount(choice: str | None, custom: str | None) -> int:
    """The custom yuan amount when one is typed, else the chip chosen ("5000"...), as integer fen within limits.

    A chip is any whole-yuan amount in fen: the chips are suggested per shop and move with its use and supply
    (suggest_presets), so the one a page showed a moment ago must still be taken; any amount may be typed anyway.
    """
    custom = (custom or "").strip()
    if choice == "custom" or custom:
        try:
            fen = parse_yuan(custom)
        except ValueError:
            raise AmountError("format") from None
    elif choice and choice.isdigit() and int(choice) > 0 and int(choice) % 100 == 0:
        fen = int(choice)
    else:
        raise AmountError("choose")
    limits = current().payments
    if fen < limits.min_fen:
        raise AmountError("too_small")
    if fen > limits.max_fen:
        raise AmountError("too_large")
    return fen


def nice_amount(fen: int) -> int:
    """An amount rounded up to one a person would pick, in fen: whole ¥10 up to ¥100, ¥50 up to ¥1,000, then
    whole ¥100 (¥63.20 -> ¥70, ¥212 -> ¥250, ¥1,234 -> ¥1,300)."""
    yuan = -(-fen // 100)
    step = 10 if yuan <= 100 else (50 if yuan <= 1_000 else 100)
    return -(-yuan // step) * step * 100


def suggest_presets(daily_fen: int, restore_fen: int | None = None) -> tuple[int, ...]:
    """Four amount chips for this shop, in fen, smallest first: what brings the supply back (when off for money,
    rounded up to the yuan), about a week and a month of its recent daily charge, then the standard chips; all
    within the payment limits."""
    limits = current().payments
    wanted = []
    if restore_fen is not None:
        wanted.append(-(-restore_fen // 100) * 100)
    if daily_fen > 0:
        wanted += [nice_amount(daily_fen * 7), nice_amount(daily_fen * 30)]
    chips = []
    for fen in (*wanted, *PRESETS_FEN):
        fen = min(max(fen, limits.min_fen), limits.max_fen)
        if fen not in chips:
            chips.append(fen)
    return tuple(sorted(chips[:4]))


def in_wechat(user_agent: str | None) -> bool:
    """WeChat's built-in browser says MicroMessenger in its user agent."""
    return "MicroMessenger" in (user_agent or "")


def in_alipay(user_agent: str | None) -> bool:
    """Alipay's app says AlipayClient in its user agent."""
    return "AlipayClient" in (user_agent or "")


def where_paying(user_agent: str | None) -> str:
    """Where the page runs: wechat, alipay (their apps), phone (another handheld browser) or desktop."""
    if in_wechat(user_agent):
        return "wechat"
    if in_alipay(user_agent):
        return "alipay"
    return "phone" if _HANDHELD.search(user_agent or "") else "desktop"


def pay_options(user_agent: str | None, openid: str | None, ready: dict[str, list[str]]) -> list[str]:
    """The channels to show this payer: by where the page runs, configured ones only; JSAPI needs the payer's
    openid."""
    wanted = {"wechat": IN_WECHAT, "alipay": IN_ALIPAY, "desktop": ON_DESKTOP}.get(where_paying(user_agent), ELSEWHERE)
    return [c for c in wanted if c in ready and not ready[c] and (c != "wechat_jsapi" or openid)]


@dataclass(frozen=True)
class Progress:
    """Where a payment is: step 0 waiting, 1 paid, 2 credited, 3 supply on; `done` stops the polling."""

    step: int
    state: str
    done: bool


def order_progress(session: Session, order: PaymentOrder, now: datetime | None = None) -> Progress:
    """The payer's view of an order, from the order, the meters' states and the purchase commands."""
    now = now or utcnow()
    if order.status == OrderStatus.CREATED:
        expired = now > order.expires_at + PAY_GRACE
        return Progress(0, "expired" if expired else "waiting", expired)
    if order.status == OrderStatus.CLOSED:
        return Progress(0, "closed", True)
    if order.status == OrderStatus.PAID:
        return Progress(1, "paid", False)
    if order.status == OrderStatus.REFUNDED:
        return Progress(2, "refunded", True)
    supply = _supply(session, order)
    if supply == "on":
        return Progress(3, "restored", True)
    if supply in ("arrears", "off_other"):
        return Progress(2, supply, True)
    late = order.credited_at is not None and now - order.credited_at > SUPPLY_WAIT
    return Progress(2, "supply_pending" if late else "credited", late)


def _supply(session: Session, order: PaymentOrder) -> str:
    """on, waiting, arrears (still too little to restore) or off_other (switched off for another reason)."""
    meters = order.account.meters
    for meter in meters:
        if meter.control_mode == ControlMode.METER:
            cmd = session.scalar(select(ControlCommand).where(
                ControlCommand.idempotency_key == f"purchase:payment:{order.out_trade_no}"))
            if cmd is not None and cmd.meter_id == meter.id and cmd.status == CommandStatus.PENDING:
                return "waiting"
            continue
        if meter.profile not in SWITCHABLE_PROFILES:
            continue
        if meter.supply_desired == Supply.OFF:
            return "arrears" if meter.desired_reason == "arrears" else "off_other"
        if meter.state is None or meter.state.supply_actual != Supply.ON:
            return "waiting"
    return "on"
