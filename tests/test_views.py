import datetime
import re

import pytest
from bs4 import BeautifulSoup
from django.db import connection
from django.template.loader import render_to_string
from django.test.utils import CaptureQueriesContext
from django.urls import set_script_prefix
from django.utils import timezone

from casestudies.filters import StudyFilter
from casestudies.models import Tag
from casestudies.views import STUDIES_PER_PAGE
from tests.factories import CaseStudyFactory, draft, scheduled

pytestmark = pytest.mark.django_db


def days_ago(days):
    return timezone.now() - datetime.timedelta(days=days)


def card_titles(response):
    soup = BeautifulSoup(response.content, "html.parser")
    return [a.get_text(strip=True) for a in soup.select(".card-title a")]


def assert_styled_404(response):
    assert response.status_code == 404
    assert b"Page not found" in response.content
    assert b'href="/case-studies/"' in response.content


# Home


def test_home_shows_the_latest_published_studies(client):
    for n in range(4):
        CaseStudyFactory(title=f"Study {n}")
    draft(title="Secret draft")
    response = client.get("/")
    assert response.status_code == 200
    assert card_titles(response) == ["Study 0", "Study 1", "Study 2"]
    assert b"Browse all case studies" in response.content


# The list


def test_list_shows_published_studies_newest_first_with_their_parts(client):
    CaseStudyFactory(title="Older", published_at=days_ago(9), tags=["Backend"])
    CaseStudyFactory(
        title="Newest", published_at=days_ago(1), summary="Summary on the card.", tags=["Security"]
    )
    response = client.get("/case-studies/")
    assert card_titles(response) == ["Newest", "Older"]
    html = response.content.decode()
    assert "Summary on the card." in html
    assert 'href="/case-studies/?tag=security">Security</a>' in html
    assert "<h1>Case Studies</h1>" in html
    assert "Deep dives into production systems, architecture decisions, and technical challenges" in html


def test_list_order_is_by_date_not_by_creation(client):
    CaseStudyFactory(title="Written first, dated earlier", published_at=days_ago(9))
    CaseStudyFactory(title="Written second, dated later", published_at=days_ago(1))
    assert card_titles(client.get("/case-studies/")) == [
        "Written second, dated later",
        "Written first, dated earlier",
    ]


def test_list_hides_drafts_and_future_studies(client):
    CaseStudyFactory(title="Public")
    draft(title="A draft")
    scheduled(title="Scheduled")
    assert card_titles(client.get("/case-studies/")) == ["Public"]


def test_list_paginates_twelve_a_page(client):
    CaseStudyFactory.create_batch(STUDIES_PER_PAGE + 2)
    first = client.get("/case-studies/")
    assert len(card_titles(first)) == STUDIES_PER_PAGE
    assert b'rel="next" href="/case-studies/?page=2"' in first.content
    second = client.get("/case-studies/?page=2")
    assert len(card_titles(second)) == 2
    assert b'href="/case-studies/" rel="prev"' in second.content
    assert b"Page 2 of 2" in second.content


@pytest.mark.parametrize("page", ["0", "-1", "abc", "3", "999999999999", "1.5", "", "%00", "1 "])
def test_a_page_that_is_not_a_page_answers_a_styled_404(client, page):
    CaseStudyFactory.create_batch(STUDIES_PER_PAGE + 1)
    assert_styled_404(client.get("/case-studies/", {"page": page}))


def test_empty_list_is_a_page_not_an_error(client):
    response = client.get("/case-studies/")
    assert response.status_code == 200
    assert b"No case studies are published yet." in response.content


# Filtering by tag


def test_one_tag_filters_the_list(client):
    CaseStudyFactory(title="Vault", tags=["Security", "Encryption"])
    CaseStudyFactory(title="Clinic", tags=["Healthcare", "Security"])
    CaseStudyFactory(title="Shop", tags=["E-Commerce"])
    response = client.get("/case-studies/?tag=security")
    assert sorted(card_titles(response)) == ["Clinic", "Vault"]
    assert b"2 studies tagged" in response.content


