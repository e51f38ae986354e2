"""The page cache: public pages at near static speed, never stale, never anyone's own page."""

import datetime
import gzip
import json
import logging
import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.db import connection
from django.http import HttpResponse
from django.test import Client
from django.test.utils import CaptureQueriesContext

from casestudies.models import CaseStudy, Tag
from casestudies.previews import share_link
from portfolio import cache as resilient_cache
from portfolio import pagecache
from siteprofile.models import SiteProfile
from tests.conftest import require_service
from tests.factories import CaseStudyFactory, draft
from tests.test_admin import CHANGELIST, study_form
from tests.test_settings import REDIS_URL, redis_available
from tests.test_siteprofile import CHANGE as PROFILE_CHANGE
from tests.test_siteprofile import profile_form

pytestmark = pytest.mark.django_db

BASE_DIR = Path(__file__).resolve().parent.parent
PUBLIC_PAGES = ["/", "/case-studies/", "/case-studies/?tag=security", "/tags/", "/about/"]


@pytest.fixture(autouse=True)
def page_cache(settings, tmp_path):
    settings.PAGE_CACHE_SECONDS = 600
    settings.PAGE_CACHE_GENERATION_FILE = tmp_path / "cache-generation"
    pagecache._pending.generation = False
    pagecache.outage.down = False
    yield
    pagecache._pending.generation = False
    pagecache.outage.down = False


@pytest.fixture
def anonymous():
    """A visitor's browser, apart from the `client` that staff fixtures log in."""
    return Client()


def queries_for(client, url, **headers):
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url, **headers)
    return response, len(queries)


def served_from_cache(client, url):
    _, queries = queries_for(client, url)
    return queries == 0


# Hits


@pytest.mark.parametrize("url", [*PUBLIC_PAGES, "study", "/case-studies/feed/", "/sitemap.xml"])
def test_a_repeat_anonymous_request_needs_no_database(anonymous, study, django_assert_num_queries, url):
    url = study.get_absolute_url() if url == "study" else url
    first = anonymous.get(url)
    assert first.status_code == 200
    with django_assert_num_queries(0):
        again = anonymous.get(url)
    assert again.status_code == 200
    assert again.content == first.content
    assert again["Content-Type"] == first["Content-Type"]


def test_a_miss_costs_the_views_own_queries_once_the_schedule_is_known(anonymous, django_assert_num_queries):
    CaseStudyFactory.create_batch(3, tags=["Security"])
    # The first page of a generation also asks when the next study is due, and loads the profile.
    anonymous.get("/")
    # As tests/test_views.py counts the tag index: one query, nothing added by the cache.
    with django_assert_num_queries(1):
        anonymous.get("/tags/")


def test_the_key_is_the_whole_address_host_scheme_and_query(anonymous):
    CaseStudyFactory(tags=["Security"])
    anonymous.get("/case-studies/")
    assert served_from_cache(anonymous, "/case-studies/")
    assert not served_from_cache(anonymous, "/case-studies/?tag=security")
    _, queries = queries_for(anonymous, "/case-studies/", HTTP_HOST="127.0.0.1")
    assert queries > 0
    _, queries = queries_for(anonymous, "/case-studies/", secure=True)
    assert queries > 0


def test_a_csrf_cookie_alone_still_gets_the_cached_page(anonymous):
    anonymous.get("/case-studies/")
    anonymous.cookies["csrftoken"] = "x" * 32
    assert served_from_cache(anonymous, "/case-studies/")


def test_what_is_not_a_200_is_not_stored(anonymous, rf):
    for url in ["/case-studies/no-such-study/", "/case-studies/?page=9", "/case-studies/?tag=nope"]:
        assert anonymous.get(url).status_code == 404
        _, entry = pagecache.lookup(pagecache.page_key(rf.get(url)))
        assert entry is None, url
    # The same lookup finds a page that is stored.
    assert anonymous.get("/case-studies/").status_code == 200
    assert pagecache.lookup(pagecache.page_key(rf.get("/case-studies/")))[1] is not None


