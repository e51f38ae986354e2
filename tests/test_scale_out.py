"""Scale-out: two gunicorn instances share one PostgreSQL and one Redis.

An edit saved through one instance's admin is what the other serves on its
very next request, its caches warmed beforehand; a draft published through one
appears on both. The edits go through the admin over HTTP, as the author's
browser sends them: a logged-in session, the CSRF token, every field of the
change form (inline management forms included).
"""

import datetime
import http.cookiejar
import os
import urllib.error
import urllib.parse
import urllib.request
import uuid

import pytest
from bs4 import BeautifulSoup

from tests.conftest import require_service
from tests.test_logging import run_site
from tests.test_serving import (
    NoRedirect,
    collect_static,
    fetch,
    manage,
    postgres_database_url,
    scratch_postgres_database,
    site_env,
)
from tests.test_settings import redis_available

pytestmark = pytest.mark.served

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15").rsplit("/", 1)[0] + "/14"
PASSWORD = "scale out passphrase 42"


class Browser:
    """A cookie jar and forms posted as a browser posts them; redirects are not followed."""

    def __init__(self, base_url):
        self.base_url = base_url
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()), NoRedirect
        )

    def open(self, path, data=None):
        body = urllib.parse.urlencode(data, doseq=True).encode() if data is not None else None
        request = urllib.request.Request(self.base_url + path, data=body)
        try:
            with self.opener.open(request, timeout=20) as response:
                return response.status, response.headers, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.headers, error.read().decode()

    def form(self, path, form_id=None):
        """The fields of the page's form as a browser would send them (the default submit button aside)."""
        status, _, html = self.open(path)
        assert status == 200, (path, status)
        soup = BeautifulSoup(html, "html.parser")
        form = soup.find("form", id=form_id) if form_id else soup.find("form", method="post")
        data = {}
        for field in form.find_all(["input", "textarea", "select"]):
            name = field.get("name")
            if not name or field.get("disabled") is not None:
                continue
            if field.name == "textarea":
                value = field.text.removeprefix("\n")
            elif field.name == "select":
                chosen = field.find_all("option", selected=True) or field.find_all("option")[:1]
                value = [option.get("value", option.text) for option in chosen]
            elif field.get("type") in {"checkbox", "radio"}:
                if field.get("checked") is None:
                    continue
                value = field.get("value", "on")
            elif field.get("type") in {"submit", "button", "file", "image", "reset"}:
                continue
            else:
                value = field.get("value", "")
            data.setdefault(name, []).extend(value if isinstance(value, list) else [value])
        return data

    def log_in(self, username, password):
        data = self.form("/admin/login/")
        data |= {"username": [username], "password": [password], "next": ["/admin/"]}
        status, headers, body = self.open("/admin/login/", data)
        assert status == 302, body[:500]
        assert headers["Location"] == "/admin/"


def study_id(database_url, slug):
    import psycopg

    with psycopg.connect(database_url) as connection:
        return connection.execute("select id from casestudies_casestudy where slug = %s", [slug]).fetchone()[
            0
        ]


def warm(site, *paths):
    for _ in range(2):
        for path in paths:
            assert fetch(site.url + path)[0] == 200, (site.url, path)


def page(site, path):
    status, _, body = fetch(site.url + path)
    assert status == 200, (site.url, path, status)
    return body.decode()


@pytest.fixture
def database_url(request, postgres):
    """A PostgreSQL database of the test's own, named after its module (test_scale_out_s3 shares it)."""
    with scratch_postgres_database(request.module.__name__.rsplit(".", 1)[-1].removeprefix("test_")) as name:
        yield postgres_database_url(name)


@pytest.fixture
def redis_url():
    require_service(redis_available(REDIS_URL), f"Redis is not reachable at {REDIS_URL}")
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()
    yield REDIS_URL
    redis.Redis.from_url(REDIS_URL).flushdb()


def test_an_edit_through_one_instance_is_served_by_the_other(tmp_path, database_url, redis_url):
    shared = {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        # Sessions, CSRF and share links signed by one instance are read by the other.
        "DJANGO_SECRET_KEY": f"scale-out-{uuid.uuid4().hex}{uuid.uuid4().hex}",
    }
    env_a = site_env(tmp_path / "a", **shared)
    env_b = site_env(tmp_path / "b", **shared)
    assert env_a["PORT"] != env_b["PORT"]
    collect_static(env_a)
    with run_site(env_a) as a, run_site(env_b) as b:
        superuser = {
            "DJANGO_SUPERUSER_USERNAME": "author",
            "DJANGO_SUPERUSER_EMAIL": "author@example.com",
            "DJANGO_SUPERUSER_PASSWORD": PASSWORD,
        }
        manage({**env_a, **superuser}, "createsuperuser", "--noinput")
        for site in (a, b):
            warm(site, "/", "/case-studies/", "/case-studies/securevault/")
            assert "SecureVault" in page(site, "/case-studies/securevault/")

        author = Browser(a.url)
        author.log_in("author", PASSWORD)

        # An edit through A: B serves it on its next request.
        pk = study_id(database_url, "securevault")
        change = f"/admin/casestudies/casestudy/{pk}/change/"
        form = author.form(change, form_id="casestudy_form")
        assert form["title"] != ["Edited Through Instance A"]
        form["title"] = ["Edited Through Instance A"]
        form["_save"] = ["Save"]
        status, _, body = author.open(change, form)
        assert status == 302, BeautifulSoup(body, "html.parser").select(".errorlist, .errornote")
        assert "Edited Through Instance A" in page(b, "/case-studies/securevault/")
        assert "Edited Through Instance A" in page(b, "/case-studies/")
        assert "Edited Through Instance A" in page(a, "/case-studies/securevault/")

        # A draft made through A is on neither list; published through A, it is on both.
        add = "/admin/casestudies/casestudy/add/"
        form = author.form(add, form_id="casestudy_form")
        form |= {
            "title": ["Scale Out Draft"],
            "slug": ["scale-out-draft"],
            "summary": ["Written on one instance, read on the other."],
            "body": ["## Context\n\nTwo instances, one database."],
            "tags": ["Scale"],
            "status": ["draft"],
            "_save": ["Save"],
        }
        status, _, body = author.open(add, form)
        assert status == 302, BeautifulSoup(body, "html.parser").select(".errorlist, .errornote")
        for site in (a, b):
            warm(site, "/case-studies/")
            assert "Scale Out Draft" not in page(site, "/case-studies/")
            assert fetch(site.url + "/case-studies/scale-out-draft/")[0] == 404

        draft_change = f"/admin/casestudies/casestudy/{study_id(database_url, 'scale-out-draft')}/change/"
        form = author.form(draft_change, form_id="casestudy_form")
        now = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=1)
        form |= {
            "status": ["published"],
            "published_at_0": [now.strftime("%Y-%m-%d")],
            "published_at_1": [now.strftime("%H:%M:%S")],
            "_save": ["Save"],
        }
        status, _, body = author.open(draft_change, form)
        assert status == 302, BeautifulSoup(body, "html.parser").select(".errorlist, .errornote")
        for site in (a, b):
            assert "Scale Out Draft" in page(site, "/case-studies/")
            assert "Scale Out Draft" in page(site, "/case-studies/?tag=scale")
            assert "Two instances, one database." in page(site, "/case-studies/scale-out-draft/")

    for site in (a, b):
        assert not [line for line in site.log_lines() if line["level"] == "ERROR"], site.url
