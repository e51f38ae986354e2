"""Never lose work: every admin save keeps a revision that can be restored, deleted studies too."""

import pytest
from bs4 import BeautifulSoup
from django.core.management import call_command
from reversion.models import Version

from casestudies.models import CaseStudy, Tag
from tests.factories import CaseStudyFactory
from tests.test_admin import CHANGELIST, study_form

pytestmark = pytest.mark.django_db


def add_and_edit(client):
    client.post(CHANGELIST + "add/", study_form(title="First title", body="First body", tags="Security"))
    study = CaseStudy.objects.get(slug="a-new-study")
    client.post(
        f"{CHANGELIST}{study.pk}/change/",
        study_form(title="Second title", body="Second body", tags="Security, Encryption"),
    )
    return study


def test_every_save_keeps_a_revision_saying_what_changed(superuser_client):
    study = add_and_edit(superuser_client)
    versions = Version.objects.get_for_object(study)
    assert versions.count() == 2
    assert "Title" in versions[0].revision.comment
    assert "Body" in versions[0].revision.comment
    html = superuser_client.get(f"{CHANGELIST}{study.pk}/history/").content.decode()
    assert "Changed Title" in html


def test_an_earlier_version_can_be_restored_with_its_tags(superuser_client):
    study = add_and_edit(superuser_client)
    first = Version.objects.get_for_object(study).last()
    page = superuser_client.get(f"{CHANGELIST}{study.pk}/history/{first.pk}/")
    assert page.status_code == 200
    assert b"First title" in page.content
    form = study_form(title="First title", body="First body", tags="Security")
    response = superuser_client.post(f"{CHANGELIST}{study.pk}/history/{first.pk}/", form)
    assert response.status_code == 302
    study.refresh_from_db()
    assert study.title == "First title"
    assert study.body_html == "<p>First body</p>"
    assert [tag.name for tag in study.tag_list] == ["Security"]


def test_a_deleted_study_can_be_recovered(superuser_client, client):
    study = add_and_edit(superuser_client)
    superuser_client.post(f"{CHANGELIST}{study.pk}/delete/", {"post": "yes"})
    assert not CaseStudy.objects.exists()
    recover_list = superuser_client.get(CHANGELIST + "recover/")
    assert b"Second title" in recover_list.content
    version = Version.objects.get_deleted(CaseStudy).first()
    response = superuser_client.post(
        f"{CHANGELIST}recover/{version.pk}/",
        study_form(title="Second title", body="Second body", tags="Security, Encryption"),
    )
    assert response.status_code == 302
    restored = CaseStudy.objects.get(slug="a-new-study")
    assert [tag.name for tag in restored.tag_list] == ["Security", "Encryption"]
    assert b"Second title" in client.get("/case-studies/a-new-study/").content


def test_restoring_an_old_slug_keeps_the_newer_address_working(superuser_client, client):
    superuser_client.post(CHANGELIST + "add/", study_form(slug="old-address"))
    study = CaseStudy.objects.get()
    superuser_client.post(f"{CHANGELIST}{study.pk}/change/", study_form(slug="new-address"))
    first = Version.objects.get_for_object(study).last()
    superuser_client.post(f"{CHANGELIST}{study.pk}/history/{first.pk}/", study_form(slug="old-address"))
    assert client.get("/case-studies/old-address/").status_code == 200
    assert client.get("/case-studies/new-address/")["Location"] == "/case-studies/old-address/"


@pytest.mark.parametrize("change", ["deleted", "merged"])
def test_a_version_whose_tag_was_deleted_or_merged_since_restores_without_it(
    superuser_client, client, change
):
    study = add_and_edit(superuser_client)
    other = CaseStudyFactory(title="Other", tags=["Encryption", "Cryptography"])
    second = Version.objects.get_for_object(study).first()
    encryption = Tag.objects.get(slug="encryption")
    if change == "deleted":
        encryption.delete()
    else:
        encryption.merge_into(Tag.objects.get(slug="cryptography"))
    # The merge moved the study's link to the tag it kept.
    tags_now = "Security" if change == "deleted" else "Security, Cryptography"
    superuser_client.post(f"{CHANGELIST}{study.pk}/change/", study_form(title="Third title", tags=tags_now))

    page = superuser_client.get(f"{CHANGELIST}{study.pk}/history/{second.pk}/")
    assert page.status_code == 200
    form = BeautifulSoup(page.content, "html.parser")
    assert form.select_one("input[name=title]")["value"] == "Second title"
    # The form shows the study as the restore leaves it: the tag is gone.
    assert form.select_one("input[name=tags]")["value"] == "Security"
    restore = study_form(title="Second title", body="Second body", tags="Security")
    response = superuser_client.post(f"{CHANGELIST}{study.pk}/history/{second.pk}/", restore)
    assert response.status_code == 302
    study.refresh_from_db()
    assert study.title == "Second title"
    assert [tag.name for tag in study.tag_list] == ["Security"]
    assert b"Second title" in client.get("/case-studies/?tag=security").content
    assert [tag.name for tag in CaseStudy.objects.get(pk=other.pk).tag_list] == ["Cryptography"]
    assert list(Tag.objects.order_by("name").values_list("name", flat=True)) == ["Cryptography", "Security"]
    # Every count agrees: the study left the tag its link had been moved to.
    tag_counts = CaseStudy.objects.published().tag_counts()
    assert {tag.name: tag.study_count for tag in tag_counts} == {"Security": 1, "Cryptography": 1}


def test_restoring_a_version_does_not_undo_a_later_rename_of_its_tags(superuser_client):
    study = add_and_edit(superuser_client)
    first = Version.objects.get_for_object(study).last()
    security = Tag.objects.get(slug="security")
    security.name = "SecOps"
    security.save()
    form = study_form(title="First title", body="First body", tags="SecOps")
    response = superuser_client.post(f"{CHANGELIST}{study.pk}/history/{first.pk}/", form)
    assert response.status_code == 302
    assert Tag.objects.get(pk=security.pk).name == "SecOps"
    assert [tag.name for tag in CaseStudy.objects.get(pk=study.pk).tag_list] == ["SecOps"]


def test_a_deleted_study_whose_tag_was_deleted_since_can_be_recovered(superuser_client):
    study = add_and_edit(superuser_client)
    superuser_client.post(f"{CHANGELIST}{study.pk}/delete/", {"post": "yes"})
    Tag.objects.filter(slug="encryption").delete()
    version = Version.objects.get_deleted(CaseStudy).first()
    assert superuser_client.get(f"{CHANGELIST}recover/{version.pk}/").status_code == 200
    response = superuser_client.post(
        f"{CHANGELIST}recover/{version.pk}/",
        study_form(title="Second title", body="Second body", tags="Security, Encryption"),
    )
    assert response.status_code == 302
    assert [tag.name for tag in CaseStudy.objects.get(slug="a-new-study").tag_list] == [
        "Security",
        "Encryption",
    ]


def test_an_imported_study_starts_with_a_revision_to_come_back_to(superuser_client, client):
    call_command("import_studies", verbosity=0)
    study = CaseStudy.objects.get(slug="securevault")
    seed_title = study.title
    superuser_client.post(
        f"{CHANGELIST}{study.pk}/change/", study_form(title="Rewritten", slug="securevault")
    )
    imported = Version.objects.get_for_object(study).last()
    assert imported.revision.comment == "Imported from securevault.md."
    assert imported.field_dict["title"] == seed_title
    page = superuser_client.get(f"{CHANGELIST}{study.pk}/history/")
    assert b"Imported from securevault.md." in page.content
