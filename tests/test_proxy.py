"""The site behind the reverse proxy of deploy/nginx.conf, as docker-compose.yml runs it.

nginx (Debian's package) is started from the same file, filled in only with the upstream and
listen addresses, in front of the site started through bin/serve. Slow clients are the proxy's
to wait for; public pages are kept by it as long as the site says; the staff, the admin and
share previews go past it.
"""

import contextlib
import gzip
import http.client
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import require_service
from tests.test_serving import free_port, serve, site_env

pytestmark = pytest.mark.served

BASE_DIR = Path(__file__).resolve().parent.parent
TEMPLATE = BASE_DIR / "deploy" / "nginx.conf"
# Debian installs it in /usr/sbin, which a user's PATH may not name.
NGINX = shutil.which("nginx", path=f"{os.environ.get('PATH', '')}{os.pathsep}/usr/sbin")
HALF_OPEN = 256
# What a TLS proxy in front, or a browser, sends.
HTTPS = {"X-Forwarded-Proto": "https"}


def nginx_config(upstream, listen):
    return TEMPLATE.read_text().replace("${UPSTREAM}", upstream).replace("${LISTEN}", listen)


@contextlib.contextmanager
def proxy(upstream, directory):
    """nginx in front of `upstream`, everything it writes under `directory`; yields its port."""
    port = free_port()
    conf = directory / "nginx.conf"
    conf.write_text(nginx_config(upstream, f"127.0.0.1:{port}"))
    directives = f"daemon off; pid {directory}/nginx.pid; error_log {directory}/error.log;"
    if os.geteuid() == 0:
        # Its workers would otherwise run as nobody, who cannot reach a private temporary directory.
        directives += " user root;"
    log = directory / "access.log"
    server = subprocess.Popen(
        [NGINX, "-p", f"{directory}/", "-c", str(conf), "-g", directives],
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    errors = directory / "error.log"
                    errors = errors.read_text() if errors.exists() else ""
                    raise RuntimeError(f"nginx did not start:\n{log.read_text()}{errors}") from None
                time.sleep(0.1)
        yield port
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture(scope="module")
def proxy_port(tmp_path_factory):
    require_service(NGINX, "nginx is not installed (Debian: apt-get install nginx)")
    env = site_env(tmp_path_factory.mktemp("site"))
    with (
        serve(env) as base_url,
        proxy(base_url.removeprefix("http://"), tmp_path_factory.mktemp("nginx")) as port,
    ):
        yield port


def get(port, path, headers=None, timeout=5):
    """(status, headers, body as sent) of a GET through the proxy, sending Host, HTTPS and `headers` only."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.putrequest("GET", path, skip_accept_encoding=True)
        for name, value in {**HTTPS, **(headers or {})}.items():
            connection.putheader(name, value)
        connection.endheaders()
        response = connection.getresponse()
        return response.status, response.headers, response.read()
    finally:
        connection.close()


def cache_status(port, path, headers=None):
    status, response_headers, _ = get(port, path, headers)
    assert status == 200, path
    return response_headers["X-Cache-Status"]


def test_health_check_answers_through_the_proxy_while_256_clients_each_send_half_a_request(proxy_port):
    with contextlib.ExitStack() as stack:
        for _ in range(HALF_OPEN):
            client = stack.enter_context(socket.create_connection(("127.0.0.1", proxy_port), timeout=5))
            client.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        started = time.perf_counter()
        status, _, body = get(proxy_port, "/healthz")
        took = time.perf_counter() - started
    # The bar is a second; a wall-clock time is reported, not asserted (a shared machine).
    print(f"/healthz through the proxy with {HALF_OPEN} half-sent requests open: {took * 1000:.1f} ms")
    assert (status, body) == (200, b"ok\n")


def test_an_anonymous_visitor_gets_the_second_request_from_the_proxy(proxy_port):
    path = "/case-studies/?tag=security"
    assert cache_status(proxy_port, path) == "MISS"
    status, headers, body = get(proxy_port, path)
    assert (status, headers["X-Cache-Status"]) == (200, "HIT")
    assert headers["Cache-Control"].startswith("public, max-age=")
    assert body.count(b'class="card"') == 2


def test_what_the_site_says_no_cache_may_keep_is_not_kept(proxy_port):
    # /healthz is sent with never-cache headers.
    assert {cache_status(proxy_port, "/healthz") for _ in range(3)} == {"MISS"}


@pytest.mark.parametrize("cookie", ["sessionid=abc", "csrftoken=abc", "theme=dark; sessionid=abc"])
def test_a_request_with_the_sites_cookies_goes_past_the_cache_and_is_not_kept(proxy_port, cookie):
    path = "/case-studies/"
    cache_status(proxy_port, path)
    assert cache_status(proxy_port, path) == "HIT"
    status, headers, _ = get(proxy_port, path, {"Cookie": cookie})
    assert (status, headers["X-Cache-Status"]) == (200, "BYPASS")
    # What was sent past the cache did not replace the public page.
    status, headers, _ = get(proxy_port, path)
    assert (headers["X-Cache-Status"], headers["Cache-Control"].split(",")[0]) == ("HIT", "public")


def test_the_admin_and_share_previews_are_never_cached(proxy_port):
    for path in ["/admin/login/", "/case-studies/preview/not-a-token/"]:
        for _ in range(2):
            _, headers, _ = get(proxy_port, path)
            assert headers["X-Cache-Status"] == "BYPASS", path


@pytest.mark.parametrize(
    ("accept_encoding", "gzipped"),
    [
        ("gzip, deflate, br, zstd", True),
        ("gzip", True),
        (None, False),
        ("identity", False),
        ("br", False),
        ("gzip;q=0, identity", False),
    ],
)
def test_each_client_gets_a_body_it_accepts_from_the_cache(proxy_port, accept_encoding, gzipped):
    path = "/case-studies/?tag=encryption"
    # A gzipped copy is kept first, whichever client comes next.
    get(proxy_port, path, {"Accept-Encoding": "gzip"})
    headers = {"Accept-Encoding": accept_encoding} if accept_encoding else {}
    get(proxy_port, path, headers)
    status, response_headers, body = get(proxy_port, path, headers)
    assert (status, response_headers["X-Cache-Status"]) == (200, "HIT")
    assert response_headers.get("Content-Encoding") == ("gzip" if gzipped else None)
    html = gzip.decompress(body) if gzipped else body
    assert html.lstrip().lower().startswith(b"<!doctype html>")
