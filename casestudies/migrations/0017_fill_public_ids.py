import json
import uuid
from collections import defaultdict

from django.db import migrations


def give_each_study_its_own(apps, schema_editor):
    CaseStudy = apps.get_model("casestudies", "CaseStudy")
    studies = list(CaseStudy.objects.filter(public_id__isnull=True).only("pk"))
    for study in studies:
        study.public_id = uuid.uuid4()
    CaseStudy.objects.bulk_update(studies, ["public_id"], batch_size=500)
    keep_them_in_revisions(apps, {str(study.pk): str(study.public_id) for study in studies})


def keep_them_in_revisions(apps, public_ids):
    """A revision saved before this migration restores the study with the id it has now, not a new one
    (a deleted study's revisions share one of their own): its feed entry stays the same entry."""
    ContentType = apps.get_model("contenttypes", "ContentType")
    Version = apps.get_model("reversion", "Version")
    content_type = ContentType.objects.filter(app_label="casestudies", model="casestudy").first()
    if content_type is None:
        return
    deleted = defaultdict(lambda: str(uuid.uuid4()))
    versions = list(Version.objects.filter(content_type=content_type, format="json"))
    for version in versions:
        data = json.loads(version.serialized_data)
        for record in data:
            public_id = public_ids.get(version.object_id) or deleted[version.object_id]
            record["fields"].setdefault("public_id", public_id)
        version.serialized_data = json.dumps(data)
    Version.objects.bulk_update(versions, ["serialized_data"], batch_size=500)


class Migration(migrations.Migration):
    # Its own migration (its own transaction): on PostgreSQL, rows updated and the table altered in
    # one transaction can fail with "pending trigger events".
    dependencies = [
        ("casestudies", "0016_casestudy_public_id"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("reversion", "0002_add_index_on_version_for_content_type_and_db"),
    ]

    operations = [
        migrations.RunPython(give_each_study_its_own, migrations.RunPython.noop),
    ]
