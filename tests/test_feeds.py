import datetime

import feedparser
import pytest
from bs4 import BeautifulSoup
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from casestudies.feeds import ENTRIES_PER_FEED
from casestudies.models import CaseStudy
from siteprofile.models import SiteProfile
from tests.factories import CaseStudyFactory, draft, scheduled

pytestmark = pytest.mark.django_db


def days_ago(days):
    return timezone.now() - datetime.timedelta(days=days)


def parse(response):
    assert response.status_code == 200
    assert response["Content-Type"] == "application/atom+xml; charset=utf-8"
    feed = feedparser.parse(response.content)
    assert feed.bozo == 0, feed.get("bozo_exception")
    assert feed.version == "atom10"
    return feed


def titles(feed):
    return [entry.title for entry in feed.entries]


def as_datetime(value):
    return datetime.datetime.fromisoformat(value)


# The site's feed


def test_feed_parses_cleanly_with_each_studys_full_content(client):
    study = CaseStudyFactory(
        title="SecureVault & friends",
        summary="Keys <never> leave the HSM.",
        body="## Context\n\nWhy it exists, with a [link](#context).\n\n```python\nprint('hi')\n```\n",
        tags=["Security", "Encryption", "Zero-Knowledge"],
    )
    feed = parse(client.get("/case-studies/feed/"))

    assert feed.feed.title == "Engineering Portfolio"
    assert feed.feed.subtitle == SiteProfile.current().tagline
    assert feed.feed.link == "http://testserver/case-studies/"
    assert [link.href for link in feed.feed.links if link.rel == "self"] == [
        "http://testserver/case-studies/feed/"
    ]
    assert feed.feed.author == "Engineering Portfolio"
    [entry] = feed.entries
    assert entry.title == "SecureVault & friends"
    assert entry.link == "http://testserver/case-studies/securevault-friends/"
    assert entry.summary == "Keys <never> leave the HSM."
    assert entry.summary_detail.type == "text/plain"
    [content] = entry.content
    assert content.type == "text/html"
    assert '<h2 id="context">Context' in content.value
    assert '<span class="nb">print</span>' in content.value
    # Relative links in the body resolve against the study, not the feed.
    assert 'href="http://testserver/case-studies/securevault-friends/#context"' in content.value
    assert [tag.term for tag in entry.tags] == ["Security", "Encryption", "Zero-Knowledge"]
    assert as_datetime(entry.published) == study.published_at
    assert as_datetime(entry.updated) == study.updated_at


def test_feed_content_is_the_stored_sanitised_body(client):
    study = CaseStudyFactory(body='Hello <script>alert("x")</script><img src=x onerror=alert(1)>')
    [entry] = parse(client.get("/case-studies/feed/")).entries
    assert "<script" not in study.body_html
    assert "onerror" not in study.body_html
    response = client.get("/case-studies/feed/")
    assert b"&lt;script" not in response.content
    assert b"onerror" not in response.content
    assert "Hello" in entry.content[0].value


def test_author_is_the_profiles_author_name(client):
    profile = SiteProfile.objects.get()
    profile.author_name = "Ada Example"
    profile.site_title = "Ada's Notes"
    profile.save()
    CaseStudyFactory()
    feed = parse(client.get("/case-studies/feed/"))
    assert feed.feed.author == "Ada Example"
    assert feed.feed.title == "Ada's Notes"


def test_feed_lists_published_studies_newest_first_without_drafts_or_future_studies(client):
    CaseStudyFactory(title="Older", published_at=days_ago(9))
    CaseStudyFactory(title="Newer", published_at=days_ago(1))
    draft(title="Secret draft")
    scheduled(title="Not yet")
    draft(title="Draft dated in the past", published_at=days_ago(3))
    response = client.get("/case-studies/feed/")
    assert titles(parse(response)) == ["Newer", "Older"]
    for hidden in [b"Secret draft", b"Not yet", b"Draft dated in the past"]:
        assert hidden not in response.content


def test_feed_holds_the_latest_studies_only(client):
    for n in range(ENTRIES_PER_FEED + 2):
        CaseStudyFactory(title=f"Study {n:02}", published_at=days_ago(n + 1))
    feed = parse(client.get("/case-studies/feed/"))
    assert titles(feed) == [f"Study {n:02}" for n in range(ENTRIES_PER_FEED)]


def test_empty_feed_is_still_a_valid_feed(client):
    feed = parse(client.get("/case-studies/feed/"))
    assert feed.entries == []
    assert feed.feed.updated


