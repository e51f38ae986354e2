"""Headers that must tell a visitor nothing private, and take the client at its word.

Last-Modified moves only when something public changes, never for a draft's save;
feed entry ids reveal nothing of the database; Accept-Encoding's q-values are honoured.
"""

import datetime
import gzip
import uuid

import feedparser
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from casestudies.models import CaseStudy
from portfolio import pagecache
from tests import test_pagecache
from tests.factories import CaseStudyFactory, draft

pytestmark = pytest.mark.django_db

START = datetime.datetime(2031, 3, 1, 9, 0, tzinfo=datetime.UTC)
PAGES = [
    "/",
    "/case-studies/",
    "/case-studies/?tag=security",
    "/tags/",
    "/about/",
    "/case-studies/vault/",
    "/case-studies/feed/",
    "/sitemap.xml",
]


# The page-cache tests' own: the page cache on, and a visitor without a session.
page_cache = test_pagecache.page_cache
anonymous = test_pagecache.anonymous


@pytest.fixture
def site(time_machine):
    """A public study, and a generation begun an hour after it was written."""
    time_machine.move_to(START - datetime.timedelta(hours=1), tick=False)
    study = CaseStudyFactory(title="The Vault", slug="vault", tags=["Security"])
    time_machine.move_to(START, tick=False)
    pagecache.start_generation()
    return study


def get(client, url, **headers):
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url, **headers)
    assert response.status_code in (200, 304), url
    return response, len(queries)


def current_generation():
    return pagecache.generation_and([])[0]


def committed(capture, change):
    with capture(execute=True):
        change()


# 1. Last-Modified says when something public changed, not when the author last worked


def edit_a_draft():
    study = draft(title="Work In Progress", tags=["Security"])
    study.body = "Still writing."
    study.save()


@pytest.mark.parametrize("cached", [True, False], ids=["page-cache", "no-page-cache"])
def test_a_draft_saved_changes_no_header_of_a_public_page(
    request, anonymous, site, time_machine, django_capture_on_commit_callbacks, cached
):
    if cached:
        request.getfixturevalue("page_cache")
    first = {url: get(anonymous, url)[0] for url in PAGES}
    generation = current_generation()
    time_machine.move_to(START + datetime.timedelta(hours=1), tick=False)
    committed(django_capture_on_commit_callbacks, edit_a_draft)
    time_machine.move_to(START + datetime.timedelta(hours=2), tick=False)
    # The pages are drawn again, in a new generation: only their headers are at stake.
    assert current_generation() != generation
    for url, before in first.items():
        response, _ = get(anonymous, url)
        assert response.content == before.content, url
        assert response["ETag"] == before["ETag"], url
        assert response.get("Last-Modified") == before.get("Last-Modified"), url
        if cached:
            assert before["Last-Modified"], url
        validators = {"HTTP_IF_NONE_MATCH": before["ETag"]}
        if before.get("Last-Modified"):
            validators["HTTP_IF_MODIFIED_SINCE"] = before["Last-Modified"]
        for name, value in validators.items():
            assert get(anonymous, url, **{name: value})[0].status_code == 304, (url, name)


def test_a_public_change_after_a_draft_dates_the_pages_it_changed(
    page_cache, anonymous, site, time_machine, django_capture_on_commit_callbacks
):
    first = {url: get(anonymous, url)[0] for url in ["/case-studies/", "/about/"]}
    time_machine.move_to(START + datetime.timedelta(hours=1), tick=False)
    committed(django_capture_on_commit_callbacks, edit_a_draft)
    time_machine.move_to(START + datetime.timedelta(hours=2), tick=False)

    def retitle():
        site.title = "The Vault, Revised"
        site.save()

    committed(django_capture_on_commit_callbacks, retitle)
    time_machine.move_to(START + datetime.timedelta(hours=3), tick=False)
    listing = first["/case-studies/"]
    response = anonymous.get("/case-studies/", HTTP_IF_MODIFIED_SINCE=listing["Last-Modified"])
    assert response.status_code == 200
    assert b"The Vault, Revised" in response.content
    assert response["Last-Modified"] == "Sat, 01 Mar 2031 11:00:00 GMT"
    assert anonymous.get("/case-studies/", HTTP_IF_NONE_MATCH=listing["ETag"]).status_code == 200
    # A page the change left alone keeps its date.
    about = anonymous.get("/about/")
    assert about["Last-Modified"] == first["/about/"]["Last-Modified"]
    # From the cache, as drawn.
    again, queries = get(anonymous, "/case-studies/", HTTP_IF_MODIFIED_SINCE=response["Last-Modified"])
    assert queries == 0
    assert again.status_code == 304


