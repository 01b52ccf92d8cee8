"""ledger rows: warnings (what sizing changed of what was asked)

Revision ID: 5698e92a46fe
Revises: 73a2ee4a3bee
Create Date: 2026-12-03 10:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '5698e92a46fe'
down_revision = '73a2ee4a3bee'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('broadcast_queue', schema=None) as batch_op:
        batch_op.add_column(sa.Column('warnings', sa.JSON(), nullable=True))


def downgrade():
    with op.batch_alter_table('broadcast_queue', schema=None) as batch_op:
        batch_op.drop_column('warnings')