def test_feed_updated_is_the_latest_entrys_updated(client):
    CaseStudyFactory(title="Edited long ago", published_at=days_ago(2))
    recent = CaseStudyFactory(title="Edited just now", published_at=days_ago(9))
    CaseStudy.objects.filter(title="Edited long ago").update(updated_at=days_ago(2))
    recent.refresh_from_db()
    feed = parse(client.get("/case-studies/feed/"))
    assert as_datetime(feed.feed.updated) == recent.updated_at
    response = client.get("/case-studies/feed/")
    assert response["Last-Modified"]


def test_a_scheduled_study_counts_as_updated_when_it_appears(client):
    study = CaseStudyFactory(published_at=days_ago(1))
    # Written three days ago, dated (scheduled for) yesterday.
    CaseStudy.objects.filter(pk=study.pk).update(updated_at=days_ago(3))
    study.refresh_from_db()
    [entry] = parse(client.get("/case-studies/feed/")).entries
    assert as_datetime(entry.published) == study.published_at
    assert as_datetime(entry.updated) == study.published_at


def test_entry_id_is_the_studys_public_id_and_survives_a_slug_change(client):
    study = CaseStudyFactory(slug="old-name")
    [before] = parse(client.get("/case-studies/feed/")).entries
    assert before.id == f"urn:uuid:{study.public_id}"
    study.slug = "new-name"
    study.save()
    [after] = parse(client.get("/case-studies/feed/")).entries
    assert after.id == before.id
    assert after.link == "http://testserver/case-studies/new-name/"


def test_entry_id_names_neither_host_nor_port(client):
    study = CaseStudyFactory()
    response = client.get("/case-studies/feed/", HTTP_HOST="localhost:8034")
    [entry] = parse(response).entries
    assert entry.id == f"urn:uuid:{study.public_id}"
    assert entry.link.startswith("http://localhost:8034/")


def test_a_control_character_in_a_body_does_not_break_the_feed(client):
    CaseStudyFactory(title="Form\x0cfeed", body="Pasted\x0cfrom a PDF\x0b.")
    [entry] = parse(client.get("/case-studies/feed/")).entries
    assert entry.title == "Formfeed"
    assert "Pastedfrom a PDF" in entry.content[0].value


# A feed per filter


@pytest.fixture
def tagged():
    return {
        "both": CaseStudyFactory(title="Both", tags=["Security", "Encryption"]),
        "security": CaseStudyFactory(title="Security only", tags=["Security", "Café"]),
        "encryption": CaseStudyFactory(title="Encryption only", tags=["Encryption", "Legacy"]),
        "none": CaseStudyFactory(title="Untagged"),
        "draft": draft(title="Draft with both", tags=["Security", "Encryption"]),
        "future": scheduled(title="Future with both", tags=["Security", "Encryption"]),
    }


def test_tag_feed_holds_exactly_the_studies_with_that_tag(client, tagged):
    feed = parse(client.get("/case-studies/feed/?tag=security"))
    assert titles(feed) == ["Both", "Security only"]
    assert feed.feed.title == "Engineering Portfolio: Security"
    assert feed.feed.link == "http://testserver/case-studies/?tag=security"
    assert [link.href for link in feed.feed.links if link.rel == "self"] == [
        "http://testserver/case-studies/feed/?tag=security"
    ]


def test_two_tag_feed_holds_the_studies_with_both(client, tagged):
    feed = parse(client.get("/case-studies/feed/?tag=encryption&tag=security"))
    assert titles(feed) == ["Both"]
    assert feed.feed.title == "Engineering Portfolio: Encryption + Security"
    assert feed.feed.link == "http://testserver/case-studies/?tag=encryption&tag=security"


def test_every_filter_of_the_list_has_its_feed(client, tagged):
    any_of = parse(client.get("/case-studies/feed/?tag=encryption&tag=security&match=any"))
    assert titles(any_of) == ["Both", "Security only", "Encryption only"]
    assert any_of.feed.title == "Engineering Portfolio: Encryption or Security"
    without = parse(client.get("/case-studies/feed/?tag=encryption&exclude=legacy"))
    assert titles(without) == ["Both"]
    assert without.feed.title == "Engineering Portfolio: Encryption, without Legacy"


def test_tags_with_no_study_in_common_give_an_empty_feed(client, tagged):
    CaseStudyFactory(title="Elsewhere", tags=["Backend"])
    assert titles(parse(client.get("/case-studies/feed/?tag=backend&tag=security"))) == []


