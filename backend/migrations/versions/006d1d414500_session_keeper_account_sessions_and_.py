"""session keeper: account sessions and equity history

Revision ID: 006d1d414500
Revises: d29efae407ed
Create Date: 2026-12-02 18:26:13.906161

"""
from alembic import op
import sqlalchemy as sa

import models.columns


# revision identifiers, used by Alembic.
revision = '006d1d414500'
down_revision = 'd29efae407ed'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('account_equity',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('minute', sa.BigInteger(), nullable=False),
    sa.Column('recorded_at', models.columns.UTCDateTime(timezone=True), nullable=False),
    sa.Column('balance', models.columns.ExactDecimal(length=40), nullable=False),
    sa.Column('equity', models.columns.ExactDecimal(length=40), nullable=False),
    sa.Column('margin', models.columns.ExactDecimal(length=40), nullable=False),
    sa.Column('margin_free', models.columns.ExactDecimal(length=40), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['mt5_accounts.id'], name=op.f('fk_account_equity_account_id_mt5_accounts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_account_equity')),
    sa.UniqueConstraint('account_id', 'minute', name=op.f('uq_account_equity_account_id_minute'))
    )
    with op.batch_alter_table('account_equity', schema=None) as batch_op:
        batch_op.create_index('ix_account_equity_minute', ['minute'], unique=False)

    op.create_table('account_sessions',
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('connection_status', sa.String(length=20), nullable=False),
    sa.Column('last_seen_at', models.columns.UTCDateTime(timezone=True), nullable=True),
    sa.Column('checked_at', models.columns.UTCDateTime(timezone=True), nullable=True),
    sa.Column('latency_ms', models.columns.ExactDecimal(length=40), nullable=True),
    sa.Column('currency', sa.String(length=10), nullable=True),
    sa.Column('balance', models.columns.ExactDecimal(length=40), nullable=True),
    sa.Column('equity', models.columns.ExactDecimal(length=40), nullable=True),
    sa.Column('margin', models.columns.ExactDecimal(length=40), nullable=True),
    sa.Column('margin_free', models.columns.ExactDecimal(length=40), nullable=True),
    sa.Column('margin_level', models.columns.ExactDecimal(length=40), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('next_check_at', models.columns.UTCDateTime(timezone=True), nullable=True),
    sa.Column('lease_owner', sa.String(length=100), nullable=True),
    sa.Column('lease_until', models.columns.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['mt5_accounts.id'], name=op.f('fk_account_sessions_account_id_mt5_accounts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('account_id', name=op.f('pk_account_sessions'))
    )
    with op.batch_alter_table('account_sessions', schema=None) as batch_op:
        batch_op.create_index('ix_account_sessions_due', ['connection_status', 'next_check_at'], unique=False)



def downgrade():
    with op.batch_alter_table('account_sessions', schema=None) as batch_op:
        batch_op.drop_index('ix_account_sessions_due')

    op.drop_table('account_sessions')
    with op.batch_alter_table('account_equity', schema=None) as batch_op:
        batch_op.drop_index('ix_account_equity_minute')

    op.drop_table('account_equity')
