from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("casestudies", "0015_link_schemes"),
    ]

    operations = [
        # Nullable and not yet unique: the default is evaluated once, so every existing row would share it.
        migrations.AddField(
            model_name="casestudy",
            name="public_id",
            field=models.UUIDField(null=True, editable=False),
        ),
    ]
