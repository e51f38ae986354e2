import datetime

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from casestudies.models import CaseStudy, Tag
from tests.factories import CaseStudyFactory, draft, scheduled

pytestmark = pytest.mark.django_db


def test_published_hides_drafts_and_future_studies():
    public = CaseStudyFactory()
    draft()
    scheduled()
    assert list(CaseStudy.objects.published()) == [public]


def test_scheduled_study_becomes_public_at_its_time(time_machine):
    time_machine.move_to(timezone.now(), tick=False)
    study = scheduled()
    assert not CaseStudy.objects.published().exists()
    time_machine.move_to(study.published_at + datetime.timedelta(seconds=1), tick=False)
    assert list(CaseStudy.objects.published()) == [study]


def test_is_public_says_of_one_study_what_published_says_of_all(time_machine):
    time_machine.move_to(timezone.now(), tick=False)
    studies = [
        CaseStudyFactory(),
        CaseStudyFactory(published_at=timezone.now()),
        draft(),
        draft(published_at=timezone.now() + datetime.timedelta(days=1)),
        scheduled(),
    ]
    waiting = studies[-1]
    for moment in [timezone.now(), waiting.published_at, waiting.published_at + datetime.timedelta(days=9)]:
        time_machine.move_to(moment, tick=False)
        published = set(CaseStudy.objects.published())
        assert {study for study in studies if study.is_public} == published
        assert len(published) == (2 if moment < waiting.published_at else 3)


def test_schedule_names_the_next_appearance_and_the_latest_public_date(time_machine):
    time_machine.move_to(timezone.now(), tick=False)
    latest = CaseStudyFactory(published_at=timezone.now() - datetime.timedelta(hours=1))
    CaseStudyFactory(published_at=timezone.now() - datetime.timedelta(days=3))
    draft(published_at=timezone.now() + datetime.timedelta(hours=1))
    soon = CaseStudyFactory(published_at=timezone.now() + datetime.timedelta(hours=2))
    scheduled()
    assert CaseStudy.objects.schedule() == {"next": soon.published_at, "last": latest.published_at}
    time_machine.move_to(soon.published_at, tick=False)
    assert CaseStudy.objects.schedule()["last"] == soon.published_at


def test_studies_are_ordered_newest_first_then_by_title():
    moment = timezone.now() - datetime.timedelta(days=1)
    older = CaseStudyFactory(title="Older", published_at=moment - datetime.timedelta(days=5))
    beta = CaseStudyFactory(title="Beta", published_at=moment)
    alpha = CaseStudyFactory(title="Alpha", published_at=moment)
    assert list(CaseStudy.objects.published()) == [alpha, beta, older]


def test_neighbours_follow_the_list_order():
    moment = timezone.now() - datetime.timedelta(days=1)
    newest = CaseStudyFactory(title="Newest", published_at=moment)
    alpha = CaseStudyFactory(title="Alpha", published_at=moment - datetime.timedelta(days=1))
    beta = CaseStudyFactory(title="Beta", published_at=moment - datetime.timedelta(days=1))
    oldest = CaseStudyFactory(title="Oldest", published_at=moment - datetime.timedelta(days=2))
    draft(title="Draft", published_at=moment - datetime.timedelta(days=1))
    public = CaseStudy.objects.published()
    neighbours = {
        study.title: tuple(neighbour and neighbour.slug for neighbour in public.neighbours_of(study))
        for study in CaseStudy.objects.all()
    }
    assert neighbours["Newest"] == (None, alpha.slug)
    assert neighbours["Alpha"] == (newest.slug, beta.slug)
    assert neighbours["Beta"] == (alpha.slug, oldest.slug)
    assert neighbours["Oldest"] == (beta.slug, None)
    # A draft, seen by staff, still points at its published neighbours.
    assert neighbours["Draft"] == (beta.slug, oldest.slug)


