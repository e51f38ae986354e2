import uuid

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("casestudies", "0017_fill_public_ids"),
    ]

    operations = [
        migrations.AlterField(
            model_name="casestudy",
            name="public_id",
            field=models.UUIDField(default=uuid.uuid4, editable=False, unique=True),
        ),
    ]