def test_a_page_keeps_its_date_past_its_entry_and_across_a_release(
    page_cache, anonymous, site, time_machine, monkeypatch
):
    before = anonymous.get("/about/")
    time_machine.move_to(START + datetime.timedelta(days=2), tick=False)
    pagecache.start_generation()
    monkeypatch.setattr(pagecache, "code_version", lambda: "next-release")
    response, queries = get(anonymous, "/about/")
    assert queries > 0
    assert response["ETag"] == before["ETag"]
    assert response["Last-Modified"] == before["Last-Modified"] == "Sat, 01 Mar 2031 09:00:00 GMT"


def test_a_scheduled_publication_dates_the_pages_it_appears_on(page_cache, anonymous, site, time_machine):
    due = START + datetime.timedelta(hours=5)
    CaseStudyFactory(title="Due Later", published_at=due)
    pagecache.start_generation()
    about = anonymous.get("/about/")
    time_machine.move_to(due + datetime.timedelta(minutes=1), tick=False)
    listing = anonymous.get("/case-studies/")
    assert b"Due Later" in listing.content
    assert listing["Last-Modified"] == "Sat, 01 Mar 2031 14:00:00 GMT"
    assert anonymous.get("/about/")["Last-Modified"] == about["Last-Modified"]


# 2. Feed entry ids: stable, and nothing to count


def entry_ids(client, **headers):
    feed = feedparser.parse(client.get("/case-studies/feed/", **headers).content)
    assert feed.bozo == 0, feed.get("bozo_exception")
    return [entry.id for entry in feed.entries]


def test_each_study_is_given_a_public_id_of_its_own_when_created():
    field = CaseStudy._meta.get_field("public_id")
    assert field.unique
    assert not field.editable
    first, second = CaseStudyFactory(), draft()
    assert isinstance(first.public_id, uuid.UUID)
    assert first.public_id != second.public_id
    first.refresh_from_db()
    assert first.public_id == CaseStudy.objects.get(pk=first.pk).public_id


def test_feed_entry_ids_are_the_studys_public_uuid_urn(anonymous):
    first = CaseStudyFactory()
    for _ in range(3):
        draft()
    last = CaseStudyFactory()
    ids = entry_ids(anonymous)
    assert sorted(ids) == sorted([f"urn:uuid:{first.public_id}", f"urn:uuid:{last.public_id}"])
    for entry_id in ids:
        assert uuid.UUID(entry_id.removeprefix("urn:uuid:")).version == 4
    # Nothing in the feed counts the studies it leaves out.
    assert b"case-study:" not in anonymous.get("/case-studies/feed/").content


def test_feed_entry_ids_survive_a_slug_a_title_and_a_host_change(anonymous):
    study = CaseStudyFactory(slug="old-name")
    before = entry_ids(anonymous)
    study.slug, study.title = "new-name", "A New Title"
    study.save()
    assert entry_ids(anonymous) == before
    assert entry_ids(anonymous, HTTP_HOST="localhost:8034") == before


# 3. Accept-Encoding, q-values included


@pytest.mark.parametrize(
    ("accept_encoding", "gzipped"),
    [
        ("gzip", True),
        ("gzip, deflate, br, zstd", True),
        ("GZIP;Q=0.5", True),
        ("gzip;q=0.001", True),
        ("x-gzip", True),
        ("*", True),
        ("br, *;q=0.1", True),
        ("identity;q=0.5, gzip;q=0.8", True),
        ("gzip;q=0", False),
        ("gzip; q=0.000", False),
        ("br, gzip;q=0", False),
        ("gzip;q=0, *", False),
        ("*;q=0", False),
        ("identity", False),
        ("identity, gzip;q=0.5", False),
        ("*;q=0.5, identity;q=0.9", False),
        ("deflate, br", False),
        ("gzip;q=1.5", False),
        ("gzip;q=high", False),
        ("", False),
    ],
)
def test_gzip_is_chosen_by_the_clients_q_values(accept_encoding, gzipped):
    assert pagecache.prefers_gzip(accept_encoding) is gzipped


@pytest.mark.parametrize("cached", [True, False], ids=["from-the-cache", "rendered"])
def test_a_client_refusing_gzip_with_q_0_gets_the_plain_page(request, anonymous, settings, cached):
    if cached:
        request.getfixturevalue("page_cache")
    CaseStudyFactory(tags=["Security"])
    for _ in range(2):
        plain = anonymous.get("/case-studies/", HTTP_ACCEPT_ENCODING="gzip;q=0, identity")
        assert "Content-Encoding" not in plain
        assert b"<html" in plain.content
        assert "Accept-Encoding" in plain["Vary"]
        wanted = anonymous.get("/case-studies/", HTTP_ACCEPT_ENCODING="gzip;q=0.5")
        assert wanted["Content-Encoding"] == "gzip"
        assert gzip.decompress(wanted.content) == plain.content
