import contextlib
import importlib
import os
import shutil

import pytest
from django.contrib.auth.models import Permission
from django.core.cache import cache
from django.urls import clear_url_caches

import portfolio.urls
import siteprofile.models
from tests.factories import CaseStudyFactory


@pytest.fixture(autouse=True)
def _fast_test_settings(settings, monkeypatch, tmp_path):
    # Templates resolve {% static %} without a collectstatic run; hashing is
    # covered by the serving tests, which run collectstatic for real.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # Each test sees its views' own work; tests/test_pagecache.py turns the page cache on.
    settings.PAGE_CACHE_SECONDS = 0
    settings.PAGE_CACHE_GENERATION_FILE = tmp_path / "cache-generation"
    # Uploaded images of one test are not another's.
    settings.MEDIA_ROOT = tmp_path / "media"
    # Every test starts cold: nothing cached by an earlier test (the site profile) leaks into it.
    cache.clear()
    # Once cached, the profile stays until a save drops it: on a slow machine its
    # one-minute expiry could otherwise fall inside a request whose queries a test counts.
    monkeypatch.setattr(siteprofile.models, "CACHE_SECONDS", None)


def require_service(available, reason):
    """Skip a test whose server is missing; on CI (CI=true) that is a failure."""
    if available:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: every service must be present)")
    pytest.skip(reason)


# A test that asks for one of these fixtures gets the marker of the same name, so that
# `make test-fast` can leave out what needs Java or PostgreSQL by marker, not by file.
SERVICE_FIXTURES = ("java", "postgres")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items):
    # tryfirst: the markers must be on before `-m` selects by them.
    for item in items:
        for name in SERVICE_FIXTURES:
            if name in getattr(item, "fixturenames", ()):
                item.add_marker(name)


@pytest.fixture
def java():
    """Java, which the W3C Nu HTML checker (tests/test_html_validity.check_with_nu) runs on."""
    path = shutil.which("java")
    require_service(path, "Java is needed for the W3C Nu HTML checker (Debian: default-jre-headless)")
    return path


@pytest.fixture
def postgres():
    """The URL of a PostgreSQL server (TEST_POSTGRES_URL) on which a test may create databases."""
    from tests.test_serving import POSTGRES_URL, postgres_available

    require_service(
        postgres_available(), f"PostgreSQL is not reachable at TEST_POSTGRES_URL ({POSTGRES_URL})"
    )
    return POSTGRES_URL


@contextlib.contextmanager
def admin_moved_to(settings, path):
    """The admin under another path while the block runs (its route is read when the URLconf loads)."""
    default = settings.ADMIN_PATH
    settings.ADMIN_PATH = path
    importlib.reload(portfolio.urls)
    clear_url_caches()
    try:
        yield
    finally:
        settings.ADMIN_PATH = default
        importlib.reload(portfolio.urls)
        clear_url_caches()


@pytest.fixture
def study(db):
    return CaseStudyFactory(tags=["Security", "Encryption"])


@pytest.fixture
def staff_client(client, django_user_model):
    user = django_user_model.objects.create_user("editor", password="a long passphrase", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="casestudies"))
    client.force_login(user)
    return client


@pytest.fixture
def superuser_client(client, django_user_model):
    user = django_user_model.objects.create_superuser("admin", "admin@example.com", "a long passphrase")
    client.force_login(user)
    return client
