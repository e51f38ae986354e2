"""The site as `make run` and the container serve it: gunicorn, whitenoise, DEBUG off.

Each test here starts real processes (migrate, import, collectstatic, gunicorn)
against a database of its own, then talks HTTP to it.
"""

import contextlib
import fcntl
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

import pytest

from portfolio import localserver
from tests.conftest import require_service

pytestmark = pytest.mark.served

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


def with_venv_path(env):
    """env, with this interpreter's bin/ first on PATH, as `make run` and `make dev` set it."""
    return {**env, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"}


def start_logged(script, env, output, **popen):
    """bin/<script> as make starts it, all it prints written to the file `output`."""
    return subprocess.Popen(
        [str(BASE_DIR / "bin" / script)],
        cwd=BASE_DIR,
        env=with_venv_path(env),
        stdout=output.open("w"),
        stderr=subprocess.STDOUT,
        **popen,
    )


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


_static_collected = False


def collect_static(env):
    """collectstatic, as `make run` runs it before serving: once a test run, however many sites start.

    Every site serves the one STATIC_ROOT (staticfiles/), and a run costs seconds whether or not
    a file changed. Under pytest-xdist the first worker collects and the others wait for it: a
    second run could rewrite the files while another worker's site is reading them.
    """
    global _static_collected
    if _static_collected:
        return
    run_id = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    if run_id is None:
        manage(env, "collectstatic", "--noinput")
    else:
        with (Path(tempfile.gettempdir()) / f"portfolio-collectstatic-{run_id}").open("a+") as done:
            fcntl.flock(done, fcntl.LOCK_EX)
            done.seek(0)
            if done.read() != "done":
                manage(env, "collectstatic", "--noinput")
                done.write("done")
    _static_collected = True


@contextlib.contextmanager
def serve(env):
    """Start the site as `make run` does, through bin/serve; yields its base URL."""
    collect_static(env)
    log = Path(env["DJANGO_VAR_DIR"]).parent / "server.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    server = subprocess.Popen(
        [str(BASE_DIR / "bin" / "serve")],
        cwd=BASE_DIR,
        env=with_venv_path(env),
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


def test_the_same_site_runs_on_postgresql(tmp_path, postgres):
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


# What `make run` and `make dev` say (bin/serve, gunicorn.conf.py, bin/dev, portfolio/localserver.py)

PLAIN_TIME = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d "
# HOST=0.0.0.0: other devices may connect.
EVERY_INTERFACE = "0.0.0.0"  # noqa: S104


def wait_until_answering(base_url, server, log):
    deadline = time.monotonic() + 30
    while True:
        try:
            return fetch(base_url + "/healthz")
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the site did not start:\n{log.read_text()}") from None
            time.sleep(0.2)


def test_a_busy_port_is_one_line_that_names_a_free_one(tmp_path):
    env = site_env(tmp_path, SERVE_BANNER="make run")
    port = int(env["PORT"])
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        result = subprocess.run(
            [str(BASE_DIR / "bin" / "serve")],
            cwd=BASE_DIR,
            env=with_venv_path(env),
            capture_output=True,
            text=True,
            check=False,
        )
    assert result.returncode == 1
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    match = re.fullmatch(
        rf"Port {port} on 127\.0\.0\.1 is in use \(another `make run` or `make dev`\?\)\. "
        r"Try: PORT=(\d+) make run",
        line,
    )
    assert match, line
    assert int(match[1]) > port
    # Said before the migrations, not after them.
    assert not (tmp_path / "var" / "db.sqlite3").exists()


def test_make_run_says_where_the_site_is_last_after_the_migrations(tmp_path):
    # A .env as a developer might keep it: gunicorn and the site both read it.
    dotenv = tmp_path / "local.env"
    dotenv.write_text(
        "DJANGO_LOG_FORMAT=plain\nDJANGO_ALLOWED_HOSTS=portfolio.example.com\nWEB_CONCURRENCY=1\n"
    )
    env = site_env(tmp_path, SERVE_BANNER="make run", DJANGO_DOTENV=str(dotenv))
    collect_static(env)
    output = tmp_path / "output.log"
    server = start_logged("serve", env, output)
    base_url = f"http://127.0.0.1:{env['PORT']}"
    try:
        # As the banner says: 127.0.0.1 is not an allowed host here, the site's own name is.
        assert wait_until_answering(base_url, server, output)[0] == 400
        assert fetch(base_url + "/healthz", {"Host": "portfolio.example.com"})[0] == 200
    finally:
        server.terminate()
        server.wait(timeout=20)
    text = output.read_text()
    banner = text.index(f"  Serving on {base_url}/  (Ctrl-C stops it)\n")
    assert text.index("Applying contenttypes.0001_initial... OK") < banner
    assert text.index("7 created") < banner
    lines = text[banner:].splitlines()
    assert lines[1:5] == [
        "  Requests to 127.0.0.1 get 400 Bad Request: "
        f"DJANGO_ALLOWED_HOSTS=portfolio.example.com (from {dotenv}) does not name it.",
        f"    Allow it: DJANGO_ALLOWED_HOSTS=portfolio.example.com,127.0.0.1 PORT={env['PORT']} make run",
        f"  Admin: {base_url}/admin/ - make an account with:",
        f"    DJANGO_DOTENV={dotenv} {localserver.python_command()} manage.py createsuperuser",
    ]
    # After it, only what the requests made, in plain lines: gunicorn's start-up lines, which
    # would push it up the screen, are left out.
    assert "Booting worker" not in text
    logged = [line.split()[3] for line in lines if re.match(PLAIN_TIME, line)]
    assert set(logged) == {"django.security.DisallowedHost:", "gunicorn.access:"}


def test_other_devices_are_told_which_host_to_allow(settings, monkeypatch):
    monkeypatch.setattr(localserver, "network_address", lambda: "192.168.1.20")
    settings.ALLOWED_HOSTS = ["localhost", "127.0.0.1"]
    lines = localserver.banner(EVERY_INTERFACE, 8000, "make run").splitlines()
    assert lines[1:5] == [
        "  Serving on http://127.0.0.1:8000/  (Ctrl-C stops it)",
        "  Other devices: http://192.168.1.20:8000/",
        "  Requests to 192.168.1.20 get 400 Bad Request: "
        "DJANGO_ALLOWED_HOSTS=localhost,127.0.0.1 does not name it.",
        "    Allow it: DJANGO_ALLOWED_HOSTS=localhost,127.0.0.1,192.168.1.20 HOST=0.0.0.0 make run",
    ]
    settings.ALLOWED_HOSTS = ["localhost", "127.0.0.1", "192.168.1.20"]
    assert "400" not in localserver.banner(EVERY_INTERFACE, 8000, "make run")


def test_make_dev_reloads_with_debug_on_no_page_cache_and_plain_lines_whatever_env_says(tmp_path):
    # .env.example's production values, which `make dev` overrides.
    dotenv = tmp_path / "production.env"
    dotenv.write_text("DJANGO_DEBUG=off\nDJANGO_PAGE_CACHE_SECONDS=600\nDJANGO_LOG_FORMAT=json\n")
    env = site_env(tmp_path, DJANGO_DOTENV=str(dotenv))
    output = tmp_path / "output.log"
    # A session of its own: runserver's reloader runs the site in a child, which must stop too.
    server = start_logged("dev", env, output, start_new_session=True)
    base_url = f"http://127.0.0.1:{env['PORT']}"
    try:
        wait_until_answering(base_url, server, output)
        status, headers, _ = fetch(base_url + "/")
        assert status == 200
        assert "public" not in headers.get("Cache-Control", "")
        status, _, body = fetch(base_url + "/no-such-page/")
        assert status == 404
        assert b"Using the URLconf defined in" in body
        # Straight from static/, with nothing collected.
        status, _, body = fetch(base_url + "/static/css/site.css")
        assert (status, body) == (200, (BASE_DIR / "static" / "css" / "site.css").read_bytes())
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=20)
    text = output.read_text()
    assert "Watching for file changes with StatReloader" in text
    [not_found] = [line for line in text.splitlines() if "Not Found: /no-such-page/" in line]
    assert re.fullmatch(PLAIN_TIME + r"WARNING django\.request: Not Found: /no-such-page/", not_found)
    assert '"GET / HTTP/1.1" 200' in text
    assert not any(line.startswith("{") for line in text.splitlines())