@pytest.mark.parametrize(
    ("mark", "header"),
    [
        (lambda response: response.set_cookie("visited", "yes"), "private"),
        (lambda response: response.__setitem__("Cache-Control", "private, max-age=60"), "private"),
        (lambda response: response.__setitem__("Cache-Control", "no-store"), "no-store"),
        (lambda response: response.__setitem__("Vary", "Accept-Language"), "public"),
    ],
    ids=["set-cookie", "private", "no-store", "vary"],
)
def test_a_page_for_one_visitor_only_is_never_stored(rf, mark, header):
    request = rf.get("/somewhere/")
    generation, entry = pagecache.lookup(pagecache.page_key(request))
    assert entry is None
    response = HttpResponse("<p>Made for you</p>")
    mark(response)
    response = pagecache.finish(request, response, pagecache.page_key(request), generation)
    assert header in response["Cache-Control"]
    assert pagecache.lookup(pagecache.page_key(request)) == (generation, None)
    plain = pagecache.finish(
        request, HttpResponse("<p>Anyone's</p>"), pagecache.page_key(request), generation
    )
    assert "public" in plain["Cache-Control"]
    assert pagecache.lookup(pagecache.page_key(request))[1].content == b"<p>Anyone's</p>"


# Invalidation: every change that could show on a page, in every process


def test_an_admin_save_shows_on_the_next_anonymous_request(
    anonymous, superuser_client, django_capture_on_commit_callbacks
):
    study = CaseStudyFactory(title="Before The Edit")
    assert b"Before The Edit" in anonymous.get("/case-studies/").content
    assert b"Before The Edit" in anonymous.get(study.get_absolute_url()).content
    with django_capture_on_commit_callbacks(execute=True):
        response = superuser_client.post(
            f"{CHANGELIST}{study.pk}/change/", study_form(title="After The Edit", slug=study.slug)
        )
    assert response.status_code == 302
    assert b"After The Edit" in anonymous.get("/case-studies/").content
    assert b"After The Edit" in anonymous.get(study.get_absolute_url()).content
    with django_capture_on_commit_callbacks(execute=True):
        superuser_client.post(f"{CHANGELIST}add/", study_form())
    assert b"A New Study" in anonymous.get("/case-studies/").content


def test_the_admins_bulk_actions_invalidate_as_a_save_does(
    anonymous, superuser_client, django_capture_on_commit_callbacks
):
    study = draft(title="Published In Bulk")
    assert b"Published In Bulk" not in anonymous.get("/case-studies/").content
    with django_capture_on_commit_callbacks(execute=True):
        superuser_client.post(
            f"{CHANGELIST}?status__exact=draft", {"action": "publish", "_selected_action": [study.pk]}
        )
    assert b"Published In Bulk" in anonymous.get("/case-studies/").content
    with django_capture_on_commit_callbacks(execute=True):
        superuser_client.post(
            f"{CHANGELIST}?status__exact=published", {"action": "unpublish", "_selected_action": [study.pk]}
        )
    assert b"Published In Bulk" not in anonymous.get("/case-studies/").content


def rename_tag(slug, name):
    tag = Tag.objects.get(slug=slug)
    tag.name = name
    tag.save()


@pytest.mark.parametrize(
    ("change", "url", "shown"),
    [
        (lambda study: study.tags.add("Observability"), "/tags/", b"Observability"),
        (
            lambda study: study.tags.remove("Security"),
            "/case-studies/?tag=security",
            # No public study carries the tag any more: it is unknown to the public.
            b"Page not found",
        ),
        (lambda study: rename_tag("security", "SecOps"), "/tags/", b"SecOps"),
        (lambda study: study.delete(), "/case-studies/", b"No case studies are published yet"),
        (lambda study: study.outcomes.create(label="Cold start"), "study", b"Cold start"),
    ],
    ids=["tag-added", "tag-removed", "tag-renamed", "study-deleted", "outcome-added"],
)
def test_a_committed_change_to_studies_or_tags_is_shown_next(
    anonymous, django_capture_on_commit_callbacks, change, url, shown
):
    study = CaseStudyFactory(slug="vault", tags=["Security"])
    url = "/case-studies/vault/" if url == "study" else url
    anonymous.get(url)
    assert served_from_cache(anonymous, url)
    with django_capture_on_commit_callbacks(execute=True):
        change(study)
    response = anonymous.get(url)
    assert shown in response.content


def test_a_profile_edit_in_the_admin_shows_on_every_page(
    anonymous, superuser_client, django_capture_on_commit_callbacks
):
    for url in PUBLIC_PAGES:
        anonymous.get(url)
    with django_capture_on_commit_callbacks(execute=True):
        superuser_client.post(PROFILE_CHANGE, profile_form(site_title="Renamed Portfolio"))
    for url in PUBLIC_PAGES:
        assert b"Renamed Portfolio" in anonymous.get(url).content, url


def test_a_change_is_not_shown_or_stored_before_it_commits(anonymous, django_capture_on_commit_callbacks):
    anonymous.get("/")
    with django_capture_on_commit_callbacks() as callbacks:
        profile = SiteProfile.objects.get()
        profile.site_title = "Not Yet"
        profile.save()
        # Inside the transaction the old page stays: it is what other connections still see.
        assert served_from_cache(anonymous, "/")
    for callback in callbacks:
        callback()
    assert b"Not Yet" in anonymous.get("/").content