def test_repeating_tag_narrows_to_studies_with_all_of_them(client):
    CaseStudyFactory(title="Vault", tags=["Security", "Encryption"])
    CaseStudyFactory(title="Clinic", tags=["Healthcare", "Security"])
    response = client.get("/case-studies/?tag=encryption&tag=security")
    assert card_titles(response) == ["Vault"]


def test_tags_with_no_study_in_common_show_an_empty_filtered_list(client):
    CaseStudyFactory(tags=["Security"])
    CaseStudyFactory(tags=["Healthcare"])
    response = client.get("/case-studies/?tag=healthcare&tag=security")
    assert response.status_code == 200
    assert card_titles(response) == []
    assert b"No case study matches this filter." in response.content


@pytest.mark.parametrize(
    ("query", "canonical"),
    [
        ("?tag=Security", "/case-studies/?tag=security"),
        ("?tag=security&tag=Security", "/case-studies/?tag=security"),
        ("?tag=security&tag=encryption", "/case-studies/?tag=encryption&tag=security"),
        ("?tag=+Security+", "/case-studies/?tag=security"),
        ("?tag=", "/case-studies/"),
        ("?tag=Security&page=2", "/case-studies/?tag=security&page=2"),
        ("?tag=CAF%C3%89", "/case-studies/?tag=caf%C3%A9"),
    ],
)
def test_non_canonical_filters_redirect_permanently(client, query, canonical):
    response = client.get("/case-studies/" + query)
    assert response.status_code == 301
    assert response["Location"] == canonical


def test_non_ascii_tag_filter_works(client):
    CaseStudyFactory(title="Paris", tags=["Café"])
    response = client.get("/case-studies/?tag=caf%C3%A9")
    assert card_titles(response) == ["Paris"]
    pill = 'href="/case-studies/?tag=caf%C3%A9"'
    assert pill in client.get("/case-studies/").content.decode()


def test_unknown_tag_answers_a_styled_404(client):
    CaseStudyFactory(tags=["Security"])
    assert_styled_404(client.get("/case-studies/?tag=nonexistent"))


def test_too_many_tags_answers_400_saying_why(client):
    query = "&".join(f"tag=t{n}" for n in range(6))
    response = client.get(f"/case-studies/?{query}")
    assert response.status_code == 400
    assert "takes at most 5 “tag” tags; this one has 6".encode() in response.content


def test_active_filter_is_shown_and_each_tag_can_be_removed(client):
    CaseStudyFactory(tags=["Security", "Encryption"])
    html = client.get("/case-studies/?tag=encryption&tag=security").content.decode()
    assert 'href="/case-studies/?tag=security" aria-label="Remove the filter Encryption"' in html
    assert 'href="/case-studies/?tag=encryption" aria-label="Remove the filter Security"' in html
    assert 'href="/case-studies/">Show all case studies' in html


def test_filtered_pagination_keeps_the_filter(client):
    CaseStudyFactory.create_batch(STUDIES_PER_PAGE + 1, tags=["Security"])
    response = client.get("/case-studies/?tag=security")
    assert b'href="/case-studies/?tag=security&amp;page=2" rel="next"' in response.content


# One study


def test_study_page_shows_everything_about_the_study(client):
    study = CaseStudyFactory(
        title="SecureVault",
        tags=["Security", "Zero-Knowledge"],
        repository_url="https://example.com/repo",
        live_url="https://example.com/",
        body="## Threat model\n\n" + "word " * 300,
    )
    html = client.get(study.get_absolute_url()).content.decode()
    assert "<h1>SecureVault</h1>" in html
    assert study.summary in html
    assert f'datetime="{study.published_at:%Y-%m-%dT%H:%M:%S+0000}"' in html
    assert "2 min read" in html
    assert 'href="/case-studies/?tag=zero-knowledge">Zero-Knowledge</a>' in html
    assert 'href="https://example.com/repo" rel="noopener noreferrer">Repository</a>' in html
    assert ">Live site</a>" in html
    assert '<h2 id="threat-model">' in html
    assert 'aria-labelledby="toc-heading"' in html


