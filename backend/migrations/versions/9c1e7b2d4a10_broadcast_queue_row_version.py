"""broadcast_queue.row_version: a counter every update of a row moves

Revision ID: 9c1e7b2d4a10
Revises: 51888bafd0b4
Create Date: 2026-12-04 01:50:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '9c1e7b2d4a10'
down_revision = '51888bafd0b4'
branch_labels = None
depends_on = None


def upgrade():
    # A plain ADD COLUMN (no batch copy): the table keeps the dispatch_counts triggers.
    op.add_column(
        'broadcast_queue',
        sa.Column('row_version', sa.Integer(), nullable=False, server_default='0'),
    )


def downgrade():
    op.drop_column('broadcast_queue', 'row_version')  # SQLite 3.35+ drops it in place