@pytest.mark.parametrize(
    ("query", "canonical"),
    [
        ("?tag=Security", "?tag=security"),
        ("?tag=security&tag=security", "?tag=security"),
        ("?tag=security&tag=encryption", "?tag=encryption&tag=security"),
        ("?tag=+security+&tag=", "?tag=security"),
        ("?tag=", ""),
        ("?match=any&tag=security&tag=encryption", "?tag=encryption&tag=security&match=any"),
    ],
)
def test_non_canonical_filter_spellings_redirect_permanently(client, tagged, query, canonical):
    response = client.get(f"/case-studies/feed/{query}")
    assert response.status_code == 301
    assert response["Location"] == f"/case-studies/feed/{canonical}"


@pytest.mark.parametrize("query", ["?tag=nope", "?tag=nope&tag=security", "?exclude=nope"])
def test_unknown_tag_answers_404(client, tagged, query):
    assert client.get(f"/case-studies/feed/{query}").status_code == 404


def test_too_many_tags_answer_400_saying_why(client, tagged):
    response = client.get("/case-studies/feed/?" + "&".join(f"tag=t{n}" for n in range(6)))
    assert response.status_code == 400
    assert "at most 5" in response.content.decode()


def test_non_ascii_tag_feed_works(client):
    CaseStudyFactory(title="Café study", tags=["Café"])
    feed = parse(client.get("/case-studies/feed/?tag=café"))
    assert titles(feed) == ["Café study"]
    assert feed.feed.title == "Engineering Portfolio: Café"


# Autodiscovery


def feed_links(response):
    soup = BeautifulSoup(response.content, "html.parser")
    return [
        (link["title"], link["href"])
        for link in soup.head.find_all("link", rel="alternate", type="application/atom+xml")
    ]


def test_every_public_page_but_a_filtered_list_points_to_the_site_feed(client):
    CaseStudyFactory(slug="one", tags=["Security"])
    for url in ["/", "/case-studies/", "/case-studies/?page=1", "/case-studies/one/", "/tags/", "/about/"]:
        response = client.get(url)
        if response.status_code == 301:
            continue
        assert feed_links(response) == [("Engineering Portfolio", "/case-studies/feed/")], url


@pytest.mark.parametrize(
    "query",
    [
        "?tag=security",
        "?tag=encryption&tag=security",
        "?tag=encryption&tag=security&match=any",
        "?tag=encryption&exclude=legacy",
        "?exclude=legacy",
        "?tag=caf%C3%A9",
    ],
)
def test_a_filtered_list_points_to_its_own_feed_first(client, tagged, query):
    [(title, href), site_feed] = feed_links(client.get(f"/case-studies/{query}"))
    assert href == f"/case-studies/feed/{query}"
    assert site_feed == ("Engineering Portfolio", "/case-studies/feed/")
    # The link is the feed's canonical URL (no redirect) and names it as the feed does.
    assert parse(client.get(href)).feed.title == title


def test_a_filtered_lists_later_pages_point_to_the_same_feed(client):
    for _ in range(13):
        CaseStudyFactory(tags=["Security"])
    [(_title, href), _site_feed] = feed_links(client.get("/case-studies/?tag=security&page=2"))
    assert href == "/case-studies/feed/?tag=security"


def test_a_search_filter_feed_link_needs_no_redirect(client, tagged):
    [(title, href), _site_feed] = feed_links(client.get("/case-studies/?tag=security&q=key+rotation"))
    assert title == "Engineering Portfolio: Security, “key rotation”"
    assert client.get(href).status_code == 200


# Cost


def count_queries(client, url):
    """In steady state: the profile and the tags in public use are kept for the content generation."""
    client.get(url)
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


# The entries, their tags, their covers.
@pytest.mark.parametrize(
    ("url", "expected"),
    [("/case-studies/feed/", 3), ("/case-studies/feed/?tag=encryption&tag=security", 3)],
)
def test_feed_query_count_does_not_grow_with_the_number_of_studies(client, url, expected):
    for _ in range(2):
        CaseStudyFactory(tags=["Security", "Encryption"])
    assert count_queries(client, url) == expected
    for _ in range(28):
        CaseStudyFactory(tags=["Security", "Encryption", "Extra"])
    assert count_queries(client, url) == expected


def test_feed_does_not_load_the_markdown_source(client):
    CaseStudyFactory()
    with CaptureQueriesContext(connection) as queries:
        client.get("/case-studies/feed/")
    [studies_query] = [q["sql"] for q in queries if 'FROM "casestudies_casestudy"' in q["sql"]]
    assert '"casestudies_casestudy"."body_html"' in studies_query
    assert '"casestudies_casestudy"."body",' not in studies_query
    assert '"casestudies_casestudy"."toc_html"' not in studies_query