def test_study_page_links_to_the_newer_and_older_studies(client):
    older = CaseStudyFactory(title="Older", published_at=days_ago(30))
    middle = CaseStudyFactory(title="Middle", published_at=days_ago(20))
    newer = CaseStudyFactory(title="Newer", published_at=days_ago(10))
    draft(title="Draft in between", published_at=days_ago(15))
    html = client.get(middle.get_absolute_url()).content.decode()
    assert f'href="{newer.get_absolute_url()}" rel="prev"' in html
    assert f'href="{older.get_absolute_url()}" rel="next"' in html
    assert "Draft in between" not in html


def test_unknown_study_answers_a_styled_404(client):
    assert_styled_404(client.get("/case-studies/no-such-study/"))


def test_uppercase_slug_redirects_to_the_canonical_url(client):
    CaseStudyFactory(slug="securevault")
    response = client.get("/case-studies/SecureVault/")
    assert response.status_code == 301
    assert response["Location"] == "/case-studies/securevault/"


def test_missing_trailing_slash_redirects(client):
    CaseStudyFactory(slug="securevault")
    response = client.get("/case-studies/securevault")
    assert response.status_code == 301
    assert response["Location"] == "/case-studies/securevault/"


@pytest.mark.parametrize("make", [draft, scheduled])
def test_drafts_and_future_studies_are_404_to_the_public(client, django_user_model, make):
    study = make(title="Not yet")
    assert_styled_404(client.get(study.get_absolute_url()))
    user = django_user_model.objects.create_user("reader", password="x")
    client.force_login(user)
    assert_styled_404(client.get(study.get_absolute_url()))


@pytest.mark.parametrize(("make", "label"), [(draft, "Draft"), (scheduled, "Scheduled for")])
def test_staff_see_unpublished_studies_with_a_banner_never_cached(staff_client, make, label):
    study = make(title="Not yet")
    response = staff_client.get(study.get_absolute_url())
    assert response.status_code == 200
    assert label.encode() in response.content
    assert b"only staff can see this page" in response.content
    assert "no-store" in response["Cache-Control"]
    assert b'<meta name="robots" content="noindex">' in response.content


def test_staff_see_no_banner_on_published_studies(staff_client):
    study = CaseStudyFactory()
    assert b"only staff can see this page" not in staff_client.get(study.get_absolute_url()).content


def test_staff_without_view_permission_cannot_preview(client, django_user_model):
    study = draft()
    client.force_login(django_user_model.objects.create_user("intern", password="x", is_staff=True))
    assert client.get(study.get_absolute_url()).status_code == 404


# Query counts: the same for one study as for two hundred (no query per card).


def assert_queries_per_page(client):
    """Each page of QUERIES_PER_PAGE costs its count in steady state (its second view, once
    the site profile is cached); a page that costs more names its queries."""
    for url, expected in QUERIES_PER_PAGE.items():
        client.get(url)
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url).status_code == 200
        assert len(queries) == expected, (url, [query["sql"] for query in queries.captured_queries])


# Per page: the queries it costs, whatever the number of studies.
QUERIES_PER_PAGE = {
    # The latest studies; their cards are drawn once a content generation, as the list's are.
    "/": 1,
    # The page with its total. Its cards and the tag panel are drawn once a content generation.
    "/case-studies/": 1,
    # The filter's tags are looked up among the tags in public use, kept like the tag panel;
    # the facets among the filtered studies are counted.
    "/case-studies/?tag=security": 2,
    "/case-studies/?tag=encryption&tag=security": 2,
    # Search results: the page, their tags, their covers, the tag panel.
    "/case-studies/?q=study": 4,
    # The study, its tags, its cover, its outcomes, related studies, its newer and older neighbours.
    "/case-studies/study-0/": 6,
}


def test_query_count_does_not_grow_with_the_number_of_studies(client):
    CaseStudyFactory(title="Study 0", tags=["Security", "Encryption", "Extra"])
    assert_queries_per_page(client)
    for _ in range(199):
        CaseStudyFactory(tags=["Security", "Encryption", "Extra"])
    assert_queries_per_page(client)


