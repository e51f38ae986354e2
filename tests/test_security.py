"""Strict by default: security headers on every response, production settings, log-in limits, sessions."""

import datetime
import secrets
import subprocess
import sys
import time

import pytest
from bs4 import BeautifulSoup
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from casestudies.previews import share_link
from casestudies.socialcards import card_url
from portfolio.security import client_ip
from tests.factories import CaseStudyFactory, draft
from tests.test_serving import collect_static, fetch, manage, site_env
from tests.test_settings import BASE_DIR, load_settings, run_python

pytestmark = pytest.mark.django_db

PASSWORD = "a long passphrase"
PRODUCTION = {
    "DJANGO_ENV": "production",
    "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
    "DJANGO_ALLOWED_HOSTS": "portfolio.example.com,127.0.0.1",
}


def csp(response):
    """The Content-Security-Policy header as {directive: [sources]}."""
    policy = {}
    for part in response["Content-Security-Policy"].split(";"):
        name, *sources = part.split()
        assert name not in policy, f"{name} appears twice"
        policy[name] = sources
    return policy


def assert_strict_headers(response):
    policy = csp(response)
    sources = [source for values in policy.values() for source in values]
    assert "'unsafe-inline'" not in sources
    assert "'unsafe-eval'" not in sources
    assert not any(source.startswith("'nonce-") for source in sources)
    assert policy["default-src"] == ["'none'"]
    assert policy["script-src"] == ["'self'"]
    assert policy["style-src"] == ["'self'"]
    assert policy["connect-src"] == ["'self'"]
    assert policy["img-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["base-uri"] == ["'none'"]
    assert policy["form-action"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] in {"same-origin", "no-referrer"}
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    assert "camera=()" in response["Permissions-Policy"]
    assert "geolocation=()" in response["Permissions-Policy"]
    assert "microphone=()" in response["Permissions-Policy"]
    return policy


# Headers on every response


@pytest.fixture
def public_urls(db):
    study = CaseStudyFactory(title="Vault", slug="vault", tags=["Security"])
    return {
        "home": "/",
        "list": "/case-studies/",
        "list filtered": "/case-studies/?tag=security",
        "study": study.get_absolute_url(),
        "tags": "/tags/",
        "about": "/about/",
        "share preview": share_link(draft(title="Draft")).path,
        "feed": "/case-studies/feed/",
        "sitemap": "/sitemap.xml",
        "robots": "/robots.txt",
        "not found": "/no-such-page/",
        "health": "/healthz",
    }


@pytest.mark.parametrize(
    "page",
    [
        "home",
        "list",
        "list filtered",
        "study",
        "tags",
        "about",
        "share preview",
        "feed",
        "sitemap",
        "robots",
        "not found",
        "health",
    ],
)
def test_every_public_response_carries_the_strict_headers(client, public_urls, page):
    response = client.get(public_urls[page])
    assert response.status_code in {200, 404}
    policy = assert_strict_headers(response)
    assert "upgrade-insecure-requests" not in policy  # a laptop serves plain HTTP
    assert response["X-Frame-Options"] == "DENY"
    assert response["Cross-Origin-Resource-Policy"] == "same-origin"


def test_public_pages_run_no_inline_javascript(client, public_urls):
    """Their only <script> is JSON-LD, a data block: what lets script-src be 'self' with no nonce."""
    for page in ["home", "list", "study", "tags", "about", "share preview", "not found"]:
        soup = BeautifulSoup(client.get(public_urls[page]).content, "html.parser")
        for script in soup.find_all("script"):
            assert script.get("type") == "application/ld+json", page
            assert not script.get("src"), page
        assert not soup.find_all("style"), page
        for tag in soup.find_all(True):
            inline = [name for name in tag.attrs if name == "style" or name.startswith("on")]
            assert not inline, f"{page}: <{tag.name} {inline}>"


def test_a_page_is_the_same_for_every_visitor_so_a_page_cache_can_replay_it(client, public_urls):
    first, second = client.get(public_urls["study"]), client.get(public_urls["study"])
    assert first["Content-Security-Policy"] == second["Content-Security-Policy"]
    # One order in every process, default-src first: headers that read and diff well.
    directives = first["Content-Security-Policy"].split("; ")
    assert directives == ["default-src 'none'", *sorted(directives[1:])]
    assert first.content == second.content


def test_the_share_card_image_may_be_shown_by_other_sites(client, db):
    study = CaseStudyFactory(title="Vault", slug="vault")
    response = client.get(card_url(study))
    assert response.status_code == 200
    assert_strict_headers(response)
    assert response["Cross-Origin-Resource-Policy"] == "cross-origin"


@pytest.mark.parametrize(
    ("path", "content_type"),
    [("/static/css/site.css", "text/css"), ("/static/favicon.svg", "image/svg+xml")],
)
def test_static_files_carry_the_headers_too(client, settings, path, content_type):
    # whitenoise answers ahead of most middleware; ours run before it. Finders: no collectstatic needed.
    settings.WHITENOISE_USE_FINDERS = True
    response = client.get(path)
    assert response.status_code == 200
    assert response["Content-Type"].startswith(content_type)
    assert_strict_headers(response)


def test_the_exact_public_policy(client):
    """The whole header, so a directive added or relaxed anywhere shows up here."""
    assert client.get("/")["Content-Security-Policy"] == (
        "default-src 'none'; base-uri 'none'; connect-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; img-src 'self'; object-src 'none'; script-src 'self'; style-src 'self'"
    )


def test_the_admin_lives_under_the_public_policy(client):
    # connect-src 'self' covers its fetch(): the live preview and autocomplete.
    response = client.get(reverse("admin:login"))
    assert_strict_headers(response)
    assert response["Content-Security-Policy"] == client.get("/")["Content-Security-Policy"]
    assert response["X-Frame-Options"] == "DENY"


# Production settings, each in a fresh interpreter

SHOW_SECURITY = (
    "import django; django.setup(); from django.conf import settings as s; "
    "print(repr(dict(secure=(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE), "
    "httponly=(s.SESSION_COOKIE_HTTPONLY, s.CSRF_COOKIE_HTTPONLY), "
    "samesite=(s.SESSION_COOKIE_SAMESITE, s.CSRF_COOKIE_SAMESITE), "
    "hsts=(s.SECURE_HSTS_SECONDS, s.SECURE_HSTS_INCLUDE_SUBDOMAINS, s.SECURE_HSTS_PRELOAD), "
    "proxy=s.SECURE_PROXY_SSL_HEADER, redirect=s.SECURE_SSL_REDIRECT, "
    "trusted=s.CSRF_TRUSTED_ORIGINS, upgrade=s.CONTENT_SECURITY_POLICY['DIRECTIVES']"
    "['upgrade-insecure-requests'])))"
)


def security_settings(tmp_path, **env):
    result = load_settings(tmp_path, code=SHOW_SECURITY, **env)
    assert result.returncode == 0, result.stderr
    return eval(result.stdout.strip().splitlines()[-1])  # noqa: S307 - our own repr of plain values


def test_production_settings_for_a_site_behind_a_tls_proxy(tmp_path):
    shown = security_settings(
        tmp_path,
        **PRODUCTION,
        DJANGO_CSRF_TRUSTED_ORIGINS="https://portfolio.example.com, https://www.portfolio.example.com",
    )
    assert shown["secure"] == (True, True)
    assert shown["httponly"] == (True, True)
    assert shown["samesite"] == ("Strict", "Strict")
    assert shown["hsts"] == (365 * 24 * 60 * 60, True, True)
    # The proxy terminates TLS and says so; it must overwrite whatever a client sent.
    assert shown["proxy"] == ("HTTP_X_FORWARDED_PROTO", "https")
    assert shown["redirect"] is True
    assert shown["trusted"] == ["https://portfolio.example.com", "https://www.portfolio.example.com"]
    assert shown["upgrade"] is True


def test_a_laptop_serves_plain_http_without_secure_only_cookies(tmp_path):
    shown = security_settings(tmp_path)
    assert shown["secure"] == (False, False)
    assert shown["hsts"][0] == 0
    assert shown["proxy"] is None
    assert shown["upgrade"] is False


def test_a_key_generated_into_var_does_not_count_in_production(tmp_path):
    assert load_settings(tmp_path).returncode == 0
    assert (tmp_path / "var" / "secret_key").exists()
    result = load_settings(tmp_path, DJANGO_ENV="production", DJANGO_ALLOWED_HOSTS="example.com")
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY is not set" in result.stderr


def check_deploy(tmp_path, **env):
    return run_python(tmp_path, "manage.py", "check", "--deploy", "--fail-level", "WARNING", **env)


def test_check_deploy_finds_nothing_to_warn_about_in_production(tmp_path):
    result = check_deploy(tmp_path, **PRODUCTION)
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_turning_the_https_redirect_off_is_reported_by_check_deploy(tmp_path):
    # For a proxy that redirects to HTTPS itself; check --deploy still says so, on purpose.
    result = check_deploy(tmp_path, **PRODUCTION, DJANGO_SECURE_SSL_REDIRECT="0")
    assert result.returncode != 0
    assert "security.W008" in result.stderr


@pytest.mark.parametrize(
    ("value", "admin"), [("backstage", "/backstage/"), ("/ops/", "/ops/"), ("", "/admin/")]
)
def test_the_admin_path_comes_from_the_environment(tmp_path, value, admin):
    code = "import django; django.setup(); from django.urls import reverse; print(reverse('admin:index'))"
    result = load_settings(tmp_path, code=code, DJANGO_ADMIN_PATH=value)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == admin


def test_a_mistyped_proxy_count_is_a_clear_error(tmp_path):
    result = load_settings(tmp_path, DJANGO_TRUSTED_PROXY_COUNT="one")
    assert result.returncode != 0
    assert "DJANGO_TRUSTED_PROXY_COUNT must be a whole number" in result.stderr


# The production site as gunicorn serves it, behind a TLS-terminating proxy


@pytest.fixture(scope="module")
def production_site(tmp_path_factory):
    """gunicorn in production mode over an empty database; the proxy's part is played by the tests."""
    env = site_env(tmp_path_factory.mktemp("production"), **PRODUCTION)
    manage(env, "migrate", "--noinput")
    collect_static(env)
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py"],
        cwd=BASE_DIR,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base_url = f"http://127.0.0.1:{env['PORT']}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                fetch(base_url + "/healthz")
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("gunicorn did not start")
                time.sleep(0.2)
        yield base_url
    finally:
        server.terminate()
        server.wait(timeout=30)


HTTPS = {"X-Forwarded-Proto": "https"}


@pytest.mark.served
def test_plain_http_is_redirected_to_https_but_health_checks_are_not(production_site):
    status, headers, _ = fetch(production_site + "/case-studies/")
    assert status == 301
    assert headers["Location"].startswith("https://127.0.0.1:")
    assert fetch(production_site + "/healthz")[0] == 200


@pytest.mark.served
def test_over_https_pages_and_static_files_carry_hsts_and_the_full_policy(production_site):
    _, _, body = fetch(production_site + "/", HTTPS)
    css_path = body.decode().split('rel="stylesheet" href="', 1)[1].split('"', 1)[0]
    for path in ["/", "/case-studies/", css_path]:
        status, headers, _ = fetch(production_site + path, HTTPS)
        assert status == 200, path
        assert headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
        assert "upgrade-insecure-requests" in headers["Content-Security-Policy"]
        assert "'unsafe-inline'" not in headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Cross-Origin-Opener-Policy"] == "same-origin"
        assert headers["Cross-Origin-Resource-Policy"] == "same-origin"
        assert headers["Permissions-Policy"]


@pytest.mark.served
def test_over_https_the_admin_cookies_are_secure_httponly_and_strict(production_site):
    status, headers, _ = fetch(production_site + "/admin/login/", HTTPS)
    assert status == 200
    cookie = next(value for value in headers.get_all("Set-Cookie") if value.startswith("csrftoken="))
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
    assert {"secure", "httponly"} <= attributes
    assert "SameSite=Strict" in cookie


# Log-in limits (django-axes)


@pytest.fixture
def editor(django_user_model):
    return django_user_model.objects.create_user("editor", password=PASSWORD, is_staff=True)


def log_in(client, username, password, ip="203.0.113.7"):
    return client.post(
        reverse("admin:login"),
        {"username": username, "password": password, "next": reverse("admin:index")},
        REMOTE_ADDR=ip,
    )


def fail_five_times(client, username="editor", ip="203.0.113.7"):
    responses = [log_in(client, username, "wrong password", ip) for _ in range(5)]
    assert [response.status_code for response in responses[:4]] == [200] * 4
    return responses[-1]


def test_five_failed_log_ins_lock_the_user_out_with_a_clear_message(client, editor, time_machine):
    time_machine.move_to(datetime.datetime(2026, 3, 2, 9, 0, tzinfo=datetime.UTC), tick=False)
    response = fail_five_times(client)
    assert response.status_code == 429
    assert response["Retry-After"] == "900"
    text = " ".join(BeautifulSoup(response.content, "html.parser").get_text().split())
    assert "Log-in is locked after 5 failed attempts" in text
    assert "Try again after 09:15 UTC, in 15 minutes." in text
    # The lock-out page is an admin page: the admin's policy, still strict.
    assert_strict_headers(response)


def test_the_right_password_is_refused_during_a_lock_out(client, editor):
    fail_five_times(client)
    response = log_in(client, "editor", PASSWORD)
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session


def test_the_same_user_from_another_address_is_not_locked_out(client, editor):
    # Failures for a name count with the address they came from: anyone who knows the owner's
    # user name cannot lock the owner out everywhere.
    fail_five_times(client)
    assert log_in(client, "editor", PASSWORD, ip="198.51.100.20").status_code == 302


def test_another_user_from_the_same_address_is_locked_out_too(client, editor, django_user_model):
    django_user_model.objects.create_user("author", password=PASSWORD, is_staff=True)
    fail_five_times(client)
    assert log_in(client, "author", PASSWORD).status_code == 429


def test_another_user_from_another_address_is_unaffected(client, editor, django_user_model):
    django_user_model.objects.create_user("author", password=PASSWORD, is_staff=True)
    fail_five_times(client)
    response = log_in(client, "author", PASSWORD, ip="198.51.100.20")
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:index")


def test_the_lock_out_ends_after_the_cool_off(client, editor, time_machine):
    time_machine.move_to(timezone.now(), tick=False)
    fail_five_times(client)
    time_machine.shift(datetime.timedelta(minutes=14))
    assert log_in(client, "editor", PASSWORD).status_code == 429
    # That attempt started the wait again.
    time_machine.shift(datetime.timedelta(minutes=15, seconds=1))
    response = log_in(client, "editor", PASSWORD)
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(editor.pk)


def test_four_failures_then_the_right_password_logs_in(client, editor):
    for _ in range(4):
        log_in(client, "editor", "wrong password")
    assert log_in(client, "editor", PASSWORD).status_code == 302


def test_a_forwarded_address_is_ignored_unless_a_proxy_is_trusted(client, editor, settings):
    assert settings.TRUSTED_PROXY_COUNT == 0
    for number in range(5):
        response = client.post(
            reverse("admin:login"),
            {"username": "editor", "password": "wrong password"},
            REMOTE_ADDR="10.0.0.1",
            HTTP_X_FORWARDED_FOR=f"192.0.2.{number}",
        )
    # Five "different" clients by the header, one by the connection: locked.
    assert response.status_code == 429


@pytest.mark.parametrize(
    ("count", "forwarded", "expected"),
    [
        (0, "192.0.2.9", "10.0.0.1"),
        (1, "192.0.2.9", "192.0.2.9"),
        (1, "6.6.6.6, 192.0.2.9", "192.0.2.9"),
        (2, "6.6.6.6, 192.0.2.9, 10.0.0.2", "192.0.2.9"),
        (2, "", "10.0.0.1"),
    ],
)
def test_client_ip_reads_x_forwarded_for_only_as_far_as_trusted(settings, count, forwarded, expected):
    settings.TRUSTED_PROXY_COUNT = count
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR=forwarded)
    assert client_ip(request) == expected


# Staff sessions


def test_a_staff_session_lasts_a_working_day_and_ends_with_the_browser(client, editor, time_machine):
    time_machine.move_to(timezone.now(), tick=False)
    response = log_in(client, "editor", PASSWORD)
    cookie = response.cookies["sessionid"]
    assert cookie["httponly"]
    assert cookie["samesite"] == "Strict"
    assert not cookie["max-age"]  # a browser-session cookie
    assert client.get(reverse("admin:index")).status_code == 200
    time_machine.shift(datetime.timedelta(hours=7, minutes=59))
    assert client.get(reverse("admin:index")).status_code == 200
    time_machine.shift(datetime.timedelta(minutes=2))
    response = client.get(reverse("admin:index"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))