def test_a_generation_that_cannot_be_written_is_retried_and_said(anonymous, settings, tmp_path, caplog):
    anonymous.get("/")
    # Where no file can be: under a file.
    (tmp_path / "a-file").write_text("")
    settings.PAGE_CACHE_GENERATION_FILE = tmp_path / "a-file" / "cache-generation"
    with caplog.at_level(logging.ERROR, logger="portfolio.pagecache"):
        pagecache.start_generation()
        # The page is still served, with the site profile read afresh.
        assert b"Engineering Portfolio" in anonymous.get("/").content
    assert pagecache._pending.generation
    assert len([r for r in caplog.records if "could not start" in r.getMessage()]) == 1


# Scheduled publication


def test_a_scheduled_study_appears_at_its_time_through_the_cache(anonymous, time_machine):
    start = datetime.datetime(2031, 3, 1, 9, 0, tzinfo=datetime.UTC)
    time_machine.move_to(start, tick=False)
    CaseStudyFactory(title="Out Already")
    CaseStudyFactory(title="Due At Ten", published_at=start + datetime.timedelta(hours=1))

    assert b"Due At Ten" not in anonymous.get("/case-studies/").content
    time_machine.move_to(start + datetime.timedelta(minutes=5))
    assert served_from_cache(anonymous, "/case-studies/")

    # Kept past PAGE_CACHE_SECONDS, rendered again: now the publication is near.
    time_machine.move_to(start + datetime.timedelta(minutes=59))
    response = anonymous.get("/case-studies/")
    assert b"Due At Ten" not in response.content
    # Browsers and CDNs, too, keep it no later than the publication, and show no stale copy past it.
    assert response["Cache-Control"] == "public, max-age=60"
    time_machine.move_to(start + datetime.timedelta(minutes=59, seconds=30))
    response, queries = queries_for(anonymous, "/case-studies/")
    assert queries == 0
    assert response["Cache-Control"] == "public, max-age=30"

    time_machine.move_to(start + datetime.timedelta(hours=1, seconds=1))
    response = anonymous.get("/case-studies/")
    assert b"Due At Ten" in response.content
    assert response["Cache-Control"] == "public, max-age=60, stale-while-revalidate=60"
    assert served_from_cache(anonymous, "/case-studies/")


# Who goes past it


def test_staff_are_never_served_a_stored_page_nor_stored(anonymous, staff_client):
    study = CaseStudyFactory(title="Old Title")
    url = study.get_absolute_url()
    anonymous.get(url)
    # No signal, no new generation: only a request that skips the cache can see this.
    CaseStudy.objects.filter(pk=study.pk).update(title="New Title")
    response, queries = queries_for(staff_client, url)
    assert queries > 0
    assert b"New Title" in response.content
    assert "private" in response["Cache-Control"]
    assert "no-store" in response["Cache-Control"]
    _, queries = queries_for(staff_client, url)
    assert queries > 0
    assert b"Old Title" in anonymous.get(url).content


def test_a_staff_preview_of_a_draft_never_reaches_a_visitor(anonymous, staff_client):
    study = draft(title="Secret Draft")
    response = staff_client.get(study.get_absolute_url())
    assert b"Secret Draft" in response.content
    assert "no-store" in response["Cache-Control"]
    response = anonymous.get(study.get_absolute_url())
    assert response.status_code == 404
    assert b"Secret Draft" not in response.content


def test_a_share_preview_link_is_never_stored(anonymous):
    study = draft(title="Shared Draft")
    path = share_link(study).path
    assert b"Shared Draft" in anonymous.get(path).content
    response, queries = queries_for(anonymous, path)
    assert queries > 0
    assert "no-store" in response["Cache-Control"]


def test_the_admin_is_never_cached(superuser_client):
    response, _ = queries_for(superuser_client, CHANGELIST)
    assert "no-store" in response["Cache-Control"]
    assert "private" in response["Cache-Control"]
    _, queries = queries_for(superuser_client, CHANGELIST)
    assert queries > 0


# Headers and conditional requests


def test_public_pages_say_how_long_browsers_and_cdns_may_keep_them(anonymous, study):
    for url in [*PUBLIC_PAGES, study.get_absolute_url(), "/case-studies/feed/", "/sitemap.xml"]:
        for response in [anonymous.get(url), anonymous.get(url)]:
            cache_control = response["Cache-Control"]
            assert "public" in cache_control, url
            assert "max-age=60" in cache_control, url
            assert "stale-while-revalidate=" in cache_control, url


