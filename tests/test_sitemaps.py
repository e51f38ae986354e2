import datetime
import xml.etree.ElementTree as ET

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from casestudies import sitemaps
from casestudies.models import CaseStudy
from siteprofile.models import SiteProfile
from tests.conftest import admin_moved_to
from tests.factories import CaseStudyFactory, draft, scheduled

pytestmark = pytest.mark.django_db

NS = {"sm": "http://www.sitemaps.org/schemas/sitemap/0.9"}


def days_ago(days):
    return timezone.now() - datetime.timedelta(days=days)


def parse(response, root):
    assert response.status_code == 200
    assert response["Content-Type"] == "application/xml"
    tree = ET.fromstring(response.content)  # noqa: S314 (the site's own output)
    assert tree.tag == f"{{{NS['sm']}}}{root}"
    return tree


def index_entries(client):
    tree = parse(client.get("/sitemap.xml"), "sitemapindex")
    return [
        (sitemap.findtext("sm:loc", namespaces=NS), sitemap.findtext("sm:lastmod", namespaces=NS))
        for sitemap in tree.findall("sm:sitemap", NS)
    ]


def urls(client, path):
    tree = parse(client.get(path), "urlset")
    found = {}
    for url in tree.findall("sm:url", NS):
        lastmod = url.findtext("sm:lastmod", namespaces=NS)
        found[url.findtext("sm:loc", namespaces=NS)] = lastmod and datetime.datetime.fromisoformat(lastmod)
    return found


# The index


def test_sitemap_xml_is_an_index_of_absolute_section_urls(client):
    study = CaseStudyFactory(tags=["Security"])
    entries = index_entries(client)
    assert [loc for loc, _lastmod in entries] == [
        "http://testserver/sitemap-pages.xml",
        "http://testserver/sitemap-studies.xml",
        "http://testserver/sitemap-tags.xml",
    ]
    lastmods = dict(entries)
    assert datetime.datetime.fromisoformat(lastmods["http://testserver/sitemap-studies.xml"]) == (
        study.updated_at
    )
    assert datetime.datetime.fromisoformat(lastmods["http://testserver/sitemap-tags.xml"]) == study.updated_at


def test_index_of_an_empty_site_still_parses(client):
    assert len(index_entries(client)) == 3
    assert urls(client, "/sitemap-studies.xml") == {}
    assert urls(client, "/sitemap-tags.xml") == {}


def test_sitemaps_are_not_themselves_indexed(client):
    assert client.get("/sitemap.xml")["X-Robots-Tag"] == "noindex, noodp, noarchive"


# The sections


def test_studies_section_lists_published_studies_with_lastmod(client):
    older = CaseStudyFactory(slug="older", published_at=days_ago(9))
    newer = CaseStudyFactory(slug="newer", published_at=days_ago(1))
    draft(slug="secret-draft")
    scheduled(slug="not-yet")
    draft(slug="draft-dated-in-the-past", published_at=days_ago(3))
    found = urls(client, "/sitemap-studies.xml")
    assert found == {
        "http://testserver/case-studies/newer/": newer.updated_at,
        "http://testserver/case-studies/older/": older.updated_at,
    }


def test_a_scheduled_studys_lastmod_is_when_it_appeared(client):
    study = CaseStudyFactory(slug="scheduled", published_at=days_ago(1))
    # Written three days ago, dated (scheduled for) yesterday.
    CaseStudy.objects.filter(pk=study.pk).update(updated_at=days_ago(3))
    assert urls(client, "/sitemap-studies.xml") == {
        "http://testserver/case-studies/scheduled/": study.published_at
    }


def test_pages_section_lists_home_the_list_the_tags_and_about(client):
    study = CaseStudyFactory()
    profile = SiteProfile.objects.get()
    CaseStudy.objects.filter(pk=study.pk).update(updated_at=profile.updated_at + datetime.timedelta(hours=1))
    study.refresh_from_db()
    assert urls(client, "/sitemap-pages.xml") == {
        "http://testserver/": study.updated_at,
        "http://testserver/case-studies/": study.updated_at,
        "http://testserver/tags/": study.updated_at,
        "http://testserver/about/": profile.updated_at,
    }