# Every public page: one <h1>, landmarks, a skip link.


def test_every_public_page_has_one_h1_landmarks_and_a_skip_link(client):
    CaseStudyFactory(slug="one", tags=["Security"])
    for url in [
        "/",
        "/case-studies/",
        "/case-studies/?tag=security",
        "/case-studies/one/",
        "/tags/",
        "/about/",
        "/missing/",
    ]:
        response = client.get(url)
        soup = BeautifulSoup(response.content, "html.parser")
        assert len(soup.find_all("h1")) == 1, url
        assert soup.find("main", id="main-content"), url
        assert soup.find("nav", attrs={"aria-label": "Main"}), url
        assert soup.select_one('a.skip-link[href="#main-content"]'), url
        assert soup.html["lang"] == "en", url


def test_pages_load_nothing_from_another_origin(client):
    CaseStudyFactory(slug="one")
    for url in ["/", "/case-studies/", "/case-studies/one/"]:
        html = client.get(url).content.decode()
        assert not re.search(r'<(script|img|iframe)[^>]+src="(https?:)?//', html), url
        # The canonical URL is absolute by definition; nothing else in the head may be.
        assert not re.search(r'<link(?![^>]*rel="canonical")[^>]+href="(https?:)?//', html), url
        # JSON-LD is data for search engines, never run; no other script is allowed.
        assert set(re.findall(r"<script[^>]*>", html)) <= {'<script type="application/ld+json">'}, url


def test_server_error_page_is_styled_and_needs_no_database():
    html = render_to_string("500.html")
    assert "<h1>Something went wrong on our side</h1>" in html
    assert 'href="/case-studies/"' in html


def test_key_facts_panel_shows_only_what_the_author_filled_in(client):
    study = CaseStudyFactory(slug="with-facts", role="Lead engineer", team_size=4, stack="Django, PostgreSQL")
    study.outcomes.create(label="p99 latency", before="900", after="120", unit="ms", position=1)
    html = client.get(study.get_absolute_url()).content.decode()
    assert '<h2 id="key-facts-heading"' in html
    assert "<dd>Lead engineer</dd>" in html
    assert "<dd>4 people</dd>" in html
    assert "<dd>Django, PostgreSQL</dd>" in html
    assert "Timeframe" not in html
    assert '<th scope="row">p99 latency</th>' in html
    assert "<td>900 ms</td>" in html
    assert "<td>120 ms</td>" in html


def test_a_study_without_facts_has_no_panel(client):
    study = CaseStudyFactory(slug="plain")
    assert b"Key facts" not in client.get(study.get_absolute_url()).content


# Beyond AND: any of several tags, tags left out, facets, the tag index.


def test_match_any_shows_studies_with_at_least_one_of_the_tags(client):
    CaseStudyFactory(title="Vault", tags=["Security"])
    CaseStudyFactory(title="Clinic", tags=["Healthcare"])
    CaseStudyFactory(title="Shop", tags=["E-Commerce"])
    response = client.get("/case-studies/?tag=healthcare&tag=security&match=any")
    assert sorted(card_titles(response)) == ["Clinic", "Vault"]
    assert b"2 studies tagged with any of" in response.content


def test_exclude_leaves_a_tag_out_and_combines_with_tags(client):
    CaseStudyFactory(title="Vault", tags=["Security", "Encryption"])
    CaseStudyFactory(title="Clinic", tags=["Security", "Healthcare"])
    CaseStudyFactory(title="Shop", tags=["E-Commerce"])
    assert sorted(card_titles(client.get("/case-studies/?exclude=security"))) == ["Shop"]
    response = client.get("/case-studies/?tag=security&exclude=healthcare")
    assert card_titles(response) == ["Vault"]
    html = response.content.decode()
    assert 'href="/case-studies/?tag=security" aria-label="Stop leaving out Healthcare"' in html
    assert 'href="/case-studies/?exclude=healthcare" aria-label="Remove the filter Security"' in html