def test_a_permanent_redirect_is_kept_only_briefly(anonymous, study):
    response = anonymous.get(f"/case-studies/{study.slug.upper()}/")
    assert response.status_code == 301
    assert "max-age=60" in response["Cache-Control"]


@pytest.mark.parametrize("url", ["/case-studies/", "study", "/case-studies/feed/", "/sitemap.xml"])
@pytest.mark.parametrize("cached", [True, False], ids=["from-the-cache", "rendered"])
def test_a_repeat_request_for_what_the_client_has_is_a_304(anonymous, study, url, cached):
    url = study.get_absolute_url() if url == "study" else url
    first = anonymous.get(url)
    assert first["ETag"]
    assert first["Last-Modified"]
    conditions = [{"HTTP_IF_NONE_MATCH": first["ETag"]}]
    if cached:
        conditions.append({"HTTP_IF_MODIFIED_SINCE": first["Last-Modified"]})
    else:
        # A new generation, the same content: rendered again, the same body, the same ETag.
        pagecache.start_generation()
    for headers in conditions:
        response = anonymous.get(url, **headers)
        assert response.status_code == 304, headers
        assert response.content == b""
        assert response["ETag"] == first["ETag"]
        assert "max-age=60" in response["Cache-Control"]


def test_with_the_page_cache_off_pages_are_rendered_each_time_and_still_answer_304(anonymous, settings):
    settings.PAGE_CACHE_SECONDS = 0
    anonymous.get("/case-studies/")
    response, queries = queries_for(anonymous, "/case-studies/")
    assert queries > 0
    # Browsers are told nothing to keep: with DEBUG's default, a template edit shows on the next load.
    assert "Cache-Control" not in response
    assert anonymous.get("/case-studies/", HTTP_IF_NONE_MATCH=response["ETag"]).status_code == 304


def test_a_client_with_an_old_copy_gets_the_new_page(anonymous, study, django_capture_on_commit_callbacks):
    first = anonymous.get("/case-studies/")
    with django_capture_on_commit_callbacks(execute=True):
        CaseStudyFactory(title="Written Since")
    response = anonymous.get("/case-studies/", HTTP_IF_NONE_MATCH=first["ETag"])
    assert response.status_code == 200
    assert b"Written Since" in response.content
    assert response["ETag"] != first["ETag"]


def test_last_modified_is_when_the_content_last_changed(anonymous, time_machine):
    start = datetime.datetime(2031, 3, 1, 9, 0, tzinfo=datetime.UTC)
    time_machine.move_to(start, tick=False)
    CaseStudyFactory(published_at=start - datetime.timedelta(days=3))
    pagecache.start_generation()
    time_machine.move_to(start + datetime.timedelta(hours=2), tick=False)
    response = anonymous.get("/case-studies/")
    assert response["Last-Modified"] == "Sat, 01 Mar 2031 09:00:00 GMT"
    assert (
        anonymous.get("/case-studies/", HTTP_IF_MODIFIED_SINCE="Sat, 01 Mar 2031 08:59:59 GMT").status_code
        == 200
    )


# Failures and other processes


