"""The per-tag counts of public studies, kept on the tags, follow every change a visitor could see.

Each test reads /tags/ as a visitor would: the counts there (and in the list's
"Browse by tag" panel) come from the kept column, not from counting links.
"""

import datetime

import pytest
from bs4 import BeautifulSoup
from django.core.management import call_command
from django.utils import timezone

from casestudies.models import CaseStudy, PublishedTotal, Tag, TagPair, TagTriple
from casestudies.tagcounts import recount
from casestudies.views import STUDIES_PER_PAGE
from tests.factories import CaseStudyFactory, draft, scheduled

pytestmark = pytest.mark.django_db

STUDIES = "/admin/casestudies/casestudy/"


def tag_index(client):
    soup = BeautifulSoup(client.get("/tags/").content, "html.parser")
    return {
        link.contents[0].strip(): int(link.select_one(".tag-count").get_text(" ", strip=True).split()[0])
        for link in soup.select(".tag-index a")
    }


def facet_counts(soup):
    """The list's tag panel as (name, count) pairs, in order."""
    return [
        (link.contents[0].strip(), int(link.select_one(".tag-count").contents[0]))
        for link in soup.select(".facets a.tag")
    ]


def browse_by_tag(client):
    return facet_counts(BeautifulSoup(client.get("/case-studies/").content, "html.parser"))


def test_the_list_offers_the_most_used_public_tags_with_their_counts(client):
    CaseStudyFactory.create_batch(3, tags=["Security"])
    CaseStudyFactory.create_batch(2, tags=["Backend", "Security"])
    draft(tags=["Backend", "Drafts"])
    scheduled(tags=["Backend", "Future"])
    assert browse_by_tag(client) == [("Security", 5), ("Backend", 2)]


def test_publishing_and_unpublishing_a_study_change_its_tags_counts(client):
    study = draft(tags=["Security", "Encryption"])
    CaseStudyFactory(tags=["Security"])
    assert tag_index(client) == {"Security": 1}
    study.status = CaseStudy.Status.PUBLISHED
    study.save()
    assert tag_index(client) == {"Security": 2, "Encryption": 1}
    study.status = CaseStudy.Status.DRAFT
    study.save()
    assert tag_index(client) == {"Security": 1}


def test_retagging_a_study_moves_its_count(client):
    study = CaseStudyFactory(tags=["Security", "Encryption"])
    study.tags.set(["Security", "Backend"])
    assert tag_index(client) == {"Security": 1, "Backend": 1}
    study.tags.clear()
    assert tag_index(client) == {}


def test_deleting_a_study_or_a_tag_drops_its_counts(client):
    kept = CaseStudyFactory(tags=["Security"])
    CaseStudyFactory(tags=["Security", "Encryption"]).delete()
    assert tag_index(client) == {"Security": 1}
    Tag.objects.get(name="Security").delete()
    assert tag_index(client) == {}
    assert kept.tag_list == []


def test_the_admins_bulk_actions_change_the_counts(superuser_client):
    first = draft(tags=["Security"])
    second = draft(tags=["Security", "Backend"])
    selected = {"_selected_action": [first.pk, second.pk]}
    superuser_client.post(STUDIES, {**selected, "action": "publish"})
    assert tag_index(superuser_client) == {"Security": 2, "Backend": 1}
    superuser_client.post(STUDIES, {"_selected_action": [second.pk], "action": "unpublish"})
    assert tag_index(superuser_client) == {"Security": 1}


def test_merging_two_tags_adds_their_studies_up_once(superuser_client):
    CaseStudyFactory(tags=["Real-Time", "Realtime"])
    CaseStudyFactory(tags=["Realtime"])
    CaseStudyFactory(tags=["Real-Time"])
    keep, merged = Tag.objects.get(name="Real-Time"), Tag.objects.get(name="Realtime")
    superuser_client.post(
        "/admin/casestudies/tag/",
        {"action": "merge", "_selected_action": [keep.pk, merged.pk], "merge_into": keep.pk},
    )
    assert tag_index(superuser_client) == {"Real-Time": 3}


def test_a_scheduled_study_is_counted_from_its_date_with_no_save(client, time_machine):
    start = timezone.now()
    time_machine.move_to(start, tick=False)
    CaseStudyFactory(tags=["Security"])
    scheduled(tags=["Security", "Future"])
    assert browse_by_tag(client) == [("Security", 1)]
    time_machine.move_to(start + datetime.timedelta(days=3, seconds=1), tick=False)
    assert browse_by_tag(client) == [("Security", 2), ("Future", 1)]


def test_counts_written_without_signals_are_set_right_by_migrate_or_recount(client):
    CaseStudyFactory.create_batch(2, tags=["Security"])
    Tag.objects.update(published_studies=0)
    assert tag_index(client) == {}
    call_command("migrate", verbosity=0)
    assert tag_index(client) == {"Security": 2}
    Tag.objects.update(published_studies=7)
    recount()
    assert tag_index(client) == {"Security": 2}


