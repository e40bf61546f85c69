"""PostgreSQL only: the writing transaction's id on each row, and the append-only trigger.

tx_id (xid8) lets readers follow the log in commit-safe order: see eventstore.store.read_all.
The trigger refuses UPDATE, DELETE and TRUNCATE unless the session setting
eventstore.allow_destructive is 'on' — an escape hatch for Django's test runner (which empties
tables with TRUNCATE) that application code never opens.
"""

from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps

FORWARD = """
ALTER TABLE eventstore_event ADD COLUMN tx_id xid8 NOT NULL DEFAULT pg_current_xact_id();
CREATE INDEX eventstore_event_tx_pos ON eventstore_event (tx_id, global_position);

CREATE FUNCTION eventstore_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF coalesce(current_setting('eventstore.allow_destructive', true), '') = 'on' THEN
        IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'eventstore_event is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'restrict_violation';
END $$;

CREATE TRIGGER eventstore_event_append_only
    BEFORE UPDATE OR DELETE ON eventstore_event
    FOR EACH ROW EXECUTE FUNCTION eventstore_refuse_change();
CREATE TRIGGER eventstore_event_no_truncate
    BEFORE TRUNCATE ON eventstore_event
    FOR EACH STATEMENT EXECUTE FUNCTION eventstore_refuse_change();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS eventstore_event_no_truncate ON eventstore_event;
DROP TRIGGER IF EXISTS eventstore_event_append_only ON eventstore_event;
DROP FUNCTION IF EXISTS eventstore_refuse_change();
DROP INDEX IF EXISTS eventstore_event_tx_pos;
ALTER TABLE eventstore_event DROP COLUMN IF EXISTS tx_id;
"""


def forward(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARD, params=None)


def backward(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKWARD, params=None)


class Migration(migrations.Migration):
    dependencies = [("eventstore", "0001_initial")]
    operations = [migrations.RunPython(forward, backward)]
