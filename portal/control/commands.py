"""Relay control decisions: commands only change the *desired* state; the poller reconciles it.

Every change is audited and asks for an immediate poll of the meter's gateway (not the next minute).
A command for a gateway that is down simply stays desired and is applied when the gateway returns.
"""
from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from portal.alarms import clear_alarm
from portal.audit import audit
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
from portal.models.meter import KEEP_POWER_PROFILES, SWITCHABLE_PROFILES

#: who may send which is staff access, not a control rule: see portal.web.roles.COMMANDS
ACTIONS = ("trip", "close", "keep_power_on", "keep_power_off")


class CommandRefused(Exception):
    """The meter cannot do what was asked (no relay, unknown action...)."""


def command_meter(session: Session, meter: Meter, action: str, actor: str, reason: str = "") -> ControlCommand:
    """Record a staff/API/automation command and move the desired state accordingly."""
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
        if meter.account is not None:
            enforce_balance(session, meter.account, actor=actor)
    cmd = ControlCommand(meter_id=meter.id, action=action, actor=actor, reason=reason[:200])
    if action.startswith("keep_power") and meter.profile not in KEEP_POWER_PROFILES:
        # Nothing to write: on this meter keep-power lives only in the platform's arrears rule.
        cmd.status, cmd.applied_at = CommandStatus.APPLIED, utcnow()
    session.add(cmd)
    audit(session, actor, f"meter.{action}", "meter", meter.id, meter.site_id, reason=reason,
          supply_desired=meter.supply_desired.value, keep_power=meter.keep_power)
    request_poll(session, meter.gateway_id)
    return cmd


def queue_purchase(session: Session, meter: Meter, amount_fen: int, key: str, actor: str) -> ControlCommand:
    """Ask the poller to write a purchase into a meter-mode meter, once per key."""
    if meter.control_mode != ControlMode.METER:
        raise CommandRefused(f"meter {meter.code} is in platform mode: the platform keeps its balance")
    if type(amount_fen) is not int or amount_fen <= 0:
        raise CommandRefused("a purchase needs a positive integer amount in fen")
    existing = session.execute(select(ControlCommand).where(ControlCommand.idempotency_key == key)).scalar_one_or_none()
    if existing is not None:
        return existing
    cmd = ControlCommand(meter_id=meter.id, action="purchase", actor=actor, reason="purchase",
                         payload={"amount_fen": amount_fen}, idempotency_key=key)
    session.add(cmd)
    audit(session, actor, "meter.purchase_queued", "meter", meter.id, meter.site_id, amount_fen=amount_fen, key=key)
    request_poll(session, meter.gateway_id)
    return cmd
