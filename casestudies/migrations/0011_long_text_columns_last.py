from django.db import migrations

# This migration once rebuilt the case study table on SQLite with its long text
# columns last, through a private method of Django's schema editor. It does nothing
# now: a database migrated before keeps its column order, which no query depends on.


class Migration(migrations.Migration):
    dependencies = [
        ("casestudies", "0010_slug_help_and_tag_name_message"),
    ]

    operations = []
