"""The relation from an order view to its items: state only (a ForeignObject has no column)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("projections", "0005_partition_read_models_by_generation")]

    operations = [
        migrations.AddField(
            model_name="orderviewitem",
            name="order_view",
            field=models.ForeignObject(
                from_fields=("generation", "order_id"),
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="items",
                to="projections.orderview",
                to_fields=("generation", "order_id"),
            ),
        ),
    ]
