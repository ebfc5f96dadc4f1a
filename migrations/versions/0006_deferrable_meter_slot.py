"""meters: the (gateway, unit id) uniqueness is checked at commit on PostgreSQL, so an import can swap

Revision ID: 0006
Revises: 0005
"""
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade():
    # SQLite (the demo) cannot defer a UNIQUE constraint; there a swap still needs two imports.
    if op.get_context().dialect.name == "postgresql":
        op.drop_constraint('uq_meters_gateway_id_unit_id', 'meters', type_='unique')
        op.create_unique_constraint('uq_meters_gateway_id_unit_id', 'meters', ['gateway_id', 'unit_id'],
                                    deferrable=True, initially='IMMEDIATE')


def downgrade():
    if op.get_context().dialect.name == "postgresql":
        op.drop_constraint('uq_meters_gateway_id_unit_id', 'meters', type_='unique')
        op.create_unique_constraint('uq_meters_gateway_id_unit_id', 'meters', ['gateway_id', 'unit_id'])
