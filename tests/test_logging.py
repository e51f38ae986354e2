"""Logs: one JSON object a line (or one plain line), a request id on each, and no secret in any of them."""

import contextlib
import io
import json
import logging
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission

from casestudies.previews import share_link
from portfolio.jsonlog import JsonFormatter, PlainFormatter, redact
from tests.factories import draft
from tests.test_serving import BASE_DIR, collect_static, fetch, site_env

SECRETS = {
    "session": "s3ss10nsecretvalue0000000000000",
    "csrf": "csrfsecretvalue00000000000000000",
    "authorization": "Bearer authsecretvalue",
    "token": "querytokensecret",
}


@dataclass
class Site:
    url: str
    stdout: Path
    stderr: Path

    def log_lines(self):
        """Every log line the site wrote, parsed (each must be a JSON object).

        Lines not starting with "{" are what bin/serve's management commands print
        before gunicorn starts (migrate's progress), not log lines.
        """
        lines = []
        for path in [self.stdout, self.stderr]:
            lines += [json.loads(line) for line in path.read_text().splitlines() if line.startswith("{")]
        return lines


@contextlib.contextmanager
def run_site(env):
    """Start the site through bin/serve as tests/test_serving.py does, keeping what it logs.

    The caller runs collectstatic first (tests.test_serving.collect_static).
    """
    directory = Path(env["DJANGO_VAR_DIR"]).parent
    directory.mkdir(parents=True, exist_ok=True)
    site = Site(f"http://127.0.0.1:{env['PORT']}", directory / "stdout.log", directory / "stderr.log")
    with site.stdout.open("w") as stdout, site.stderr.open("w") as stderr:
        server = subprocess.Popen(
            [str(BASE_DIR / "bin" / "serve")],
            cwd=BASE_DIR,
            env={**env, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"},
            stdout=stdout,
            stderr=stderr,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                fetch(site.url + "/healthz")
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"the site did not start:\n{site.stderr.read_text()}{site.stdout.read_text()}"
                    ) from None
                time.sleep(0.2)
        yield site
    finally:
        server.terminate()
        server.wait(timeout=30)


# The request id


def test_every_response_carries_a_fresh_request_id(client):
    first, second = client.get("/healthz")["X-Request-ID"], client.get("/healthz")["X-Request-ID"]
    assert len(first) == 32
    assert int(first, 16) >= 0
    assert first != second


@pytest.mark.parametrize("incoming", ["3f2b8c1e-5d6a-4e2f-9b1c-0a7d8e9f1234", "a1b2c3d4e5f6", "lb.req_42-x"])
def test_the_proxys_request_id_is_kept_when_it_looks_like_one(client, incoming):
    assert client.get("/healthz", HTTP_X_REQUEST_ID=incoming)["X-Request-ID"] == incoming


@pytest.mark.parametrize(
    "incoming", ["", "x" * 65, "a b", "id\r\nSet-Cookie: a=b", "<script>", "../etc", "é", "-leading-dash"]
)
def test_an_odd_request_id_is_replaced(client, incoming):
    assert client.get("/healthz", HTTP_X_REQUEST_ID=incoming)["X-Request-ID"] != incoming


def test_redirects_and_error_pages_carry_the_id_too(db, client):
    assert client.get("/case-studies/?tag=Security")["X-Request-ID"]
    assert client.get("/no-such-page/")["X-Request-ID"]


# Django's lines


@pytest.fixture
def site_log():
    """What the site's configured log handler writes, captured for one test."""
    [handler] = [h for h in logging.getLogger().handlers if isinstance(h.formatter, JsonFormatter)]
    output = io.StringIO()
    previous = handler.setStream(output)
    yield lambda: [json.loads(line) for line in output.getvalue().splitlines()]
    handler.setStream(previous)


def test_a_requests_log_lines_carry_its_id(db, client, site_log):
    response = client.get("/no-such-page/")
    [line] = [line for line in site_log() if line["logger"] == "django.request"]
    assert line["message"] == "Not Found: /no-such-page/"
    assert line["level"] == "WARNING"
    assert line["status_code"] == 404
    assert line["request_id"] == response["X-Request-ID"]
    assert line["time"].endswith("Z")


def test_lines_outside_a_request_have_no_id(db, client, site_log):
    client.get("/healthz")
    logging.getLogger("portfolio").warning("between requests")
    [line] = [line for line in site_log() if line["message"] == "between requests"]
    assert line["request_id"] is None


def test_an_exception_is_one_line_with_its_traceback(site_log):
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("portfolio").exception("it failed")
    [line] = site_log()
    assert line["message"] == "it failed"
    assert "Traceback" in line["exception"]
    assert "ValueError: boom" in line["exception"]


def test_share_preview_tokens_never_reach_a_log_line(db, client, site_log):
    link = share_link(draft(title="Secret Draft")).path
    token = link.rstrip("/").rsplit("/", 1)[1]
    assert redact(link) == "/case-studies/preview/[redacted]/"
    client.get(link.replace(token, token[:-3] + "xyz"))  # a tampered token: 404, logged
    client.get(link[:-1] + "x/")
    output = json.dumps(site_log())
    assert "Not Found: /case-studies/preview/[redacted]/" in output
    assert token[:20] not in output


def test_cookies_authorization_and_session_values_never_reach_a_log_line(
    db, client, site_log, django_user_model
):
    user = django_user_model.objects.create_user("editor", password="a long passphrase", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="casestudies"))
    client.force_login(user)
    session_key = client.cookies["sessionid"].value
    client.cookies["csrftoken"] = SECRETS["csrf"]
    for path in ["/no-such-page/", f"/case-studies/?token={SECRETS['token']}&q=x", "/admin/nope/"]:
        client.get(path, HTTP_AUTHORIZATION=SECRETS["authorization"])
    client.post("/admin/login/", {"username": "editor", "password": "a long passphrase"})
    output = json.dumps(site_log())
    assert output.count("request_id") >= 3
    for secret in [session_key, *SECRETS.values(), "authsecretvalue", "a long passphrase"]:
        assert secret not in output


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/case-studies/preview/abc:def/", "/case-studies/preview/[redacted]/"),
        ("GET /case-studies/preview/abc 404", "GET /case-studies/preview/[redacted] 404"),
        ("/x/?token=abc&q=vault", "/x/?token=[redacted]&q=vault"),
        ("/x/?q=1&password=hunter2", "/x/?q=1&password=[redacted]"),
        ("/x/?sessionid=1&csrfmiddlewaretoken=2", "/x/?sessionid=[redacted]&csrfmiddlewaretoken=[redacted]"),
        ("/case-studies/?tag=security&q=tokens", "/case-studies/?tag=security&q=tokens"),
    ],
)
def test_redaction(text, expected):
    assert redact(text) == expected


