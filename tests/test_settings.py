"""Settings read the environment once; production refuses unsafe defaults."""

import os
import re
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


def run_python(tmp_path, *args, **env):
    """`python *args` in the project, in an environment holding only these settings of the site's."""
    clean = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "DATABASE_URL", "REDIS_URL"))
    }
    clean.update({"DJANGO_VAR_DIR": str(tmp_path / "var"), **env})
    return subprocess.run(
        [sys.executable, *args], cwd=BASE_DIR, env=clean, capture_output=True, text=True, check=False
    )


def load_settings(tmp_path, code=SHOW_SETTINGS, **env):
    """Run `code` in a fresh interpreter whose environment holds exactly these settings."""
    return run_python(tmp_path, "-c", code, DJANGO_SETTINGS_MODULE="portfolio.settings", **env)


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


SHOW_LOG_FORMAT = "from portfolio import settings as s; print(s.LOG_FORMAT)"
PRODUCTION = {
    "DJANGO_ENV": "production",
    "DJANGO_SECRET_KEY": "k" * 50,
    "DJANGO_ALLOWED_HOSTS": "example.com",
}


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "json"),
        (PRODUCTION, "json"),
        ({"DJANGO_DEBUG": "on"}, "plain"),
        ({"DJANGO_LOG_FORMAT": " Plain "}, "plain"),
        ({**PRODUCTION, "DJANGO_LOG_FORMAT": "plain"}, "plain"),
        ({"DJANGO_DEBUG": "on", "DJANGO_LOG_FORMAT": "json"}, "json"),
    ],
)
def test_logs_are_json_unless_debug_is_on_or_the_setting_says_plain(tmp_path, env, expected):
    result = load_settings(tmp_path, code=SHOW_LOG_FORMAT, **env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == expected


def test_an_unknown_log_format_stops_the_start_and_names_the_choices(tmp_path):
    result = load_settings(tmp_path, DJANGO_LOG_FORMAT="xml")
    assert result.returncode != 0
    assert "DJANGO_LOG_FORMAT must be json or plain (in any case), not 'xml'." in result.stderr


# .env: read when DJANGO_DOTENV names it (`make run` and `make dev` name `.env`)

SHOW_HOSTS_AND_ZONE = "from django.conf import settings as s; print(s.ALLOWED_HOSTS, s.TIME_ZONE, s.DEBUG)"


def manage_shell(tmp_path, code, **env):
    """`manage.py shell -c code`, as a developer runs it, in an environment holding only these settings."""
    return run_python(tmp_path, "manage.py", "shell", "--no-imports", "-c", code, **env)


def test_the_env_file_is_read_and_the_environment_wins_over_it(tmp_path):
    dotenv = tmp_path / "local.env"
    dotenv.write_text(
        "# as in .env.example\n"
        "\n"
        "DJANGO_ALLOWED_HOSTS=from-the-file.example\n"
        "DJANGO_TIME_ZONE=Europe/Paris\n"
        "DJANGO_DEBUG=on\n"
        "DJANGO_SECRET_KEY=\n"
    )
    result = manage_shell(
        tmp_path,
        SHOW_HOSTS_AND_ZONE,
        DJANGO_DOTENV=str(dotenv),
        DJANGO_TIME_ZONE="Asia/Tokyo",
        DJANGO_DEBUG="",
    )
    assert result.returncode == 0, result.stderr
    # Set in the environment, even empty, a variable keeps its value there.
    assert result.stdout.strip() == "['from-the-file.example'] Asia/Tokyo False"


def test_without_dotenv_no_file_is_read(tmp_path):
    result = manage_shell(tmp_path, SHOW_HOSTS_AND_ZONE)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "['localhost', '127.0.0.1'] UTC False"


@pytest.mark.parametrize(
    "line",
    ["DJANGO_SECRET_KEY s3cret-value", "DJANGO_SECRET_KEY='s3cret-value", "=s3cret-value"],
)
def test_a_malformed_env_file_is_a_clear_error_that_quotes_no_value(tmp_path, line):
    dotenv = tmp_path / "local.env"
    dotenv.write_text(f"DJANGO_TIME_ZONE=UTC\n{line}\n")
    result = manage_shell(tmp_path, SHOW_HOSTS_AND_ZONE, DJANGO_DOTENV=str(dotenv))
    assert result.returncode != 0
    assert f"{dotenv}, line 2: not NAME=value" in result.stderr
    assert "s3cret" not in result.stderr


def test_the_env_file_is_read_as_compose_reads_it(tmp_path):
    dotenv = tmp_path / "local.env"
    dotenv.write_text(
        'export DJANGO_ALLOWED_HOSTS="a.example,b.example"\n'
        "DJANGO_TIME_ZONE = 'Europe/Paris'  # a comment\n"
        "DJANGO_SECRET_KEY=abc$HOME${HOME}def\n"
    )
    result = manage_shell(
        tmp_path,
        SHOW_HOSTS_AND_ZONE + "; from django.conf import settings; print(settings.SECRET_KEY)",
        DJANGO_DOTENV=str(dotenv),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "['a.example',",
        "'b.example']",
        "Europe/Paris",
        "False",
        "abc$HOME${HOME}def",
    ]


def test_a_missing_env_file_is_named(tmp_path):
    result = manage_shell(tmp_path, SHOW_HOSTS_AND_ZONE, DJANGO_DOTENV=str(tmp_path / "nope.env"))
    assert result.returncode != 0
    assert f"DJANGO_DOTENV names {tmp_path / 'nope.env'}, which does not exist." in result.stderr


SHOW_MANY = (
    "from django.conf import settings as s; "
    "print(s.DEBUG, s.ALLOWED_HOSTS, s.TIME_ZONE, s.PAGE_CACHE_SECONDS, s.LOGGING['root'], "
    "s.DATABASES['default']['NAME'])"
)


def test_the_example_env_file_copied_as_it_is_changes_nothing(tmp_path):
    as_it_comes = manage_shell(tmp_path, SHOW_MANY)
    with_the_example = manage_shell(tmp_path, SHOW_MANY, DJANGO_DOTENV=str(BASE_DIR / ".env.example"))
    assert with_the_example.returncode == 0, with_the_example.stderr
    assert with_the_example.stdout == as_it_comes.stdout


def test_the_example_env_file_names_every_variable_the_readme_documents():
    readme = (BASE_DIR / "README.md").read_text()
    table = readme.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"^\| `([A-Z0-9_]+)`", table, re.M)) | set(
        re.findall(r"^\| `[A-Z0-9_]+`, `([A-Z0-9_]+)`", table, re.M)
    )
    example = (BASE_DIR / ".env.example").read_text()
    assert len(documented) > 20
    assert [name for name in sorted(documented) if not re.search(rf"\b{name}=", example)] == []
