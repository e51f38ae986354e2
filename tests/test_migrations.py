"""A database made by an earlier release upgrades with `migrate`, its studies intact."""

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from casestudies.models import CaseStudy

BEFORE_THE_KEPT_COUNTS_WENT = ("casestudies", "0012_published_total")


@pytest.mark.django_db(transaction=True)
def test_the_kept_counts_and_stored_cards_go_and_the_studies_stay(client):
    call_command("migrate", *BEFORE_THE_KEPT_COUNTS_WENT, verbosity=0)
    old = MigrationExecutor(connection).loader.project_state(BEFORE_THE_KEPT_COUNTS_WENT).apps
    tag = old.get_model("casestudies", "Tag").objects.create(
        name="Security", slug="security", published_studies=1
    )
    study = old.get_model("casestudies", "CaseStudy").objects.create(
        title="Kept Through The Upgrade",
        slug="kept",
        summary="A study from before.",
        body="## Hello",
        body_html="<h2>Hello</h2>",
        status="published",
        card_html="<article>an old stored card</article>",
        card_key="older-release",
    )
    old.get_model("casestudies", "TaggedCaseStudy").objects.create(content_object=study, tag=tag)
    old.get_model("casestudies", "PublishedTotal").objects.create(published_studies=1)
    old.get_model("casestudies", "TagPair").objects.create(tag=tag, other=tag, published_studies=7)

    call_command("migrate", verbosity=0)

    tables = connection.introspection.table_names()
    assert not {"casestudies_tagpair", "casestudies_tagtriple", "casestudies_publishedtotal"} & set(tables)
    with connection.cursor() as cursor:
        description = connection.introspection.get_table_description(cursor, CaseStudy._meta.db_table)
    columns = {column.name for column in description}
    assert not {"card_html", "card_key"} & columns
    upgraded = CaseStudy.objects.published().get(slug="kept")
    assert [tag.name for tag in upgraded.tags.all()] == ["Security"]
    page = client.get("/case-studies/?tag=security").content.decode()
    assert "Kept Through The Upgrade" in page
    assert "an old stored card" not in page
    assert "Kept Through The Upgrade" in client.get("/case-studies/?q=hello").content.decode()