def test_tags_section_lists_each_tag_of_a_published_study_with_its_latest_change(client):
    old = CaseStudyFactory(tags=["Security", "Encryption"])
    new = CaseStudyFactory(tags=["Security", "Café"])
    CaseStudy.objects.filter(pk=old.pk).update(updated_at=days_ago(5))
    old.refresh_from_db()
    draft(tags=["Drafts-only"])
    scheduled(tags=["Future-only", "Security"])
    assert urls(client, "/sitemap-tags.xml") == {
        "http://testserver/case-studies/?tag=caf%C3%A9": new.updated_at,
        "http://testserver/case-studies/?tag=encryption": old.updated_at,
        "http://testserver/case-studies/?tag=security": new.updated_at,
    }


def test_every_sitemap_url_answers_200(client):
    CaseStudyFactory(tags=["Security", "Café"])
    for section in ["pages", "studies", "tags"]:
        for loc in urls(client, f"/sitemap-{section}.xml"):
            assert client.get(loc).status_code == 200, loc


def test_sections_are_paginated_and_the_index_lists_every_page(client, monkeypatch):
    monkeypatch.setattr(sitemaps.StudySitemap, "limit", 2)
    for n in range(5):
        CaseStudyFactory(slug=f"study-{n}")
    locs = [loc for loc, _lastmod in index_entries(client)]
    assert locs[1:4] == [
        "http://testserver/sitemap-studies.xml",
        "http://testserver/sitemap-studies.xml?p=2",
        "http://testserver/sitemap-studies.xml?p=3",
    ]
    pages = [urls(client, f"/sitemap-studies.xml?p={page}") for page in (1, 2, 3)]
    assert [len(page) for page in pages] == [2, 2, 1]
    assert len(set().union(*pages)) == 5


@pytest.mark.parametrize(
    "path", ["/sitemap-studies.xml?p=9", "/sitemap-studies.xml?p=x", "/sitemap-nope.xml"]
)
def test_a_sitemap_page_that_does_not_exist_is_a_404(client, path):
    CaseStudyFactory()
    assert client.get(path).status_code == 404


# Cost


def count_queries(client, url):
    SiteProfile.current()  # the profile is cached in steady state
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return queries


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("/sitemap.xml", 3),
        ("/sitemap-pages.xml", 1),
        ("/sitemap-studies.xml", 2),
        ("/sitemap-tags.xml", 1),
    ],
)
def test_sitemap_query_count_does_not_grow_with_the_number_of_studies(client, url, expected):
    for _ in range(2):
        CaseStudyFactory(tags=["Security", "Encryption"])
    assert len(count_queries(client, url)) == expected
    for n in range(28):
        CaseStudyFactory(tags=["Security", f"Tag {n}"])
    assert len(count_queries(client, url)) == expected


def test_studies_section_loads_no_bodies(client):
    CaseStudyFactory()
    queries = count_queries(client, "/sitemap-studies.xml")
    assert not any('"body' in query["sql"] or "summary" in query["sql"] for query in queries)


# robots.txt


def test_robots_txt_keeps_crawlers_out_of_the_admin_and_points_to_the_sitemap(client):
    response = client.get("/robots.txt")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert "max-age=86400" in response["Cache-Control"]
    lines = response.content.decode().splitlines()
    assert lines[0] == "User-agent: *"
    assert "Disallow: /admin/" in lines
    assert "Sitemap: http://testserver/sitemap.xml" in lines


def test_robots_txt_sitemap_url_follows_the_request(client):
    response = client.get("/robots.txt", HTTP_HOST="localhost:8034", secure=True)
    assert "Sitemap: https://localhost:8034/sitemap.xml" in response.content.decode().splitlines()


def test_robots_txt_lets_crawlers_see_share_previews_noindex(client):
    # Disallowed, a preview's URL could still be indexed from links; allowed, its noindex is read.
    assert "preview" not in client.get("/robots.txt").content.decode()


def test_robots_txt_follows_the_configured_admin_path(client, settings):
    with admin_moved_to(settings, "backstage/"):
        text = client.get("/robots.txt").content.decode()
        assert "Disallow: /backstage/" in text.splitlines()
        assert "/admin/" not in text


def test_robots_txt_needs_no_database(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        client.get("/robots.txt")
