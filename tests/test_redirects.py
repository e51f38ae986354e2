"""A URL that worked once keeps working: old slugs redirect to the study's current address."""

import pytest
from django.core.exceptions import ValidationError

from casestudies.models import SlugRedirect
from tests.factories import CaseStudyFactory, draft

pytestmark = pytest.mark.django_db


def rename(study, slug):
    study.slug = slug
    study.save()


def test_changing_a_slug_redirects_the_old_address(client):
    study = CaseStudyFactory(slug="first-name")
    rename(study, "second-name")
    response = client.get("/case-studies/first-name/")
    assert response.status_code == 301
    assert response["Location"] == "/case-studies/second-name/"


def test_a_chain_of_renames_redirects_in_one_hop(client):
    study = CaseStudyFactory(slug="one")
    rename(study, "two")
    rename(study, "three")
    for old in ["one", "two"]:
        response = client.get(f"/case-studies/{old}/")
        assert (response.status_code, response["Location"]) == (301, "/case-studies/three/")
    assert client.get("/case-studies/three/").status_code == 200


def test_taking_back_an_old_slug_removes_its_redirect(client):
    study = CaseStudyFactory(slug="one")
    rename(study, "two")
    rename(study, "one")
    assert client.get("/case-studies/one/").status_code == 200
    assert client.get("/case-studies/two/")["Location"] == "/case-studies/one/"
    assert list(SlugRedirect.objects.values_list("old_slug", flat=True)) == ["two"]


def test_an_old_slug_of_a_draft_is_still_a_404_to_the_public(client):
    study = draft(slug="one")
    rename(study, "two")
    assert client.get("/case-studies/one/").status_code == 404


def test_a_new_study_cannot_take_a_slug_that_still_redirects():
    study = CaseStudyFactory(slug="one", title="The original")
    rename(study, "two")
    newcomer = CaseStudyFactory.build(slug="one")
    with pytest.raises(ValidationError) as error:
        newcomer.full_clean()
    assert "still redirects there" in error.value.message_dict["slug"][0]
    assert "The original" in error.value.message_dict["slug"][0]


def test_the_admin_tells_the_author_when_a_slug_still_redirects(superuser_client):
    from tests.test_admin import CHANGELIST, study_form

    study = CaseStudyFactory(slug="one")
    rename(study, "two")
    response = superuser_client.post(CHANGELIST + "add/", study_form(slug="one"))
    assert response.status_code == 200
    assert "still redirects there" in str(response.context["adminform"].form.errors["slug"])


def test_deleting_a_study_removes_its_redirects(client):
    study = CaseStudyFactory(slug="one")
    rename(study, "two")
    study.delete()
    assert client.get("/case-studies/one/").status_code == 404
    assert not SlugRedirect.objects.exists()


def test_a_study_cannot_take_the_feeds_address():
    with pytest.raises(ValidationError) as error:
        CaseStudyFactory.build(slug="feed").full_clean()
    assert "taken by the site itself" in error.value.message_dict["slug"][0]
