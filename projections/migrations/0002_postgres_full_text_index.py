"""PostgreSQL only: a GIN index for the full-text search behind /api/orders/search?q=."""

from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps


def forward(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "CREATE INDEX ov_search ON projections_orderview "
            "USING gin (to_tsvector('simple', search_text))"
        )


def backward(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS ov_search")


class Migration(migrations.Migration):
    dependencies = [("projections", "0001_initial")]
    operations = [migrations.RunPython(forward, backward)]