def test_the_unfiltered_list_costs_two_queries_whatever_the_number_of_tags(client, django_assert_num_queries):
    for number in range(40):
        CaseStudyFactory(tags=[f"Tag {number}", "Common"])
    scheduled(tags=["Common"])
    client.get("/case-studies/")
    with django_assert_num_queries(2):
        response = client.get("/case-studies/")
    assert ("Common", 40) in browse_by_tag(client)
    assert response.status_code == 200


# A one-tag list: its total and its facets come from the kept counts of tag pairs.


def stated_total(soup):
    return int(soup.select_one(".filter-heading").get_text(" ", strip=True).split()[0])


def two_tag_list(client, *slugs):
    """The total a list of the studies with both tags states, and its facets as (name, count) pairs."""
    query = "&".join(f"tag={slug}" for slug in sorted(slugs))
    soup = BeautifulSoup(client.get(f"/case-studies/?{query}").content, "html.parser")
    return stated_total(soup), facet_counts(soup)


def one_tag_list(client, slug):
    """The total a one-tag list states, and its facets as (name, count) pairs."""
    soup = BeautifulSoup(client.get(f"/case-studies/?tag={slug}").content, "html.parser")
    return stated_total(soup), facet_counts(soup)


def test_a_one_tag_list_counts_its_studies_and_their_other_tags(client):
    CaseStudyFactory.create_batch(3, tags=["Security", "Encryption"])
    CaseStudyFactory(tags=["Security", "Backend", "Encryption"])
    CaseStudyFactory(tags=["Backend"])
    draft(tags=["Security", "Drafts"])
    scheduled(tags=["Security", "Future"])
    assert one_tag_list(client, "security") == (4, [("Encryption", 4), ("Backend", 1)])
    assert one_tag_list(client, "backend") == (2, [("Encryption", 1), ("Security", 1)])


def test_a_one_tag_list_follows_publishing_retagging_and_deleting(client):
    study = draft(tags=["Security", "Encryption"])
    other = CaseStudyFactory(tags=["Security", "Backend"])
    assert one_tag_list(client, "security") == (1, [("Backend", 1)])
    study.status = CaseStudy.Status.PUBLISHED
    study.save()
    assert one_tag_list(client, "security") == (2, [("Backend", 1), ("Encryption", 1)])
    study.tags.set(["Security", "Backend"])
    assert one_tag_list(client, "security") == (2, [("Backend", 2)])
    other.tags.remove("Backend")
    assert one_tag_list(client, "security") == (2, [("Backend", 1)])
    study.delete()
    assert one_tag_list(client, "security") == (1, [])


def test_a_one_tag_list_follows_the_admins_bulk_actions_and_merges(superuser_client):
    first = draft(tags=["Security", "Real-Time"])
    second = draft(tags=["Security", "Realtime"])
    selected = {"_selected_action": [first.pk, second.pk]}
    superuser_client.post(STUDIES, {**selected, "action": "publish"})
    assert one_tag_list(superuser_client, "security") == (2, [("Real-Time", 1), ("Realtime", 1)])
    keep, merged = Tag.objects.get(name="Real-Time"), Tag.objects.get(name="Realtime")
    superuser_client.post(
        "/admin/casestudies/tag/",
        {"action": "merge", "_selected_action": [keep.pk, merged.pk], "merge_into": keep.pk},
    )
    assert one_tag_list(superuser_client, "security") == (2, [("Real-Time", 2)])
    superuser_client.post(STUDIES, {"_selected_action": [second.pk], "action": "unpublish"})
    assert one_tag_list(superuser_client, "security") == (1, [("Real-Time", 1)])


def test_a_scheduled_study_joins_a_one_tag_list_at_its_date_with_no_save(client, time_machine):
    start = timezone.now()
    time_machine.move_to(start, tick=False)
    CaseStudyFactory(tags=["Security", "Backend"])
    scheduled(tags=["Security", "Future"])
    assert one_tag_list(client, "security") == (1, [("Backend", 1)])
    time_machine.move_to(start + datetime.timedelta(days=3, seconds=1), tick=False)
    assert one_tag_list(client, "security") == (2, [("Backend", 1), ("Future", 1)])


def test_a_two_tag_list_counts_its_studies_and_their_other_tags(client, time_machine):
    start = timezone.now()
    time_machine.move_to(start, tick=False)
    first = CaseStudyFactory(tags=["Security", "Encryption", "Backend"])
    CaseStudyFactory(tags=["Security", "Encryption", "Backend", "Cloud"])
    CaseStudyFactory(tags=["Security", "Backend"])
    draft(tags=["Security", "Encryption", "Drafts"])
    scheduled(tags=["Encryption", "Security", "Future"])
    both = ("security", "encryption")
    assert two_tag_list(client, *both) == (2, [("Backend", 2), ("Cloud", 1)])
    time_machine.move_to(start + datetime.timedelta(days=3, seconds=1), tick=False)
    assert two_tag_list(client, *both) == (3, [("Backend", 2), ("Cloud", 1), ("Future", 1)])
    first.tags.remove("Encryption")
    assert two_tag_list(client, *both) == (2, [("Backend", 1), ("Cloud", 1), ("Future", 1)])


