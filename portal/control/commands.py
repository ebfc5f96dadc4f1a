"""Relay control decisions: commands only change the *desired* state; the poller reconciles it.

Every change is audited and asks for an immediate poll of the meter's gateway (not the next minute).
A command for a gateway that is down simply stays desired and is applied when the gateway returns.

Money written into a meter-mode meter is queued here too: purchases (0110H) and deductions (0114H), one
count sequence, each once per key. Every amount is checked when it is asked for (a value the meter's
register cannot hold is refused now, with a message, never left to fail a poll).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from portal.alarms import clear_alarm
from portal.audit import audit
from portal.bulk import insert_rows
from portal.control.balance import enforce_balance
from portal.control.polls import request_poll
from portal.models import (
    AlarmKind,
    CommandStatus,
    ControlCommand,
    ControlMode,
    Meter,
    Supply,
    utcnow,
)
from portal.models.meter import KEEP_POWER_PROFILES, SWITCHABLE_PROFILES, WRITE_MAX_FEN, WRITE_MIN_FEN

#: who may send which is staff access, not a control rule: see portal.web.roles.COMMANDS
ACTIONS = ("trip", "close", "keep_power_on", "keep_power_off")


class CommandRefused(Exception):
    """The meter cannot do what was asked (no relay, unknown action...)."""


def command_meter(session: Session, meter: Meter, action: str, actor: str, reason: str = "",
                  until: datetime | None = None) -> ControlCommand:
    """Record a staff/API/automation command and move the desired state accordingly.

    Keep-power on keeps its reason and, when given, the instant it ends by itself (`until`; the arrears
    job ends it then: portal.control.keep_power); keep-power off forgets both.
    """
    if action not in ACTIONS:
        raise CommandRefused(f"unknown action {action!r}; one of {', '.join(ACTIONS)}")
    if meter.profile not in SWITCHABLE_PROFILES:
        raise CommandRefused(f"meter {meter.code} ({meter.profile}) has no relay or valve")
    if action in ("trip", "close"):
        # A newer supply command replaces older ones still waiting.
        session.execute(
            update(ControlCommand)
            .where(ControlCommand.meter_id == meter.id, ControlCommand.status == CommandStatus.PENDING,
                   ControlCommand.action.in_(("trip", "close")))
            .values(status=CommandStatus.SUPERSEDED)
        )
        meter.supply_desired = Supply.OFF if action == "trip" else Supply.ON
        meter.desired_reason = "remote"
        if action == "close":  # a person looked at it: an over-power trip is over
            clear_alarm(session, AlarmKind.OVER_POWER, f"meter:{meter.id}")
    else:
        meter.keep_power = action == "keep_power_on"
        meter.keep_power_reason = (reason[:200] or None) if meter.keep_power else None
        meter.keep_power_until = until if meter.keep_power else None
        if meter.account is not None:
            enforce_balance(session, meter.account, actor=actor)
    cmd = ControlCommand(meter_id=meter.id, action=action, actor=actor, reason=reason[:200])
    if action.startswith("keep_power") and meter.profile not in KEEP_POWER_PROFILES:
        # Nothing to write: on this meter keep-power lives only in the platform's arrears rule.
        cmd.status, cmd.applied_at = CommandStatus.APPLIED, utcnow()
    session.add(cmd)
    detail = {"until": until.isoformat()} if until is not None and meter.keep_power else {}
    audit(session, actor, f"meter.{action}", "meter", meter.id, meter.site_id, reason=reason,
          supply_desired=meter.supply_desired.value, keep_power=meter.keep_power, **detail)
    request_poll(session, meter.gateway_id)
    return cmd


#: the commands that write money into a meter, in the meter's one count sequence
MONEY_WRITES = ("purchase", "deduction")


def check_write_amount(amount_fen: int, action: str = "purchase") -> None:
    """Refuse an amount one purchase or deduction write cannot carry (1 to 10,000,000 fen)."""
    if type(amount_fen) is not int or not WRITE_MIN_FEN <= amount_fen <= WRITE_MAX_FEN:
        raise CommandRefused(f"a {action} written into a meter is {WRITE_MIN_FEN} to {WRITE_MAX_FEN} fen "
                             f"(¥0.01 to ¥100,000.00), not {amount_fen!r}")


def write_parts(amount_fen: int) -> list[int]:
    """A positive amount as the writes a meter accepts: parts of at most WRITE_MAX_FEN, the largest first."""
    whole, rest = divmod(amount_fen, WRITE_MAX_FEN)
    return [WRITE_MAX_FEN] * whole + ([rest] if rest else [])


def part_key(key: str, n: int) -> str:
    """The key of part n (0-based) of a split write: the first keeps the cause's own key."""
    return key if n == 0 else f"{key}#{n + 1}"