def test_a_huge_path_is_clipped_in_the_line(site_log):
    logging.getLogger("portfolio").warning("Not Found: %s", "/" + "a" * 10_000)
    [line] = site_log()
    assert len(line["message"]) < 2100
    assert line["message"].endswith("[truncated]")


# gunicorn's lines


@pytest.mark.served
def test_gunicorn_writes_json_access_lines_with_the_request_id_and_no_secret(tmp_path):
    env = site_env(tmp_path)
    collect_static(env)
    with run_site(env) as site:
        status, headers, _ = fetch(
            site.url + "/case-studies/?tag=security",
            {
                "X-Request-ID": "lb-request-0001",
                "Cookie": f"sessionid={SECRETS['session']}; csrftoken={SECRETS['csrf']}",
                "Authorization": SECRETS["authorization"],
                "User-Agent": "hostile/1.0",
            },
        )
        assert (status, headers["X-Request-ID"]) == (200, "lb-request-0001")
        _, headers, _ = fetch(
            site.url + f"/case-studies/preview/{SECRETS['token']}/?token={SECRETS['token']}"
        )
        preview_id = headers["X-Request-ID"]
    lines = site.log_lines()
    access = [line for line in lines if line["logger"] == "gunicorn.access"]
    [listing] = [line for line in access if line["request_id"] == "lb-request-0001"]
    assert listing["message"] == "GET /case-studies/?tag=security 200"
    assert (listing["method"], listing["path"], listing["status"]) == (
        "GET",
        "/case-studies/?tag=security",
        200,
    )
    assert listing["bytes"] > 1000
    assert listing["duration_ms"] >= 0
    assert listing["user_agent"] == "hostile/1.0"
    [preview] = [line for line in access if line["request_id"] == preview_id]
    assert preview["path"] == "/case-studies/preview/[redacted]/?token=[redacted]"
    [not_found] = [line for line in lines if line["logger"] == "django.request"]
    assert not_found["request_id"] == preview_id
    assert {"gunicorn.error", "gunicorn.access", "django.request"} <= {line["logger"] for line in lines}
    everything = site.stdout.read_text() + site.stderr.read_text()
    for secret in SECRETS.values():
        assert secret not in everything


# Plain lines (DJANGO_LOG_FORMAT=plain, the default with DEBUG)

PLAIN_TIME = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d"


def plain(level, message, *args, exc_info=None):
    record = logging.LogRecord("django.request", level, __file__, 1, message, args, exc_info)
    return PlainFormatter().format(record)


def test_a_plain_line_is_one_readable_line_redacted_like_json():
    line = plain(logging.WARNING, "Not Found: %s", "/case-studies/preview/abc:def/\nFAKE 500 line")
    assert re.fullmatch(
        PLAIN_TIME
        + r" WARNING django\.request: Not Found: /case-studies/preview/\[redacted\]/\\nFAKE 500 line",
        line,
    )


def test_a_plain_line_with_an_exception_has_its_traceback_below():
    try:
        raise ValueError("boom")
    except ValueError:
        line = plain(logging.ERROR, "it failed", exc_info=sys.exc_info())
    first, *traceback = line.splitlines()
    assert re.fullmatch(PLAIN_TIME + r" ERROR   django\.request: it failed", first)
    assert traceback[0] == "Traceback (most recent call last):"
    assert traceback[-1] == "ValueError: boom"


@pytest.mark.parametrize("debug", ["on", "off"])
def test_each_line_is_written_once(tmp_path, debug):
    code = "import logging; logging.getLogger('django.request').warning('written once')"
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "--no-imports", "-c", code],
        cwd=BASE_DIR,
        env=site_env(tmp_path, DJANGO_DEBUG=debug),
        capture_output=True,
        text=True,
        check=True,
    )
    [line] = [line for line in result.stderr.splitlines() if "written once" in line]
    if debug == "on":
        assert re.fullmatch(PLAIN_TIME + r" WARNING django\.request: written once", line)
    else:
        assert json.loads(line)["message"] == "written once"


def test_the_log_level_holds_for_djangos_own_loggers_too(tmp_path):
    code = "import logging; logging.getLogger('django.request').info('not wanted')"
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "--no-imports", "-c", code],
        cwd=BASE_DIR,
        env=site_env(tmp_path, DJANGO_LOG_LEVEL="WARNING"),
        capture_output=True,
        text=True,
        check=True,
    )
    assert "not wanted" not in result.stderr