@pytest.mark.parametrize(
    ("query", "canonical"),
    [
        ("?match=any&tag=b&tag=a", "/case-studies/?tag=a&tag=b&match=any"),
        ("?tag=a&match=any", "/case-studies/?tag=a"),
        ("?tag=a&tag=b&match=all", "/case-studies/?tag=a&tag=b"),
        ("?tag=a&tag=b&match=ANY", "/case-studies/?tag=a&tag=b&match=any"),
        ("?exclude=B&exclude=a&exclude=a", "/case-studies/?exclude=a&exclude=b"),
        ("?exclude=a&tag=b", "/case-studies/?tag=b&exclude=a"),
    ],
)
def test_every_filter_has_one_canonical_url(client, query, canonical):
    response = client.get("/case-studies/" + query)
    assert response.status_code == 301
    assert response["Location"] == canonical


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("?tag=a&tag=b&match=some", "“match” is either “all”"),
        ("?" + "&".join(f"exclude=t{n}" for n in range(6)), "at most 5 “exclude” tags"),
    ],
)
def test_a_filter_that_cannot_be_read_answers_400_saying_why(client, query, message):
    response = client.get("/case-studies/" + query)
    assert response.status_code == 400
    assert message.encode() in response.content


def test_an_unknown_excluded_tag_is_a_404(client):
    CaseStudyFactory(tags=["Security"])
    assert_styled_404(client.get("/case-studies/?exclude=nonexistent"))


def test_facets_count_the_shown_studies_and_narrow(client):
    CaseStudyFactory(tags=["Security", "Encryption"])
    CaseStudyFactory(tags=["Security", "Encryption", "HIPAA"])
    CaseStudyFactory(tags=["Security", "HIPAA"])
    CaseStudyFactory(tags=["Backend", "Encryption"])
    draft(tags=["Security", "Draft-Only"])
    soup = BeautifulSoup(client.get("/case-studies/?tag=security").content, "html.parser")
    facets = {
        link.contents[0].strip(): (link.select_one(".tag-count").get_text(" ", strip=True), link["href"])
        for link in soup.select(".facets a.tag")
    }
    assert facets == {
        "Encryption": ("2 studies", "/case-studies/?tag=encryption&tag=security"),
        "HIPAA": ("2 studies", "/case-studies/?tag=hipaa&tag=security"),
    }


def test_unfiltered_list_offers_the_most_used_tags_and_all_tags(client):
    CaseStudyFactory(tags=["Security", "Encryption"])
    CaseStudyFactory(tags=["Security"])
    soup = BeautifulSoup(client.get("/case-studies/").content, "html.parser")
    names = [link.contents[0].strip() for link in soup.select(".facets a.tag")]
    assert names == ["Security", "Encryption"]
    assert soup.select_one('.facets a[href="/tags/"]')


def test_tag_index_lists_tags_in_use_by_count_then_name(client):
    CaseStudyFactory(tags=["Security", "Encryption"])
    CaseStudyFactory(tags=["Security", "Backend"])
    draft(tags=["Security", "Secret"])
    scheduled(tags=["Future"])
    soup = BeautifulSoup(client.get("/tags/").content, "html.parser")
    tags = [
        (link.contents[0].strip(), link.select_one(".tag-count").get_text(" ", strip=True), link["href"])
        for link in soup.select(".tag-index a")
    ]
    assert tags == [
        ("Security", "2 studies", "/case-studies/?tag=security"),
        ("Backend", "1 study", "/case-studies/?tag=backend"),
        ("Encryption", "1 study", "/case-studies/?tag=encryption"),
    ]


