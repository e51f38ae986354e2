"""Migrations 0016-0018: every existing study gets a public id of its own (its feed entry's id),
and its revisions carry it, so a restore keeps the same feed entry."""

import json

import pytest
from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from reversion.models import Revision, Version

from casestudies.models import CaseStudy

BEFORE = ("casestudies", "0015_link_schemes")


def studies_before_public_ids():
    call_command("migrate", *BEFORE, verbosity=0)
    return (
        MigrationExecutor(connection).loader.project_state(BEFORE).apps.get_model("casestudies", "CaseStudy")
    )


@pytest.mark.django_db(transaction=True)
def test_existing_studies_get_distinct_ids():
    old_study = studies_before_public_ids()
    for number in range(3):
        old_study.objects.create(title=f"S{number}", slug=f"s{number}", summary="s", status="published")
    call_command("migrate", verbosity=0)
    ids = list(CaseStudy.objects.values_list("public_id", flat=True))
    assert None not in ids
    assert len(set(ids)) == 3
    assert CaseStudy.objects.create(title="New", slug="new", summary="s").public_id not in ids


@pytest.mark.django_db(transaction=True)
def test_a_revision_saved_before_the_migration_restores_the_same_public_id():
    old_study = studies_before_public_ids()
    study = old_study.objects.create(title="Old", slug="old", summary="s", status="published")
    fields = old_study.objects.filter(pk=study.pk).values().get()
    fields.pop("id")
    fields["title"] = "Old title"
    content_type, _ = ContentType.objects.get_or_create(app_label="casestudies", model="casestudy")
    Version.objects.create(
        revision=Revision.objects.create(date_created="2020-01-01T00:00Z"),
        object_id=str(study.pk),
        content_type=content_type,
        db="default",
        format="json",
        serialized_data=json.dumps(
            [{"model": "casestudies.casestudy", "pk": study.pk, "fields": fields}], cls=DjangoJSONEncoder
        ),
        object_repr="Old",
    )
    call_command("migrate", verbosity=0)
    current = CaseStudy.objects.get(pk=study.pk)
    Version.objects.get_for_object(current).get().revision.revert()
    reverted = CaseStudy.objects.get(pk=study.pk)
    assert reverted.title == "Old title"
    assert reverted.public_id == current.public_id