def test_pair_and_triple_counts_written_without_signals_are_set_right_by_migrate_or_recount(client):
    CaseStudyFactory.create_batch(2, tags=["Security", "Backend", "Cloud"])
    TagPair.objects.all().delete()
    TagTriple.objects.all().delete()
    assert one_tag_list(client, "security") == (2, [])
    assert two_tag_list(client, "security", "backend") == (0, [])
    call_command("migrate", verbosity=0)
    assert one_tag_list(client, "security") == (2, [("Backend", 2), ("Cloud", 2)])
    assert two_tag_list(client, "security", "backend") == (2, [("Cloud", 2)])
    TagPair.objects.update(published_studies=7)
    TagTriple.objects.update(published_studies=7)
    recount()
    assert one_tag_list(client, "security") == (2, [("Backend", 2), ("Cloud", 2)])
    assert two_tag_list(client, "security", "backend") == (2, [("Cloud", 2)])


def test_kept_pair_counts_agree_with_counting_the_links(client):
    studies = [
        CaseStudyFactory(tags=[f"Tag {number % 4}", f"Tag {number % 3}", "Common"]) for number in range(30)
    ]
    # Changes of every kind, each touching some pairs and not others.
    for study in studies[:5]:
        study.delete()
    for study in studies[5:10]:
        study.tags.set(["Common", "Tag 5"])
    for study in studies[10:15]:
        study.status = CaseStudy.Status.DRAFT
        study.save()
    studies[15].tags.remove("Common")
    Tag.objects.get(name="Tag 2").delete()
    for tag in Tag.objects.all():
        total, facets = one_tag_list(client, tag.slug)
        studies = CaseStudy.objects.published().filter(tags=tag)
        assert total == studies.count()
        counted = {
            other.name: studies.filter(tags=other).count()
            for other in Tag.objects.exclude(pk=tag.pk)
            if studies.filter(tags=other).exists()
        }
        assert facets == sorted(counted.items(), key=lambda item: (-item[1], item[0]))
        for other in Tag.objects.filter(name__gt=tag.name):
            both = studies.filter(tags=other)
            if both.exists():
                counted = {
                    third.name: both.filter(tags=third).count()
                    for third in Tag.objects.exclude(pk__in=[tag.pk, other.pk])
                    if both.filter(tags=third).exists()
                }
                expected_facets = sorted(counted.items(), key=lambda item: (-item[1], item[0]))
                assert two_tag_list(client, tag.slug, other.slug) == (both.count(), expected_facets)


def pages_of_the_list(client):
    """The unfiltered list's "Page 1 of N", whose N comes from the kept total."""
    soup = BeautifulSoup(client.get("/case-studies/").content, "html.parser")
    status = soup.select_one(".pagination-status")
    return status.get_text(strip=True) if status else "one page"


def test_the_lists_page_count_follows_publishing_deleting_and_the_clock(superuser_client, time_machine):
    start = timezone.now()
    time_machine.move_to(start, tick=False)
    CaseStudyFactory.create_batch(STUDIES_PER_PAGE)
    waiting = scheduled()
    unpublished = draft()
    assert pages_of_the_list(superuser_client) == "one page"
    unpublished.status = CaseStudy.Status.PUBLISHED
    unpublished.save()
    assert pages_of_the_list(superuser_client) == "Page 1 of 2"
    superuser_client.post(STUDIES, {"_selected_action": [unpublished.pk], "action": "unpublish"})
    assert pages_of_the_list(superuser_client) == "one page"
    superuser_client.post(STUDIES, {"_selected_action": [unpublished.pk], "action": "publish"})
    assert pages_of_the_list(superuser_client) == "Page 1 of 2"
    unpublished.delete()
    assert pages_of_the_list(superuser_client) == "one page"
    time_machine.move_to(waiting.published_at + datetime.timedelta(seconds=1), tick=False)
    assert pages_of_the_list(superuser_client) == "Page 1 of 2"


def test_the_list_total_is_set_right_by_migrate_or_recount_and_counted_without_its_row(client):
    CaseStudyFactory.create_batch(STUDIES_PER_PAGE + 1)
    PublishedTotal.objects.update(published_studies=0)
    assert pages_of_the_list(client) == "one page"
    call_command("migrate", verbosity=0)
    assert pages_of_the_list(client) == "Page 1 of 2"
    PublishedTotal.objects.update(published_studies=0)
    recount()
    assert pages_of_the_list(client) == "Page 1 of 2"
    PublishedTotal.objects.all().delete()
    assert pages_of_the_list(client) == "Page 1 of 2"
