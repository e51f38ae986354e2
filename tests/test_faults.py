"""Graceful failure: a database or cache outage is a styled 503 or a normal page, logged once.

The in-process tests make the database unreachable by having every new
cursor fail as a refused connection does; the last test takes a real
PostgreSQL away from a real gunicorn, through a TCP proxy it then stops.
"""

import contextlib
import json
import logging
import socket
import threading
import uuid

import pytest
from django.db import OperationalError, connection
from django.db.backends.signals import connection_created
from django.template.loader import render_to_string
from django.test import Client

from portfolio import cache as resilient_cache
from portfolio import faults
from tests.conftest import require_service
from tests.factories import CaseStudyFactory
from tests.test_html_validity import check_with_nu
from tests.test_logging import run_site
from tests.test_serving import (
    POSTGRES_URL,
    collect_static,
    fetch,
    free_port,
    scratch_postgres_database,
    site_env,
)
from tests.test_settings import REDIS_URL, load_settings, redis_available

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_outage_yet():
    faults.database.down = False
    resilient_cache.outage.down = False
    resilient_cache.outage.retry_at = 0.0
    yield
    faults.database.down = False
    resilient_cache.outage.down = False
    resilient_cache.outage.retry_at = 0.0


@pytest.fixture
def database_down(db, monkeypatch):
    """Every query fails as it does when PostgreSQL refuses connections."""

    def refuse():
        raise OperationalError('connection to server at "127.0.0.1", port 5432 failed: Connection refused')

    monkeypatch.setattr(connection, "ensure_connection", refuse)


def outage_records(caplog, service):
    return [r for r in caplog.records if r.name == "portfolio.faults" and r.getMessage().startswith(service)]


# Database down


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/case-studies/",
        "/case-studies/?tag=security",
        "/case-studies/some-study/",
        "/tags/",
        "/about/",
        "/case-studies/feed/",
        "/sitemap.xml",
        "/case-studies/some-study/card.png",
    ],
)
def test_database_down_answers_a_styled_503_with_retry_after(database_down, path):
    response = Client(raise_request_exception=False).get(path)
    assert response.status_code == 503
    assert response["Retry-After"] == "30"
    assert "no-store" in response["Cache-Control"]
    html = response.content.decode()
    assert "<h1>The site is briefly unavailable</h1>" in html
    assert 'rel="stylesheet"' in html
    assert "Traceback" not in html
    assert "OperationalError" not in html


def test_the_503_page_is_valid_html(tmp_path, java):
    (tmp_path / "unavailable.html").write_text(render_to_string("503.html", {"retry_after": 30}))
    assert check_with_nu(tmp_path) == {"unavailable.html": []}


def test_an_error_page_that_needs_the_database_is_a_503_too(database_down):
    # No view runs: the 404 page's own template (the profile) meets the outage.
    response = Client(raise_request_exception=False).get("/no-such-page/")
    assert response.status_code == 503
    assert response["Retry-After"] == "30"


def test_an_outage_is_logged_once_not_per_request(database_down, caplog):
    client = Client(raise_request_exception=False)
    with caplog.at_level(logging.INFO):
        for path in ["/", "/case-studies/", "/tags/", "/no-such-page/"]:
            assert client.get(path).status_code == 503
    [record] = outage_records(caplog, "database unavailable")
    assert record.levelname == "ERROR"
    assert "OperationalError: connection to server" in record.getMessage()
    # Django's own "Service Unavailable: /path" line is not repeated per request either.
    assert not [r for r in caplog.records if r.name == "django.request"]


def test_the_next_outage_after_a_recovery_is_logged_again(database_down, caplog):
    client = Client(raise_request_exception=False)
    with caplog.at_level(logging.INFO):
        client.get("/")
        client.get("/")
        # What Django sends when it opens a connection: the database is back.
        connection_created.send(sender=type(connection), connection=connection)
        client.get("/")
    assert len(outage_records(caplog, "database unavailable")) == 2
    assert len(outage_records(caplog, "database reachable again")) == 1