@pytest.mark.parametrize("path", ["/case-studies/", "/case-studies/feed/"])
def test_a_tag_only_drafts_or_waiting_studies_carry_is_never_named_in_public(client, path):
    CaseStudyFactory(tags=["Security"])
    draft(tags=["Secret Project", "Security"])
    scheduled(tags=["Coming Soon", "Security"])
    for query in [
        "tag=secret-project",
        "tag=coming-soon",
        "tag=coming-soon&tag=security",
        "tag=secret-project&tag=security&match=any",
        "tag=coming-soon&tag=security&match=any",
        "exclude=secret-project",
        "exclude=coming-soon",
        "tag=security&exclude=coming-soon",
        "tag=security&exclude=secret-project",
    ]:
        response = client.get(f"{path}?{query}")
        assert response.status_code == 404, query
        assert b"Secret Project" not in response.content
        assert b"Coming Soon" not in response.content
    assert client.get(f"{path}?tag=security").status_code == 200


def test_tags_with_the_same_count_are_in_name_order_whatever_their_case(client):
    CaseStudyFactory(tags=["HIPAA", "Headless", "api", "Zero-Knowledge"])
    CaseStudyFactory(tags=["Security"])
    every_tag = ["api", "Headless", "HIPAA", "Security", "Zero-Knowledge"]
    pages = {
        "/tags/": (".tag-index a", every_tag),
        "/case-studies/": (".facets a.tag", every_tag),
        "/case-studies/?exclude=security": (".facets a.tag", ["api", "Headless", "HIPAA", "Zero-Knowledge"]),
        "/case-studies/?tag=zero-knowledge": (".facets a.tag", ["api", "Headless", "HIPAA"]),
    }
    for url, (links, expected) in pages.items():
        soup = BeautifulSoup(client.get(url).content, "html.parser")
        assert [link.contents[0].strip() for link in soup.select(links)] == expected, url


def test_tag_index_counts_once_a_content_generation(
    client, django_assert_num_queries, django_capture_on_commit_callbacks
):
    CaseStudyFactory.create_batch(5, tags=["Security", "Encryption"])
    client.get("/")  # the site profile, cached
    # The counts, and the schedule: the latest public study, the next one to appear.
    with django_assert_num_queries(3):
        client.get("/tags/")
    with django_assert_num_queries(0):
        assert b"Security <span" in client.get("/tags/").content
    with django_capture_on_commit_callbacks(execute=True):
        CaseStudyFactory(tags=["Go"])
    with django_assert_num_queries(4):  # and the site profile, read again in the new generation
        assert b"Go <span" in client.get("/tags/").content


def test_study_page_lists_up_to_three_related_published_studies(client):
    study = CaseStudyFactory(slug="vault", tags=["Security", "Encryption"])
    CaseStudyFactory(title="Clinic", tags=["Security"])
    CaseStudyFactory(title="Payments", tags=["Security", "Encryption"])
    CaseStudyFactory(title="Unrelated", tags=["Backend"])
    draft(title="Hidden draft", tags=["Security", "Encryption"])
    soup = BeautifulSoup(client.get("/case-studies/vault/").content, "html.parser")
    assert [a.get_text() for a in soup.select(".related-list a")] == ["Payments", "Clinic"]
    assert study.title not in [a.get_text() for a in soup.select(".related-list a")]


# Search on the list page.


def test_search_ranks_matches_and_highlights_them_in_the_summary(client):
    CaseStudyFactory(title="Body mention", summary="Nothing here.", body="We replaced the cache layer.")
    CaseStudyFactory(title="A cache that never goes stale", summary="How the cache stays fresh.")
    CaseStudyFactory(title="Unrelated", summary="Nothing to see.", body="No such word.")
    response = client.get("/case-studies/?q=cache")
    assert card_titles(response) == ["A cache that never goes stale", "Body mention"]
    assert "How the <mark>cache</mark> stays fresh." in response.content.decode()
    assert "2 studies matching “cache”, best first." in response.content.decode()


def test_search_combines_with_tag_filters_and_keeps_them_in_the_form(client):
    CaseStudyFactory(title="Secure cache", summary="A cache.", tags=["Security"])
    CaseStudyFactory(title="Fast cache", summary="A cache.", tags=["Performance"])
    response = client.get("/case-studies/?tag=security&q=cache")
    assert card_titles(response) == ["Secure cache"]
    soup = BeautifulSoup(response.content, "html.parser")
    form = soup.select_one("form[role=search]")
    assert form.select_one("input[type=hidden][name=tag]")["value"] == "security"
    assert form.select_one("input[name=q]")["value"] == "cache"
    assert soup.select_one(".search-status a")["href"] == "/case-studies/?tag=security"


