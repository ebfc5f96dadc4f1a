"""the property office's records: receipt numbers per site, account notes, site imports through the staff page

Revision ID: 0013
Revises: 0012
"""
import os
from datetime import datetime
from zoneinfo import ZoneInfo

from alembic import op
import sqlalchemy as sa


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade():
    # New tables only: nothing on the ledger or the readings is rewritten or locked for long.
    op.create_table(
        'receipt_sequences',
        sa.Column('site_id', sa.Integer(), nullable=False),
        sa.Column('year', sa.Integer(), nullable=False),
        sa.Column('last', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['site_id'], ['sites.id'], name=op.f('fk_receipt_sequences_site_id_sites')),
        sa.PrimaryKeyConstraint('site_id', 'year', name=op.f('pk_receipt_sequences')),
    )
    op.create_table(
        'receipts',
        sa.Column('entry_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('site_id', sa.Integer(), nullable=False),
        sa.Column('number', sa.String(length=24), nullable=False),
        sa.ForeignKeyConstraint(['entry_id'], ['ledger_entries.id'], name=op.f('fk_receipts_entry_id_ledger_entries')),
        sa.ForeignKeyConstraint(['site_id'], ['sites.id'], name=op.f('fk_receipts_site_id_sites')),
        sa.PrimaryKeyConstraint('entry_id', name=op.f('pk_receipts')),
        sa.UniqueConstraint('site_id', 'number', name=op.f('uq_receipts_site_id_number')),
    )
    _number_past_receipts()
    op.create_table(
        'account_notes',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('account_id', sa.Integer(), nullable=False),
        sa.Column('author', sa.String(length=80), nullable=False),
        sa.Column('body', sa.Text(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_account_notes_account_id_accounts')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_account_notes')),
    )
    op.create_index('ix_account_notes_account_created', 'account_notes', ['account_id', 'created_at'], unique=False)
    op.create_table(
        'site_imports',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('site_code', sa.String(length=32), nullable=False),
        sa.Column('filename', sa.String(length=200), nullable=False),
        sa.Column('content', sa.LargeBinary(), nullable=False),
        sa.Column('sha256', sa.String(length=64), nullable=False),
        sa.Column('created_by_id', sa.Integer(), nullable=True),
        sa.Column('status', sa.Enum('invalid', 'ready', 'queued', 'running', 'done', 'failed', name='import_status',
                                    native_enum=False, create_constraint=True, length=24), nullable=False),
        sa.Column('errors', sa.JSON(), nullable=True),
        sa.Column('preview', sa.JSON(), nullable=True),
        sa.Column('done_rows', sa.Integer(), nullable=False),
        sa.Column('total_rows', sa.Integer(), nullable=False),
        sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['created_by_id'], ['staff_users.id'], name=op.f('fk_site_imports_created_by_id_staff_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_site_imports')),
    )


#: the kinds numbered as receipts (portal.ledger.receipts.RECEIPT_KINDS at this revision)
RECEIPT_KINDS = ('cash', 'reversal', 'settlement', 'transfer', 'refund', 'adjustment')


def _number_past_receipts():
    """Number the receipts printed before this revision, per site and business year, in the order they were posted.

    Only the counter's kinds are read (a small part of the ledger); the ledger itself is not written.
    """
    tz = ZoneInfo(os.environ.get('TZ_BUSINESS') or 'Asia/Shanghai')
    bind = op.get_bind()
    rows = bind.execute(sa.text(
        "SELECT e.id, a.site_id, e.created_at FROM ledger_entries e JOIN accounts a ON a.id = e.account_id "
        "WHERE e.kind IN :kinds ORDER BY e.id").bindparams(sa.bindparam('kinds', RECEIPT_KINDS, expanding=True)))
    last = {}
    receipts = []
    for entry_id, site_id, created_at in rows:
        if isinstance(created_at, str):  # SQLite hands back text
            created_at = datetime.fromisoformat(created_at)
        if created_at.tzinfo is None:
            created_at = created_at.replace(tzinfo=ZoneInfo('UTC'))
        year = created_at.astimezone(tz).year
        last[(site_id, year)] = last.get((site_id, year), 0) + 1
        receipts.append({'entry_id': entry_id, 'site_id': site_id, 'number': f"{year}-{last[(site_id, year)]:06d}"})
    if receipts:
        op.bulk_insert(sa.table('receipts', sa.column('entry_id'), sa.column('site_id'), sa.column('number')),
                       receipts)
        op.bulk_insert(sa.table('receipt_sequences', sa.column('site_id'), sa.column('year'), sa.column('last')),
                       [{'site_id': s, 'year': y, 'last': n} for (s, y), n in last.items()])


def downgrade():
    op.drop_table('site_imports')
    op.drop_index('ix_account_notes_account_created', table_name='account_notes')
    op.drop_table('account_notes')
    op.drop_table('receipts')
    op.drop_table('receipt_sequences')
