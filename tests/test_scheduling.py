"""A study dated in the future appears by itself at that moment: no cron job, no second save."""

import datetime

import pytest
from django.utils import timezone

from tests.factories import CaseStudyFactory

pytestmark = pytest.mark.django_db


def test_a_scheduled_study_appears_everywhere_once_its_time_comes(client, time_machine):
    now = timezone.now()
    time_machine.move_to(now, tick=False)
    CaseStudyFactory(title="Already out", slug="already-out", tags=["Security"])
    CaseStudyFactory(
        title="Coming soon",
        slug="coming-soon",
        tags=["Security"],
        published_at=now + datetime.timedelta(hours=2),
    )
    before = [
        client.get("/").content,
        client.get("/case-studies/").content,
        client.get("/case-studies/?tag=security").content,
    ]
    assert all(b"Coming soon" not in page for page in before)
    assert client.get("/case-studies/coming-soon/").status_code == 404

    time_machine.move_to(now + datetime.timedelta(hours=2, seconds=1), tick=False)
    assert b"Coming soon" in client.get("/").content
    assert b"Coming soon" in client.get("/case-studies/").content
    assert b"Coming soon" in client.get("/case-studies/?tag=security").content
    assert client.get("/case-studies/coming-soon/").status_code == 200
    assert b"Coming soon" in client.get("/case-studies/already-out/").content


def test_the_tag_counts_kept_for_a_generation_count_a_scheduled_study_at_its_time(client, time_machine):
    now = timezone.now()
    time_machine.move_to(now, tick=False)
    CaseStudyFactory(tags=["Security"])
    CaseStudyFactory(tags=["Go"], published_at=now + datetime.timedelta(minutes=2))
    assert b"Go <span" not in client.get("/tags/").content
    # No save in between: the counts kept under the generation end at the publication.
    time_machine.move_to(now + datetime.timedelta(minutes=2, seconds=1), tick=False)
    assert b"Go <span" in client.get("/tags/").content
    assert b"Go <span" in client.get("/case-studies/").content
