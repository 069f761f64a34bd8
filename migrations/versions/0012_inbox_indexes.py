"""inbox and history indexes; timer write notifications (issue 17)

Revision ID: 0012_inbox_indexes
Revises: 0010_search
Create Date: 2026-12-03 08:00:00

- task_groups (group_key, task_id) replaces the single-column group_key index: the
  group inbox reads a group's task ids from the index alone, then the tasks by key.
- events (task_id): "this task was already completed" (a claim or complete of a stale
  task) looked through every event.
- PostgreSQL: a statement trigger on timers sends NOTIFY docroute_timers when a
  transaction that wrote timer rows commits, so schedulers sleep until their earliest
  timer instead of polling (engine/wakeup.py). Identical notifications of one
  transaction are folded into one by PostgreSQL.
"""
from alembic import op

revision = '0012_inbox_indexes'
down_revision = '0011_case_links'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_task_groups_group_task', 'task_groups', ['group_key', 'task_id'])
    op.drop_index('ix_task_groups_group_key', table_name='task_groups')
    op.create_index('ix_events_task_id', 'events', ['task_id'])
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(
            "CREATE FUNCTION docroute_timers_notify() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN PERFORM pg_notify('docroute_timers', ''); RETURN NULL; END $$")
        op.execute(
            "CREATE TRIGGER timers_notify AFTER INSERT OR UPDATE ON timers "
            "FOR EACH STATEMENT EXECUTE FUNCTION docroute_timers_notify()")


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("DROP TRIGGER IF EXISTS timers_notify ON timers")
        op.execute("DROP FUNCTION IF EXISTS docroute_timers_notify()")
    op.drop_index('ix_events_task_id', table_name='events')
    op.create_index('ix_task_groups_group_key', 'task_groups', ['group_key'])
    op.drop_index('ix_task_groups_group_task', table_name='task_groups')
