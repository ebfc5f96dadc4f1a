"""staff console: the auditor role, a password to be changed at next login, the address an audited act came from

Revision ID: 0010
Revises: 0009
"""
from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

ROLES = ('admin', 'manager', 'cashier', 'operator')


def _roles(roles):
    # the CHECK constraint a non-native sa.Enum declares (portal.models.base.str_enum)
    return "role IN (" + ", ".join(f"'{r}'" for r in roles) + ")"


def upgrade():
    with op.batch_alter_table('staff_users', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_staff_users_staff_role'), type_='check')
        batch_op.create_check_constraint(op.f('ck_staff_users_staff_role'), _roles(ROLES + ('auditor',)))
        batch_op.add_column(sa.Column('must_change_password', sa.Boolean(), server_default=sa.false(),
                                      nullable=False))
    # Nullable without a default: PostgreSQL adds it without rewriting the (large) log.
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.add_column(sa.Column('ip', sa.String(length=45), nullable=True))


def downgrade():
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_column('ip')
    op.execute("UPDATE staff_users SET active = false, role = 'operator' WHERE role = 'auditor'")
    with op.batch_alter_table('staff_users', schema=None) as batch_op:
        batch_op.drop_column('must_change_password')
        batch_op.drop_constraint(op.f('ck_staff_users_staff_role'), type_='check')
        batch_op.create_check_constraint(op.f('ck_staff_users_staff_role'), _roles(ROLES))