def test_a_programming_error_is_still_a_500(db, monkeypatch):
    def broken():
        raise ZeroDivisionError

    monkeypatch.setattr("casestudies.views.CaseStudy.objects.published", broken)
    response = Client(raise_request_exception=False).get("/")
    assert response.status_code == 500
    assert b"Something went wrong on our side" in response.content


# /readyz


def test_readyz_says_ok_for_each_check(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"database": "ok", "cache": "ok"}
    assert "no-store" in response["Cache-Control"]


def test_readyz_names_a_failed_database_without_details(database_down, client):
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {"database": "error: OperationalError", "cache": "ok"}
    assert b"127.0.0.1" not in response.content
    assert "no-store" in response["Cache-Control"]


def test_a_failing_probe_is_logged_once_not_per_probe(database_down, client, caplog):
    with caplog.at_level(logging.INFO):
        for _ in range(5):
            assert client.get("/readyz").status_code == 503
    assert len(outage_records(caplog, "database unavailable")) == 1
    assert not [r for r in caplog.records if r.name == "django.request"]


def test_healthz_stays_up_while_the_database_is_down(database_down, client):
    response = client.get("/healthz")
    assert (response.status_code, response.content) == (200, b"ok\n")


# Cache down


def closed_port_redis():
    # A port nothing listens on: connections are refused at once.
    return f"redis://127.0.0.1:{free_port()}/0"


@pytest.fixture
def redis_down(settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "portfolio.cache.ResilientRedisCache",
            "LOCATION": closed_port_redis(),
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }


def test_pages_are_served_from_the_database_while_redis_is_down(redis_down, client, caplog):
    study = CaseStudyFactory(title="Served Without A Cache", tags=["Security"])
    with caplog.at_level(logging.INFO):
        for path in ["/", "/case-studies/", f"/case-studies/{study.slug}/", "/tags/", "/about/"]:
            response = client.get(path)
            assert response.status_code == 200, path
            assert b"Engineering Portfolio" in response.content
    assert b"Served Without A Cache" in client.get("/case-studies/").content
    [record] = outage_records(caplog, "cache (Redis) unavailable")
    assert "ConnectionError" in record.getMessage()


def test_a_dead_redis_is_skipped_for_a_while_after_a_failure(redis_down):
    from django.core.cache import cache

    assert cache.get("anything", "miss") == "miss"
    assert resilient_cache.outage.skipping()
    # During the pause no call reaches Redis, each answers as an empty cache would.
    assert cache.set("key", "value") is None
    assert cache.add("key", "value") is False
    assert cache.get_many(["a", "b"]) == {}
    assert cache.set_many({"a": 1}) == ["a"]
    assert cache.delete("key") is False
    assert cache.get_or_set("key", "computed") == "computed"
    with pytest.raises(ValueError, match="not found"):
        cache.incr("counter")


def test_readyz_reports_redis_down_as_not_ready(redis_down, client):
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {"database": "ok", "cache": "error: ConnectionError"}


def test_redis_coming_back_is_used_again_and_said_once(settings, caplog):
    require_service(redis_available(REDIS_URL), f"Redis is not reachable at TEST_REDIS_URL ({REDIS_URL})")
    from django.core.cache import cache

    settings.CACHES = {
        "default": {"BACKEND": "portfolio.cache.ResilientRedisCache", "LOCATION": closed_port_redis()}
    }
    with caplog.at_level(logging.INFO):
        assert cache.get("k") is None
        settings.CACHES = {
            "default": {"BACKEND": "portfolio.cache.ResilientRedisCache", "LOCATION": REDIS_URL}
        }
        # Still within the pause after the failure: a miss, without asking.
        key = f"faults-{uuid.uuid4().hex}"
        cache.set(key, "kept", 30)
        assert cache.get(key) is None
        resilient_cache.outage.retry_at = 0.0
        cache.set(key, "kept", 30)
        assert cache.get(key) == "kept"
        assert cache.get(key) == "kept"
    assert len(outage_records(caplog, "cache (Redis) unavailable")) == 1
    assert len(outage_records(caplog, "cache (Redis) reachable again")) == 1


# Production's host check and HTTPS redirect


