"""The site as `make run` and the container serve it: gunicorn, whitenoise, DEBUG off.

Each test here starts real processes (migrate, import, collectstatic, gunicorn)
against a database of its own, then talks HTTP to it.
"""

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

import pytest

from tests.conftest import require_service

BASE_DIR = Path(__file__).resolve().parent.parent
POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgres://portfolio:portfolio@127.0.0.1:5432/postgres")


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


opener = urllib.request.build_opener(NoRedirect)


def fetch(url, headers=None):
    """(status, headers, body) for a GET, without following redirects."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with opener.open(request, timeout=10) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def site_env(tmp_path, **extra):
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "DATABASE_URL"))}
    env.update(
        {"DJANGO_VAR_DIR": str(tmp_path / "var"), "HOST": "127.0.0.1", "PORT": str(free_port()), **extra}
    )
    return env


def manage(env, *args):
    subprocess.run(
        [sys.executable, "manage.py", *args], cwd=BASE_DIR, env=env, check=True, capture_output=True
    )


@contextlib.contextmanager
def serve(env):
    """Start the site as `make run` does, through bin/serve; yields its base URL."""
    manage(env, "collectstatic", "--noinput")
    log = Path(env["DJANGO_VAR_DIR"]).parent / "server.log"
    server = subprocess.Popen(
        [str(BASE_DIR / "bin" / "serve")],
        cwd=BASE_DIR,
        env={**env, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"},
        stdout=subprocess.DEVNULL,
        stderr=log.open("w"),
    )
    base_url = f"http://127.0.0.1:{env['PORT']}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                fetch(base_url + "/")
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the site did not start:\n{log.read_text()}") from None
                time.sleep(0.2)
        yield base_url
    finally:
        server.terminate()
        server.wait(timeout=20)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    with serve(site_env(tmp_path_factory.mktemp("site"))) as base_url:
        yield base_url


def test_the_seed_studies_are_served_newest_first(site):
    status, _, body = fetch(site + "/case-studies/")
    assert status == 200
    html = body.decode()
    positions = [html.index(name) for name in ["SecureVault", "ShopFlow", "MediConnect", "Northstar"]]
    assert positions == sorted(positions)
    assert html.count('class="card"') == 7


def test_security_filter_shows_exactly_the_two_security_studies(site):
    _, _, body = fetch(site + "/case-studies/?tag=security")
    assert body.decode().count('class="card"') == 2


def test_every_seed_study_page_renders(site):
    for slug in [
        "securevault",
        "shopflow",
        "mediconnect",
        "financeai",
        "cloudsync",
        "pulseforge",
        "northstar",
    ]:
        status, _, body = fetch(f"{site}/case-studies/{slug}/")
        assert status == 200, slug
        assert b"<h1>" in body


def test_a_10_kb_search_gets_a_normal_page_and_a_larger_request_line_a_414(site):
    words = urllib.parse.quote(" ".join(["vault"] * 1700 + ["café"] * 200))
    assert len(words) > 10_000
    # The site cuts the query to its canonical length and sends the reader there.
    status, headers, _ = fetch(f"{site}/case-studies/?q={words}")
    assert status == 301
    assert len(headers["Location"]) < 1000
    status, _, body = fetch(site + headers["Location"])
    assert status == 200
    assert b'<input id="search-query" type="search" name="q" value="vault vault' in body
    status, _, _ = fetch(f"{site}/case-studies/?q={'x' * 40_000}")
    assert status == 414


def page_title(base_url):
    body = fetch(base_url + "/")[2].decode()
    return body[body.index("<title>") + 7 : body.index("</title>")]


def test_a_profile_edit_in_another_process_shows_in_every_worker_at_once(tmp_path):
    env = site_env(tmp_path, WEB_CONCURRENCY="2")
    with serve(env) as base_url:
        # Both workers keep the profile, and the page, in their own memory (no Redis here).
        assert {page_title(base_url) for _ in range(10)} == {"Engineering Portfolio"}
        rename = "p = SiteProfile.objects.get(); p.site_title = 'Renamed'; p.save()"
        manage(env, "shell", "-c", f"from siteprofile.models import SiteProfile; {rename}")
        assert {page_title(base_url) for _ in range(10)} == {"Renamed"}


def test_debug_is_off_and_errors_are_the_sites_own_pages(site):
    status, _, body = fetch(site + "/case-studies/?tag=nope")
    assert status == 404
    assert b"Page not found" in body
    assert b"Traceback" not in body
    assert b"URLconf" not in body


def test_static_files_are_hashed_compressed_and_cached_for_a_year(site):
    _, _, body = fetch(site + "/")
    css_path = body.decode().split('rel="stylesheet" href="', 1)[1].split('"', 1)[0]
    assert css_path.startswith("/static/css/site.")
    assert css_path.endswith(".css")
    assert css_path != "/static/css/site.css"
    for encoding in ["br", "gzip"]:
        status, headers, _ = fetch(site + css_path, {"Accept-Encoding": encoding})
        assert status == 200
        assert headers["Content-Encoding"] == encoding
        assert "immutable" in headers["Cache-Control"]
        assert int(headers["Cache-Control"].split("max-age=")[1].split(",")[0]) >= 365 * 24 * 3600
    # A coding the client refuses (q=0) is not sent, though the client names it.
    for refusal, expected in [("gzip;q=0", None), ("br;q=0, gzip;q=0", None), ("br;q=0, gzip", "gzip")]:
        status, headers, _ = fetch(site + css_path, {"Accept-Encoding": refusal})
        assert status == 200
        assert headers.get("Content-Encoding") == expected, refusal


# What a client sends before it stops: the start of a request, never its end.
HALF_A_REQUEST = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n"


def test_clients_that_send_half_a_request_leave_the_site_answering(site):
    address = urllib.parse.urlsplit(site)
    idle = [socket.create_connection((address.hostname, address.port)) for _ in range(16)]
    try:
        for connection in idle:
            connection.sendall(HALF_A_REQUEST)
        # With a worker per connection, these 16 would hold every worker until gunicorn's
        # timeout: the health check would wait (fetch gives up after 10 s).
        status, _, body = fetch(site + "/healthz")
        assert (status, body) == (200, b"ok\n")
        assert fetch(site + "/case-studies/")[0] == 200
    finally:
        for connection in idle:
            connection.close()


def test_health_check_answers_without_touching_pages(site):
    status, headers, body = fetch(site + "/healthz")
    assert (status, body) == (200, b"ok\n")
    assert "no-cache" in headers["Cache-Control"]


def test_unknown_host_is_refused(site):
    status, _, _ = fetch(site + "/", {"Host": "evil.example"})
    assert status == 400


def postgres_available():
    try:
        import psycopg

        with psycopg.connect(POSTGRES_URL, connect_timeout=3):
            return True
    except Exception:
        return False


@contextlib.contextmanager
def scratch_postgres_database(purpose):
    """A new, empty PostgreSQL database for a site a test starts itself: its name; dropped after."""
    require_service(
        postgres_available(), f"PostgreSQL is not reachable at TEST_POSTGRES_URL ({POSTGRES_URL})"
    )
    import psycopg

    name = f"portfolio_{purpose}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def postgres_database_url(name):
    return POSTGRES_URL.rsplit("/", 1)[0] + "/" + name


def test_the_same_site_runs_on_postgresql(tmp_path):
    import psycopg

    with scratch_postgres_database("serving") as name:
        database_url = postgres_database_url(name)
        with serve(site_env(tmp_path, DATABASE_URL=database_url)) as base_url:
            _, _, body = fetch(base_url + "/case-studies/?tag=security")
            assert body.decode().count('class="card"') == 2
            _, _, body = fetch(base_url + "/case-studies/?tag=real-time")
            assert body.decode().count('class="card"') == 2
            assert fetch(base_url + "/case-studies/securevault/")[0] == 200
        with psycopg.connect(database_url) as connection:
            assert connection.execute("select count(*) from casestudies_casestudy").fetchone() == (7,)
