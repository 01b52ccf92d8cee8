"""dispatch_counts: each dispatch's rows by status, kept by triggers on broadcast_queue

Reading a broadcast's progress was a GROUP BY over its rows (a thousand-target broadcast read a
thousand index entries on every poll). The counts now live in one row per dispatch, moved by
triggers in the same statement that inserts a ledger row, changes its status or deletes it, so
they commit or roll back with the outcome itself and no code path can forget them. SQLite: row
triggers (one writer at a time). PostgreSQL: statement triggers over the transition tables
(one UPDATE per statement, however many rows it moved), which lock the counts rows in
dispatch order so concurrent recorders queue instead of deadlocking. Existing dispatches are
backfilled from their rows.

Revision ID: 51888bafd0b4
Revises: 006d1d414500
Create Date: 2026-12-02 18:31:15.675109

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '51888bafd0b4'
down_revision = '006d1d414500'
branch_labels = None
depends_on = None

# The ledger's row statuses as of this revision (models/broadcast.py RowStatus).
STATUSES = ('pending', 'in_flight', 'executed', 'placed', 'skipped', 'failed', 'expired', 'cancelled')
TRIGGERS = ('dispatch_counts_insert', 'dispatch_counts_update', 'dispatch_counts_delete')


def _sqlite_triggers():
    def moved(sign, ref):
        return ', '.join(f"{s} = {s} {sign} ({ref}.status = '{s}')" for s in STATUSES)

    both = ', '.join(
        f"{s} = {s} + (NEW.status = '{s}') - (OLD.status = '{s}')" for s in STATUSES
    )
    return [
        "CREATE TRIGGER dispatch_counts_insert AFTER INSERT ON broadcast_queue BEGIN "
        "INSERT OR IGNORE INTO dispatch_counts (dispatch_id) VALUES (NEW.dispatch_id); "
        f"UPDATE dispatch_counts SET {moved('+', 'NEW')} WHERE dispatch_id = NEW.dispatch_id; END",
        # dispatch_id never changes: a row belongs to its dispatch for life.
        "CREATE TRIGGER dispatch_counts_update AFTER UPDATE OF status ON broadcast_queue "
        "WHEN OLD.status IS NOT NEW.status BEGIN "
        f"UPDATE dispatch_counts SET {both} WHERE dispatch_id = NEW.dispatch_id; END",
        "CREATE TRIGGER dispatch_counts_delete AFTER DELETE ON broadcast_queue BEGIN "
        f"UPDATE dispatch_counts SET {moved('-', 'OLD')} WHERE dispatch_id = OLD.dispatch_id; END",
    ]


def _postgres_triggers():
    columns = ', '.join(STATUSES)
    added = ', '.join(f"{s} = c.{s} + d.{s}" for s in STATUSES)

    def tally(ref, sign=''):
        return ', '.join(f"{sign}count(*) FILTER (WHERE {ref}.status = '{s}') AS {s}" for s in STATUSES)

    def lock(table):
        return (
            "PERFORM 1 FROM dispatch_counts WHERE dispatch_id IN "
            f"(SELECT dispatch_id FROM {table}) ORDER BY dispatch_id FOR UPDATE;"
        )

    moved = ', '.join(
        f"count(*) FILTER (WHERE n.status = '{s}') - count(*) FILTER (WHERE o.status = '{s}') AS {s}"
        for s in STATUSES
    )
    bodies = {
        'insert': (
            f"INSERT INTO dispatch_counts AS c (dispatch_id, {columns}) "
            f"SELECT dispatch_id, {tally('n')} FROM new_rows n GROUP BY dispatch_id "
            "ORDER BY dispatch_id "
            "ON CONFLICT (dispatch_id) DO UPDATE SET "
            + ', '.join(f"{s} = c.{s} + EXCLUDED.{s}" for s in STATUSES) + ";"
        ),
        'update': (
            lock('new_rows')
            + f" UPDATE dispatch_counts AS c SET {added} FROM (SELECT n.dispatch_id, {moved} "
            "FROM new_rows n JOIN old_rows o ON o.id = n.id "
            "WHERE n.status IS DISTINCT FROM o.status GROUP BY n.dispatch_id) AS d "
            "WHERE c.dispatch_id = d.dispatch_id;"
        ),
        'delete': (
            lock('old_rows')
            + f" UPDATE dispatch_counts AS c SET {added} FROM (SELECT o.dispatch_id, "
            f"{tally('o', '-')} FROM old_rows o GROUP BY o.dispatch_id) AS d "
            "WHERE c.dispatch_id = d.dispatch_id;"
        ),
    }
    referencing = {
        'insert': 'NEW TABLE AS new_rows',
        'update': 'OLD TABLE AS old_rows NEW TABLE AS new_rows',
        'delete': 'OLD TABLE AS old_rows',
    }
    statements = []
    for event, body in bodies.items():
        statements.append(
            f"CREATE FUNCTION dispatch_counts_{event}() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN {body} RETURN NULL; END $$"
        )
        statements.append(
            f"CREATE TRIGGER dispatch_counts_{event} AFTER {event.upper()} ON broadcast_queue "
            f"REFERENCING {referencing[event]} FOR EACH STATEMENT "
            f"EXECUTE FUNCTION dispatch_counts_{event}()"
        )
    return statements


def upgrade():
    op.create_table('dispatch_counts',
    sa.Column('dispatch_id', sa.Integer(), nullable=False),
    sa.Column('pending', sa.Integer(), server_default='0', nullable=False),
    sa.Column('in_flight', sa.Integer(), server_default='0', nullable=False),
    sa.Column('executed', sa.Integer(), server_default='0', nullable=False),
    sa.Column('placed', sa.Integer(), server_default='0', nullable=False),
    sa.Column('skipped', sa.Integer(), server_default='0', nullable=False),
    sa.Column('failed', sa.Integer(), server_default='0', nullable=False),
    sa.Column('expired', sa.Integer(), server_default='0', nullable=False),
    sa.Column('cancelled', sa.Integer(), server_default='0', nullable=False),
    sa.ForeignKeyConstraint(['dispatch_id'], ['broadcasts.id'], name=op.f('fk_dispatch_counts_dispatch_id_broadcasts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('dispatch_id', name=op.f('pk_dispatch_counts'))
    )
    dialect = op.get_bind().dialect.name
    # Backfill first, then the triggers: on PostgreSQL this runs in the migration's transaction.
    sums = ', '.join(f"coalesce(sum(CASE WHEN q.status = '{s}' THEN 1 ELSE 0 END), 0)" for s in STATUSES)
    op.execute(
        f"INSERT INTO dispatch_counts (dispatch_id, {', '.join(STATUSES)}) "
        f"SELECT d.id, {sums} FROM broadcasts d LEFT JOIN broadcast_queue q ON q.dispatch_id = d.id "
        "GROUP BY d.id"
    )
    for statement in _postgres_triggers() if dialect == 'postgresql' else _sqlite_triggers():
        op.execute(statement)


def downgrade():
    dialect = op.get_bind().dialect.name
    for trigger in TRIGGERS:
        if dialect == 'postgresql':
            op.execute(f"DROP TRIGGER IF EXISTS {trigger} ON broadcast_queue")
            op.execute(f"DROP FUNCTION IF EXISTS {trigger}()")
        else:
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    op.drop_table('dispatch_counts')