PROBE = """
import django, json
django.setup()
from django.conf import settings
from django.core.management import call_command
from django.template.loader import render_to_string
from django.test import Client
# Error pages name static files; without a collectstatic run here, use the plain storage.
plain = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
settings.STORAGES = {**settings.STORAGES, "staticfiles": plain}
call_command("migrate", verbosity=0)
client = Client()
answers = {}
for path, host in [("/healthz", "example.com"), ("/readyz", "example.com"), ("/", "example.com"),
                   ("/readyz", "evil.example")]:
    response = client.get(path, HTTP_HOST=host)
    answers[f"{path} {host}"] = [response.status_code, response.get("Location")]
print(json.dumps(answers))
"""


def test_probes_pass_production_https_redirect_but_not_its_host_check(tmp_path):
    result = load_settings(
        tmp_path,
        code=PROBE,
        DJANGO_ENV="production",
        DJANGO_SECRET_KEY="k" * 50,
        DJANGO_ALLOWED_HOSTS="example.com",
    )
    assert result.returncode == 0, result.stderr
    answers = json.loads(result.stdout.strip().splitlines()[-1])
    # Plain HTTP from the load balancer: answered, not redirected to https.
    assert answers["/healthz example.com"] == [200, None]
    assert answers["/readyz example.com"] == [200, None]
    # A visitor over plain HTTP is sent to https.
    assert answers["/ example.com"] == [301, "https://example.com/"]
    assert answers["/readyz evil.example"][0] == 400


# The real thing: gunicorn, PostgreSQL behind a proxy that is stopped and started again


class TcpProxy:
    """Forwards a local port to PostgreSQL; stop() is the database going away, connections and all."""

    def __init__(self, target):
        self.target = target
        self.port = free_port()
        self.sockets = []
        self.listener = None

    def start(self):
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", self.port))
        self.listener.listen()
        threading.Thread(target=self._accept, args=(self.listener,), daemon=True).start()

    def stop(self):
        for sock in [self.listener, *self.sockets]:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        self.sockets = []

    def _accept(self, listener):
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            self.sockets += [client, upstream]
            for source, sink in [(client, upstream), (upstream, client)]:
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source, sink):
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)


@pytest.mark.served
def test_gunicorn_answers_503_while_postgresql_is_away_and_recovers(tmp_path, postgres):
    with scratch_postgres_database("faults") as name:
        proxy = TcpProxy(("127.0.0.1", 5432))
        proxy.start()
        try:
            credentials = POSTGRES_URL.split("//", 1)[1].split("@", 1)[0]
            env = site_env(tmp_path, DATABASE_URL=f"postgres://{credentials}@127.0.0.1:{proxy.port}/{name}")
            collect_static(env)
            with run_site(env) as site:
                assert fetch(site.url + "/case-studies/")[0] == 200

                proxy.stop()
                # Pages no worker has kept (the page cache may answer for one it has: that is fine too),
                # each needing the database (/tags/ may be drawn from the tag counts a worker keeps).
                for path in ["/case-studies/securevault/", "/", "/case-studies/?tag=security"]:
                    status, headers, body = fetch(site.url + path)
                    assert status == 503, (path, body[:300])
                    assert headers["Retry-After"] == "30"
                    assert "no-store" in headers["Cache-Control"]
                    assert b"briefly unavailable" in body
                status, _, body = fetch(site.url + "/readyz")
                assert status == 503
                assert json.loads(body)["database"] == "error: OperationalError"
                assert fetch(site.url + "/healthz")[0] == 200

                proxy.start()
                assert fetch(site.url + "/case-studies/")[0] == 200
                # Several probes, so the worker that saw the outage also serves one after it.
                for _ in range(12):
                    assert fetch(site.url + "/readyz")[0] == 200

            lines = site.log_lines()
            outages = [line for line in lines if line["message"].startswith("database unavailable")]
            # Once per worker at most (each process knows only its own outage), not once per request.
            assert 1 <= len(outages) <= int(env.get("WEB_CONCURRENCY", "2"))
            assert all(line["level"] == "ERROR" and line["request_id"] for line in outages)
            assert not [line for line in lines if "Traceback" in json.dumps(line)]
            assert [line for line in lines if line["message"] == "database reachable again"]
        finally:
            proxy.stop()
