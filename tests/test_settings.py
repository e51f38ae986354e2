"""Settings read the environment once; production refuses unsafe defaults."""

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.conftest import require_service

BASE_DIR = Path(__file__).resolve().parent.parent
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
SHOW_SETTINGS = (
    "from portfolio import settings as s; "
    "print(s.DEBUG, s.ALLOWED_HOSTS, s.DATABASES['default']['ENGINE'], s.SECRET_KEY)"
)


def load_settings(tmp_path, code=SHOW_SETTINGS, **env):
    """Run `code` in a fresh interpreter whose environment holds exactly these settings."""
    clean = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "DATABASE_URL", "REDIS_URL"))
    }
    clean.update(
        {"DJANGO_SETTINGS_MODULE": "portfolio.settings", "DJANGO_VAR_DIR": str(tmp_path / "var"), **env}
    )
    return subprocess.run(
        [sys.executable, "-c", code], cwd=BASE_DIR, env=clean, capture_output=True, text=True, check=False
    )


def test_laptop_defaults_are_safe(tmp_path):
    result = load_settings(tmp_path)
    assert result.returncode == 0, result.stderr
    debug, _, _ = result.stdout.partition(" ")
    assert debug == "False"
    assert "['localhost', '127.0.0.1']" in result.stdout
    assert "sqlite3" in result.stdout


def test_secret_key_is_generated_once_into_var_and_kept(tmp_path):
    first = load_settings(tmp_path).stdout.split()[-1]
    second = load_settings(tmp_path).stdout.split()[-1]
    key_file = tmp_path / "var" / "secret_key"
    assert first == second == key_file.read_text()
    assert len(first) >= 50
    assert key_file.stat().st_mode & 0o077 == 0


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DJANGO_ALLOWED_HOSTS": "example.com"}, "DJANGO_SECRET_KEY is not set"),
        ({"DJANGO_SECRET_KEY": "x" * 50}, "DJANGO_ALLOWED_HOSTS is not set"),
        (
            {"DJANGO_SECRET_KEY": "x" * 50, "DJANGO_ALLOWED_HOSTS": "example.com", "DJANGO_DEBUG": "1"},
            "DEBUG",
        ),
    ],
)
def test_production_refuses_to_start_without_what_it_needs(tmp_path, env, message):
    result = load_settings(tmp_path, DJANGO_ENV="production", **env)
    assert result.returncode != 0
    assert message in result.stderr
    assert not (tmp_path / "var" / "secret_key").exists()


def test_production_starts_with_a_key_and_hosts(tmp_path):
    result = load_settings(
        tmp_path,
        DJANGO_ENV="production",
        DJANGO_SECRET_KEY="k" * 50,
        DJANGO_ALLOWED_HOSTS="example.com,www.example.com",
    )
    assert result.returncode == 0, result.stderr
    assert "['example.com', 'www.example.com']" in result.stdout


def test_database_url_selects_postgresql(tmp_path):
    result = load_settings(tmp_path, DATABASE_URL="postgres://user:pw@db.example:5432/portfolio")
    assert "django.db.backends.postgresql" in result.stdout


@pytest.mark.parametrize(
    ("env", "message"),
    [({"DJANGO_DEBUG": "maybe"}, "true or false"), ({"DJANGO_ENV": "staging"}, "DJANGO_ENV")],
)
def test_a_mistyped_setting_is_a_clear_error(tmp_path, env, message):
    result = load_settings(tmp_path, **env)
    assert result.returncode != 0
    assert message in result.stderr


def redis_available(url):
    try:
        import redis

        return redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except Exception:
        return False


def test_redis_url_gives_every_process_one_shared_cache(tmp_path):
    require_service(redis_available(REDIS_URL), f"Redis is not reachable at TEST_REDIS_URL ({REDIS_URL})")
    token = uuid.uuid4().hex
    setup = "import django; django.setup(); from django.core.cache import cache; "
    writer = load_settings(
        tmp_path, code=setup + f"cache.set('shared-{token}', 'yes', 30)", REDIS_URL=REDIS_URL
    )
    assert writer.returncode == 0, writer.stderr
    reader = load_settings(tmp_path, code=setup + f"print(cache.get('shared-{token}'))", REDIS_URL=REDIS_URL)
    assert reader.stdout.strip() == "yes", reader.stderr


def test_no_migration_is_missing(db):
    from io import StringIO

    from django.core.management import call_command

    call_command("makemigrations", "--check", "--dry-run", stdout=StringIO())
