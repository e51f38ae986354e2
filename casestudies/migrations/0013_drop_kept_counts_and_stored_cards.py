from django.db import migrations


class Migration(migrations.Migration):
    """The counts and cards kept at save time go: pages count from the studies themselves."""

    dependencies = [
        ("casestudies", "0012_published_total"),
    ]

    operations = [
        migrations.DeleteModel(name="PublishedTotal"),
        migrations.DeleteModel(name="TagPair"),
        migrations.DeleteModel(name="TagTriple"),
        migrations.RemoveField(model_name="casestudy", name="card_html"),
        migrations.RemoveField(model_name="casestudy", name="card_key"),
        migrations.RemoveField(model_name="tag", name="published_studies"),
    ]
