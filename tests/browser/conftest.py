"""Debian's Chromium, driven by Playwright, against the site as `make run` serves it.

The site runs for real (bin/serve: migrate, the seven seed studies, gunicorn,
whitenoise) on a free port with a scratch database, so what the browser sees is
what a visitor gets. Playwright brings its driver but no browser: it launches
/usr/bin/chromium (CHROMIUM overrides it).
"""

import contextlib
import os
import shutil
from pathlib import Path

import pytest

from tests.conftest import require_service
from tests.test_serving import manage, serve, site_env

BASE_DIR = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
AUTHOR = "author"
AUTHOR_PASSWORD = "a long passphrase for the browser tests"


@contextlib.contextmanager
def start_site(tmp_path):
    """A served site with the seed studies and a superuser who may log in to the admin."""
    env = site_env(tmp_path)
    with serve(env) as base_url:
        manage(
            {**env, "DJANGO_SUPERUSER_PASSWORD": AUTHOR_PASSWORD},
            *["createsuperuser", "--noinput", "--username", AUTHOR, "--email", "author@example.com"],
        )
        yield base_url


@pytest.fixture(scope="session")
def live_site(chromium, tmp_path_factory):
    """The site for tests that only read it; tests that write get a site of their own.

    After `chromium`, so that without a browser nothing is started for nothing.
    """
    with start_site(tmp_path_factory.mktemp("browser-site")) as base_url:
        yield base_url


@pytest.fixture(scope="session")
def photo_site(chromium, tmp_path_factory):
    """A site whose studies have covers, and photographs in the newest (`sample_images`)."""
    env = site_env(tmp_path_factory.mktemp("photo-site"))
    with serve(env) as base_url:
        manage(env, "sample_images", "--width", "2400", "--height", "1800")
        yield base_url


@pytest.fixture
def author_site(chromium, tmp_path):
    """A site of the test's own, for a test that changes what it serves.

    Ask for it before `new_page`, so the browser's pages close before the site stops.
    """
    with start_site(tmp_path) as base_url:
        yield base_url


@pytest.fixture(scope="session")
def chromium():
    require_service(
        shutil.which(CHROMIUM) is not None,
        f"Chromium is needed for the browser tests ({CHROMIUM}; apt-get install chromium)",
    )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        require_service(False, "Playwright is not installed (make install-dev)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def new_page(chromium):
    """new_page(base_url, width=1280, color_scheme="light", **context_options): a page in a fresh context.

    Every page records its JavaScript errors and failed requests in `page.problems`.
    """
    contexts = []

    def make(base_url, width=1280, height=900, color_scheme="light", **options):
        context = chromium.new_context(
            base_url=base_url,
            viewport={"width": width, "height": height},
            color_scheme=color_scheme,
            **options,
        )
        context.set_default_timeout(15_000)
        contexts.append(context)
        page = context.new_page()
        page.problems = []
        page.on("pageerror", lambda error: page.problems.append(f"JavaScript error: {error}"))
        page.on("console", lambda message: record_console_error(page, message))
        page.on(
            "response",
            lambda response: (
                response.status >= 500 and page.problems.append(f"{response.status} for {response.url}")
            ),
        )
        return page

    yield make
    for context in contexts:
        context.close()


def record_console_error(page, message):
    url = message.location.get("url", "")
    # The admin's pages name no icon, so Chromium asks for /favicon.ico; the site's own pages name theirs.
    if message.type == "error" and not url.endswith("/favicon.ico"):
        page.problems.append(f"console: {message.text} ({url})")


def log_in(page, next_path="/admin/"):
    """Log in to the admin through its form, as the author would."""
    page.goto(f"/admin/login/?next={next_path}")
    page.get_by_label("Username").fill(AUTHOR)
    page.get_by_label("Password").fill(AUTHOR_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"**{next_path}")