def queue_purchase(session: Session, meter: Meter, amount_fen: int, key: str, actor: str) -> ControlCommand:
    """Ask the poller to write a purchase into a meter-mode meter, once per key."""
    return _queue_write(session, meter, "purchase", amount_fen, key, actor, "purchase")


def queue_deduction(session: Session, meter: Meter, amount_fen: int, key: str, actor: str,
                    reason: str = "deduction") -> ControlCommand:
    """Ask the poller to write a deduction (扣费, 0114H) into a meter-mode meter, once per key."""
    return _queue_write(session, meter, "deduction", amount_fen, key, actor, reason)


def queue_money(session: Session, meter: Meter, amount_fen: int, key: str, actor: str,
                reason: str = "") -> list[ControlCommand]:
    """Move a meter-mode meter's money by a signed amount: purchases (+) or deductions (-), split into
    parts a single write can carry; nothing for 0."""
    action = "purchase" if amount_fen > 0 else "deduction"
    return [_queue_write(session, meter, action, part, part_key(key, n), actor, reason or action)
            for n, part in enumerate(write_parts(abs(amount_fen)))]


def _queue_write(session: Session, meter: Meter, action: str, amount_fen: int, key: str, actor: str,
                 reason: str) -> ControlCommand:
    if meter.control_mode != ControlMode.METER:
        raise CommandRefused(f"meter {meter.code} is in platform mode: the platform keeps its balance")
    check_write_amount(amount_fen, action)
    existing = session.execute(select(ControlCommand).where(ControlCommand.idempotency_key == key)).scalar_one_or_none()
    if existing is not None:
        return existing
    cmd = ControlCommand(meter_id=meter.id, action=action, actor=actor, reason=reason[:200],
                         payload={"amount_fen": amount_fen}, idempotency_key=key)
    session.add(cmd)
    audit(session, actor, f"meter.{action}_queued", "meter", meter.id, meter.site_id, amount_fen=amount_fen, key=key)
    request_poll(session, meter.gateway_id)
    return cmd


@dataclass(frozen=True)
class MoneyWrite:
    """One meter's money write for `queue_many`: a signed amount (+ purchase, - deduction) and its key."""

    meter_id: int
    gateway_id: int
    amount_fen: int
    key: str
    reason: str


def queue_many(session: Session, writes: list[MoneyWrite], actor: str) -> int:
    """Queue many meters' writes set-wise (the monthly runs), each once per key, split into parts one write
    can carry; returns how many commands are new. The caller knows the meters are in meter mode."""
    rows, now = [], utcnow()
    for w in writes:
        action = "purchase" if w.amount_fen > 0 else "deduction"
        for n, part in enumerate(write_parts(abs(w.amount_fen))):
            check_write_amount(part, action)
            rows.append(dict(meter_id=w.meter_id, action=action, actor=actor, reason=w.reason[:200],
                             payload={"amount_fen": part}, idempotency_key=part_key(w.key, n),
                             status=CommandStatus.PENDING, error="", created_at=now))
    new = insert_rows(session, ControlCommand.__table__, rows, conflict=["idempotency_key"], returning="id")
    for gateway_id in sorted({w.gateway_id for w in writes}):
        request_poll(session, gateway_id)
    return len(new)
