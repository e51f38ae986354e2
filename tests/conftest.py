import contextlib
import importlib
import os

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