def test_pages_are_served_and_the_failure_logged_once_while_redis_is_down(anonymous, settings, caplog):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        # Nothing listens once it is closed: connections are refused at once.
        closed_port = sock.getsockname()[1]
    settings.CACHES = {
        "default": {
            "BACKEND": "portfolio.cache.ResilientRedisCache",
            "LOCATION": f"redis://127.0.0.1:{closed_port}/0",
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
    resilient_cache.outage.down = False
    resilient_cache.outage.retry_at = 0.0
    CaseStudyFactory(title="Served Anyway", tags=["Security"])
    try:
        with caplog.at_level(logging.INFO):
            for _ in range(3):
                for url in PUBLIC_PAGES:
                    response = anonymous.get(url)
                    assert response.status_code == 200, url
                assert b"Served Anyway" in anonymous.get("/case-studies/").content
                # The cache pauses for a few seconds after a failure: try it again each round.
                resilient_cache.outage.retry_at = 0.0
    finally:
        resilient_cache.outage.down = False
        resilient_cache.outage.retry_at = 0.0
    failures = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(failures) == 1, [r.getMessage() for r in failures]
    assert failures[0].getMessage().startswith("cache (Redis) unavailable")


WORKER = """
import json, sys
import django
django.setup()
from django.db import connection
from django.http import HttpResponse
from django.test import Client
from django.test.utils import CaptureQueriesContext
client = Client(HTTP_HOST="localhost")
for line in sys.stdin:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(line.strip())
    print(json.dumps({"queries": len(queries), "body": response.content.decode()}), flush=True)
"""

EDITOR = """
import django
django.setup()
from casestudies.models import CaseStudy
CaseStudy.objects.create(title="Written By Another Process", slug="another", summary="s", status="published")
"""


def test_with_redis_a_change_in_one_process_reaches_the_pages_of_another(tmp_path):
    require_service(redis_available(REDIS_URL), f"Redis is not reachable at TEST_REDIS_URL ({REDIS_URL})")
    prefix = f"test-pagecache-{uuid.uuid4().hex}"
    (tmp_path / "pagecache_settings.py").write_text(
        f"from portfolio.settings import *\nCACHES['default']['KEY_PREFIX'] = {prefix!r}\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_URL", "REDIS_URL"))}
    env |= {
        "DJANGO_SETTINGS_MODULE": "pagecache_settings",
        "PYTHONPATH": os.pathsep.join([str(tmp_path), str(BASE_DIR)]),
        "DJANGO_VAR_DIR": str(tmp_path / "var"),
        "REDIS_URL": REDIS_URL,
        "DJANGO_LOG_LEVEL": "WARNING",
    }
    run = {"cwd": BASE_DIR, "env": env, "capture_output": True, "text": True, "check": False}
    migrated = subprocess.run([sys.executable, "manage.py", "migrate", "--noinput"], **run)
    assert migrated.returncode == 0, migrated.stderr
    worker = subprocess.Popen(
        [sys.executable, "-c", WORKER],
        cwd=BASE_DIR,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )

    def worker_get(path):
        worker.stdin.write(path + "\n")
        worker.stdin.flush()
        return json.loads(worker.stdout.readline())

    try:
        first = worker_get("/case-studies/")
        assert "Written By Another Process" not in first["body"]
        assert worker_get("/case-studies/")["queries"] == 0
        edited = subprocess.run([sys.executable, "-c", EDITOR], **run)
        assert edited.returncode == 0, edited.stderr
        after = worker_get("/case-studies/")
        assert "Written By Another Process" in after["body"]
        assert after["queries"] > 0
        assert worker_get("/case-studies/")["queries"] == 0
    finally:
        worker.stdin.close()
        worker.wait(timeout=30)
        import redis

        server = redis.Redis.from_url(REDIS_URL)
        for key in server.scan_iter(f"{prefix}:*"):
            server.delete(key)


# Compression


GZIP = {"HTTP_ACCEPT_ENCODING": "gzip, deflate, br"}


@pytest.mark.parametrize("url", ["/case-studies/", "study", "/case-studies/feed/", "/sitemap.xml"])
@pytest.mark.parametrize("cached", [True, False], ids=["from-the-cache", "rendered"])
def test_public_pages_go_gzipped_to_a_client_that_accepts_it(anonymous, settings, study, url, cached):
    settings.PAGE_CACHE_SECONDS = 600 if cached else 0
    url = study.get_absolute_url() if url == "study" else url
    plain = anonymous.get(url)
    if cached:
        assert served_from_cache(anonymous, url)
    response = anonymous.get(url, **GZIP)
    assert response["Content-Encoding"] == "gzip"
    assert gzip.decompress(response.content) == plain.content
    assert int(response["Content-Length"]) == len(response.content) < len(plain.content) / 2
    assert "Accept-Encoding" in response["Vary"]
    assert "Accept-Encoding" in plain["Vary"]
    assert "Content-Encoding" not in plain
    # The same page in another encoding: a weak validator, and a 304 for either.
    assert response["ETag"] == "W/" + plain["ETag"]
    assert anonymous.get(url, HTTP_IF_NONE_MATCH=response["ETag"], **GZIP).status_code == 304


def test_pages_for_the_staff_are_never_compressed(staff_client, study):
    # They carry a CSRF token; compressed beside reflected input it could leak (BREACH).
    for url in ["/case-studies/?q=<script>", study.get_absolute_url(), "/admin/"]:
        response = staff_client.get(url, **GZIP)
        assert response.status_code == 200, url
        assert "Content-Encoding" not in response, url


def test_a_tiny_or_binary_answer_is_sent_as_it_is(anonymous, study):
    card = anonymous.get(f"{study.get_absolute_url()}card.png", **GZIP)
    assert card["Content-Type"] == "image/png"
    assert "Content-Encoding" not in card
    robots = anonymous.get("/robots.txt", **GZIP)
    assert len(robots.content) < pagecache.MIN_GZIP_BYTES
    assert "Content-Encoding" not in robots
