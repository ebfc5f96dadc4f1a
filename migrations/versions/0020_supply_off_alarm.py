"""alarms: the supply_off kind (a meter's supply read off), and an open one for each meter off already

Revision ID: 0020
Revises: 0019

The kind column is a string limited by a CHECK constraint (portal.models.base.str_enum), so the new value means
a new constraint. On PostgreSQL the swap is made without scanning the alarms under an exclusive lock: the old
constraint is dropped and the new one added NOT VALID in one short statement (catalog only), committed, and then
validated in a transaction of its own under SHARE UPDATE EXCLUSIVE, which lets the poller and the payment
notifies go on raising alarms while it scans. SQLite (the demo) rebuilds the small table.

The poll cycle raises supply_off when it sees a meter's supply go off, so a meter that was off before this
upgrade would have none until it came on and went off again: one is opened now for each meter whose last read
says off, with the reason the cycle would give (the platform's when it wants the meter off, else the meter's).
"""
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None

KINDS = ('low_balance_1', 'low_balance_2', 'low_balance_3', 'arrears', 'over_power', 'meter_offline',
         'gateway_offline', 'tamper', 'payment_anomaly', 'books_mismatch')
WITH_SUPPLY_OFF = KINDS[:4] + ('supply_off',) + KINDS[4:]
CONSTRAINT = 'ck_alarms_alarm_kind'

_alarms = sa.table(
    'alarms', sa.column('site_id', sa.Integer), sa.column('kind', sa.String), sa.column('subject', sa.String),
    sa.column('account_id', sa.Integer), sa.column('meter_id', sa.Integer), sa.column('message', sa.String),
    sa.column('data', sa.JSON), sa.column('raised_at', sa.DateTime(timezone=True)))


def _kinds(kinds):
    # the CHECK constraint a non-native sa.Enum declares (portal.models.base.str_enum)
    return "kind IN (" + ", ".join(f"'{k}'" for k in kinds) + ")"


def _swap_constraint(kinds):
    if op.get_bind().dialect.name == 'postgresql':
        with op.get_context().autocommit_block():
            op.execute(f"ALTER TABLE alarms DROP CONSTRAINT IF EXISTS {CONSTRAINT}, "
                       f"ADD CONSTRAINT {CONSTRAINT} CHECK ({_kinds(kinds)}) NOT VALID")
            op.execute(f"ALTER TABLE alarms VALIDATE CONSTRAINT {CONSTRAINT}")
    else:
        with op.batch_alter_table('alarms') as batch_op:
            # op.f: the name as it is, not run through the naming convention again
            batch_op.drop_constraint(op.f(CONSTRAINT), type_='check')
            batch_op.create_check_constraint(op.f(CONSTRAINT), _kinds(kinds))


def _open_for_meters_off():
    """A supply_off alarm for each meter read off before the poll cycle raised them (one row a meter, at most a
    site's 10,030: read and written in one statement each)."""
    rows = op.get_bind().execute(sa.text(
        "SELECT m.id, m.site_id, m.account_id, m.code, m.supply_desired, m.desired_reason, s.trip_reason "
        "FROM meters AS m JOIN meter_states AS s ON s.meter_id = m.id WHERE s.supply_actual = 'off'")).all()
    if not rows:
        return
    now = datetime.now(UTC)
    alarms = []
    for meter_id, site_id, account_id, code, desired, desired_reason, trip_reason in rows:
        # portal.metering.supply.off_reason: the platform's decision when it wants it off, else the meter's word
        reason = desired_reason if desired == 'off' and desired_reason else (trip_reason or 'unknown')
        if reason == 'none':
            reason = 'unknown'
        alarms.append(dict(site_id=site_id, kind='supply_off', subject=f"meter:{meter_id}", account_id=account_id,
                           meter_id=meter_id, message=f"meter {code} supply off ({reason})"[:300],
                           data={"what": "supply_off", "meter": code, "reason": reason}, raised_at=now))
    op.bulk_insert(_alarms, alarms)


def upgrade():
    _swap_constraint(WITH_SUPPLY_OFF)
    _open_for_meters_off()


def downgrade():
    # never told to anyone (portal.notify.alarms), so no delivery points at one
    op.execute("DELETE FROM alarms WHERE kind = 'supply_off'")
    _swap_constraint(KINDS)
