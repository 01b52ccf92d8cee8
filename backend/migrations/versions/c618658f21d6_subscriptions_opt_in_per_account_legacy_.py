"""subscriptions: opt-in per account, legacy consent for copy-enabled accounts

Revision ID: c618658f21d6
Revises: 5698e92a46fe
Create Date: 2026-12-02 18:27:10.731532

"""
from alembic import op
import sqlalchemy as sa

import models.columns


# revision identifiers, used by Alembic.
revision = 'c618658f21d6'
down_revision = '5698e92a46fe'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('subscriptions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('consent', sa.String(length=20), nullable=False),
    sa.Column('terms_version', sa.String(length=50), nullable=True),
    sa.Column('accepted_at', models.columns.UTCDateTime(timezone=True), nullable=True),
    sa.Column('accepted_ip', sa.String(length=64), nullable=True),
    sa.Column('sizing', sa.JSON(none_as_null=True), nullable=True),
    sa.Column('symbols', sa.JSON(none_as_null=True), nullable=True),
    sa.Column('protection', sa.JSON(none_as_null=True), nullable=True),
    sa.Column('day_key', sa.String(length=10), nullable=True),
    sa.Column('day_start_equity', models.columns.ExactDecimal(length=40), nullable=True),
    sa.Column('equity_high', models.columns.ExactDecimal(length=40), nullable=True),
    sa.Column('last_equity', models.columns.ExactDecimal(length=40), nullable=True),
    sa.Column('currency', sa.String(length=10), nullable=True),
    sa.Column('checked_at', models.columns.UTCDateTime(timezone=True), nullable=True),
    sa.Column('breach', sa.JSON(none_as_null=True), nullable=True),
    sa.Column('breached_at', models.columns.UTCDateTime(timezone=True), nullable=True),
    sa.Column('close_pending', sa.Boolean(), server_default='0', nullable=False),
    sa.Column('created_at', models.columns.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', models.columns.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['mt5_accounts.id'], name=op.f('fk_subscriptions_account_id_mt5_accounts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_subscriptions_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_subscriptions')),
    sa.UniqueConstraint('account_id', name=op.f('uq_subscriptions_account_id'))
    )
    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_subscriptions_state'), ['state'], unique=False)
        batch_op.create_index(batch_op.f('ix_subscriptions_user_id'), ['user_id'], unique=False)

    # Accounts that took copies before opt-in existed keep receiving them, marked legacy
    # consent (no terms accepted) until their owner confirms or unsubscribes.
    op.execute(
        "INSERT INTO subscriptions (account_id, user_id, state, consent, close_pending, "
        "created_at) SELECT id, user_id, 'active', 'legacy', false, CURRENT_TIMESTAMP "
        "FROM mt5_accounts WHERE copy_enabled = true AND deleted_at IS NULL"
    )


def downgrade():
    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_subscriptions_user_id'))
        batch_op.drop_index(batch_op.f('ix_subscriptions_state'))

    op.drop_table('subscriptions')
