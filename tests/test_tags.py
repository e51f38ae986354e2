"""Tag admin: counts, rename, merge."""

import pytest
from django.test import Client

from casestudies.models import Tag
from tests.factories import CaseStudyFactory

pytestmark = pytest.mark.django_db

TAGS = "/admin/casestudies/tag/"


def test_merging_tags_keeps_every_studys_other_tags(superuser_client):
    both = CaseStudyFactory(tags=["Real-Time", "Realtime", "WebSockets"])
    one = CaseStudyFactory(tags=["Realtime", "Scalability"])
    keep = Tag.objects.get(name="Real-Time")
    merged = Tag.objects.get(name="Realtime")
    selected = {"action": "merge", "_selected_action": [keep.pk, merged.pk]}
    confirm = superuser_client.post(TAGS, selected)
    assert b"Merge 2 tags into one" in confirm.content
    superuser_client.post(TAGS, {**selected, "merge_into": keep.pk})
    assert not Tag.objects.filter(name="Realtime").exists()
    assert [tag.name for tag in both.tag_list] == ["Real-Time", "WebSockets"]
    assert sorted(tag.name for tag in one.tag_list) == ["Real-Time", "Scalability"]


def test_merging_needs_two_tags(superuser_client):
    CaseStudyFactory(tags=["Security"])
    response = superuser_client.post(
        TAGS, {"action": "merge", "_selected_action": [Tag.objects.get().pk]}, follow=True
    )
    assert b"Select at least two tags to merge." in response.content


def test_renaming_a_tag_keeps_the_authors_casing_and_a_lowercase_slug(superuser_client):
    CaseStudyFactory(tags=["Websockets"])
    tag = Tag.objects.get()
    superuser_client.post(f"{TAGS}{tag.pk}/change/", {"name": "WebSockets", "slug": "Web Sockets"})
    tag.refresh_from_db()
    assert (tag.name, tag.slug) == ("WebSockets", "web-sockets")
    assert b"WebSockets" in Client().get("/case-studies/?tag=web-sockets").content


def test_a_rename_that_clashes_in_another_case_is_refused(superuser_client):
    CaseStudyFactory(tags=["Security", "Privacy"])
    tag = Tag.objects.get(name="Privacy")
    response = superuser_client.post(f"{TAGS}{tag.pk}/change/", {"name": "SECURITY", "slug": "privacy"})
    assert response.status_code == 200
    assert response.context["adminform"].form.errors
    assert "A tag with this name exists already, ignoring case." in response.content.decode()
    assert Tag.objects.filter(name="Privacy").exists()
