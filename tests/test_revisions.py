"""Never lose work: every admin save keeps a revision that can be restored, deleted studies too."""

import pytest
from reversion.models import Version

from casestudies.models import CaseStudy
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