@pytest.mark.parametrize(
    "query", ['"unbalanced', "a AND OR NOT", "NEAR(", "col:term", "*", "日本語", "\x00", "%_"]
)
def test_odd_searches_give_a_normal_page(client, query):
    CaseStudyFactory()
    response = client.get("/case-studies/", {"q": query}, follow=True)
    assert response.status_code == 200
    assert b"<h1>Case Studies</h1>" in response.content


CONTROL_CHARACTERS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


@pytest.mark.parametrize("query", ["\x00", "vault\x00", "\x1bvault\x1b", "\x01 \x7f vault"])
def test_control_characters_in_a_search_never_reach_the_page(client, query):
    CaseStudyFactory(title="Vault")
    response = client.get("/case-studies/", {"q": query}, follow=True)
    assert response.status_code == 200
    html = response.content.decode()
    assert not CONTROL_CHARACTERS.search(html)
    if "vault" in query:
        assert card_titles(response) == ["Vault"]
        assert BeautifulSoup(html, "html.parser").select_one("input[name=q]")["value"] == "vault"


def test_a_tag_or_search_spelled_with_a_combining_accent_finds_the_composed_word(client):
    CaseStudyFactory(title="Paris", summary="A café in Paris.", tags=["Café"])
    response = client.get("/case-studies/", {"tag": "cafe\u0301"})
    assert response.status_code == 301
    assert response["Location"] == "/case-studies/?tag=caf%C3%A9"
    assert card_titles(client.get("/case-studies/", {"q": "cafe\u0301"}, follow=True)) == ["Paris"]


def test_control_characters_in_a_body_are_left_out_of_its_page(client):
    study = CaseStudyFactory(body="Before\x01 and\x1b after\x7f.")
    html = client.get(study.get_absolute_url()).content.decode()
    assert "<p>Before and after.</p>" in html
    assert not CONTROL_CHARACTERS.search(html)


def test_a_huge_search_is_cut_to_a_normal_one(client):
    CaseStudyFactory(title="Cache study", summary="About a cache.")
    response = client.get("/case-studies/", {"q": "cache " * 2000}, follow=True)
    assert response.status_code == 200
    assert len(response.redirect_chain[0][0]) < 1000
    assert card_titles(response) == ["Cache study"]


def test_a_search_finding_nothing_says_so(client):
    CaseStudyFactory()
    response = client.get("/case-studies/?q=zeppelin")
    assert "No case study matches “zeppelin”.".encode() in response.content


def test_filter_links_follow_the_prefix_the_site_is_served_under():
    security = StudyFilter(tags=("security",))
    assert security.url() == "/case-studies/?tag=security"
    set_script_prefix("/portfolio/")
    try:
        assert security.url(page=2) == "/portfolio/case-studies/?tag=security&page=2"
        assert security.feed_url() == "/portfolio/case-studies/feed/?tag=security"
    finally:
        set_script_prefix("/")
    assert security.url() == "/case-studies/?tag=security"


def test_a_lists_cards_are_kept_until_a_change_commits(client, django_capture_on_commit_callbacks):
    study = CaseStudyFactory(title="Old Card Title", tags=["Security"])
    assert b"Old Card Title" in client.get("/case-studies/").content
    with django_capture_on_commit_callbacks(execute=True):
        tag = Tag.objects.get(name="Security")
        tag.name = "InfoSec"
        tag.save()
    page = client.get("/case-studies/").content.decode()
    assert ">InfoSec</a>" in page
    assert ">Security</a>" not in page
    with django_capture_on_commit_callbacks(execute=True):
        study.title = "New Card Title"
        study.save()
    page = client.get("/case-studies/").content.decode()
    assert "New Card Title" in page
    assert "Old Card Title" not in page