def test_related_studies_share_tags_most_shared_first_then_newest():
    study = CaseStudyFactory(tags=["Security", "Encryption", "HIPAA"])
    one_older = CaseStudyFactory(
        title="One tag, older", tags=["Security"], published_at=timezone.now() - datetime.timedelta(days=50)
    )
    two = CaseStudyFactory(
        title="Two tags",
        tags=["Security", "HIPAA"],
        published_at=timezone.now() - datetime.timedelta(days=40),
    )
    one_newer = CaseStudyFactory(
        title="One tag, newer", tags=["Encryption"], published_at=timezone.now() - datetime.timedelta(days=10)
    )
    CaseStudyFactory(title="Unrelated", tags=["Backend"])
    draft(title="Draft", tags=["Security", "Encryption", "HIPAA"])
    scheduled(title="Waiting", tags=["Security", "Encryption", "HIPAA"])
    related = list(CaseStudy.objects.published().related_to(study, 3))
    assert related == [two, one_newer, one_older]
    assert [r.shared_tags for r in related] == [2, 1, 1]


def test_tagged_with_any_and_not_tagged_with():
    vault = CaseStudyFactory(tags=["Security", "Encryption"])
    clinic = CaseStudyFactory(tags=["Healthcare"])
    CaseStudyFactory(tags=["Backend"])
    assert set(CaseStudy.objects.tagged_with_any(["security", "healthcare"])) == {vault, clinic}
    assert set(
        CaseStudy.objects.tagged_with_any(["security", "healthcare"]).not_tagged_with(["encryption"])
    ) == {clinic}


def test_tagged_with_all_needs_every_tag():
    both = CaseStudyFactory(tags=["Security", "HIPAA"])
    CaseStudyFactory(tags=["Security"])
    CaseStudyFactory(tags=["HIPAA"])
    assert list(CaseStudy.objects.tagged_with_all(["security", "hipaa"])) == [both]


def test_tags_differing_only_in_case_are_one_tag_even_when_new_together():
    study = CaseStudyFactory()
    study.tags.add("Security", "security", "SECURITY")
    assert Tag.objects.count() == 1
    assert [tag.name for tag in study.tags.all()] == ["Security"]


def test_existing_tag_is_reused_whatever_the_case():
    CaseStudyFactory(tags=["Zero-Knowledge"])
    other = CaseStudyFactory(tags=["zero-knowledge"])
    assert Tag.objects.count() == 1
    assert other.tag_list[0].name == "Zero-Knowledge"


def test_tag_keeps_the_authors_spelling_with_a_lowercase_slug():
    CaseStudyFactory(tags=["Zero-Knowledge", "Machine Learning", "HIPAA"])
    assert dict(Tag.objects.values_list("name", "slug")) == {
        "Zero-Knowledge": "zero-knowledge",
        "Machine Learning": "machine-learning",
        "HIPAA": "hipaa",
    }


@pytest.mark.parametrize(
    ("name", "slug"),
    [("Café", "café"), ("日本語", "日本語"), ("🚀", "tag")],
)
def test_non_ascii_tag_names_get_a_usable_slug(name, slug):
    CaseStudyFactory(tags=[name])
    assert Tag.objects.get(name=name).slug == slug


def test_tags_are_listed_in_the_authors_order():
    study = CaseStudyFactory(tags=["Security", "Encryption", "Zero-Knowledge"])
    fetched = CaseStudy.objects.with_tags().get(pk=study.pk)
    assert [tag.name for tag in fetched.tag_list] == ["Security", "Encryption", "Zero-Knowledge"]


def test_saving_renders_the_body_and_reading_time():
    study = CaseStudyFactory(body="## Hello\n\n" + "word " * 500)
    assert '<h2 id="hello">' in study.body_html
    assert 'href="#hello"' in study.toc_html
    assert study.reading_minutes == 3


def test_saving_normalises_browser_newlines():
    study = CaseStudyFactory(body="one\r\ntwo\r\n")
    assert study.body == "one\ntwo\n"


@pytest.mark.parametrize("slug", ["Upper-Case", "two--hyphens", "-leading", "spaces here", "ünï"])
def test_study_slug_must_be_lowercase_ascii(slug):
    study = CaseStudyFactory.build(slug=slug)
    with pytest.raises(ValidationError) as error:
        study.full_clean()
    assert "slug" in error.value.message_dict


def test_absolute_url_is_the_study_page():
    assert CaseStudyFactory(slug="shopflow").get_absolute_url() == "/case-studies/shopflow/"
