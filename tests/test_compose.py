"""docker-compose.yml and the Dockerfile: the stack opens on http://localhost as it comes, runs in
production once .env says so, and builds from pinned images and hash-checked packages.

Docker cannot run here, so the web service's environment is worked out as compose would (the
image's ENV, then the service's `environment`, its ${NAME:-default}s filled from .env) and the
site is loaded with it in a fresh interpreter, on SQLite instead of the stack's PostgreSQL.
"""

import re
from pathlib import Path

import pytest
import yaml

from tests.test_settings import load_settings

BASE_DIR = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((BASE_DIR / "docker-compose.yml").read_text())
DOCKERFILE = (BASE_DIR / "Dockerfile").read_text()
WEB = COMPOSE["services"]["web"]
PROXY = COMPOSE["services"]["proxy"]

# A GET of the home page with the Host a browser on this machine sends, as the proxy passes it.
GET_HOME = (
    "import django; django.setup(); "
    "from django.core.management import call_command; call_command('migrate', verbosity=0); "
    "from django.test import Client; "
    "response = Client().get('/', HTTP_HOST={host!r}); "
    "print(response.status_code, response.get('Location', ''))"
)


def interpolate(value, dot_env):
    """Compose's ${NAME}, ${NAME:-default} and ${NAME:?error}, from .env only (a clean shell)."""

    def fill(match):
        name, separator, fallback = match.group(1), match.group(2), match.group(3)
        if dot_env.get(name):
            return dot_env[name]
        if separator == ":?":
            raise AssertionError(f"compose refuses to start without {name}: {fallback}")
        return fallback or ""

    return re.sub(r"\$\{(\w+)(?:(:-|:\?)([^}]*))?\}", fill, str(value))


def image_env():
    return dict(
        re.findall(r"^\s+(\w+)=(\S+)(?: \\)?$", DOCKERFILE.split("ENV PATH=", 1)[1].split("\n\n")[0], re.M)
    )


def web_environment(dot_env):
    """What the web container's process sees, SQLite standing in for the db service."""
    env = image_env()
    env.update(dot_env)  # env_file
    env.update({name: interpolate(value, dot_env) for name, value in WEB["environment"].items()})
    assert env.pop("DATABASE_URL").startswith("postgres://")
    env.pop("REDIS_URL")
    return env


def test_the_image_sets_production_and_listens_on_every_interface():
    assert image_env()["DJANGO_ENV"] == "production"
    assert image_env()["HOST"] == "0.0.0.0"  # noqa: S104


def test_without_a_dot_env_the_stack_opens_on_localhost(tmp_path):
    env = web_environment({})
    assert env["DJANGO_ENV"] == "local"
    assert WEB["env_file"] == [{"path": ".env", "required": False}]
    assert PROXY["ports"] == ["127.0.0.1:${WEB_PORT:-80}:8080"]
    result = load_settings(tmp_path, GET_HOME.format(host="localhost"), **env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["200"]


def test_a_dot_env_for_a_real_host_runs_it_in_production(tmp_path):
    dot_env = {
        "DJANGO_ENV": "production",
        "DJANGO_SECRET_KEY": "a-long-random-production-secret-for-this-test-only-0123456789",
        "DJANGO_ALLOWED_HOSTS": "portfolio.example.com",
        "POSTGRES_PASSWORD": "Secret123",
    }
    env = web_environment(dot_env)
    assert "Secret123@db:5432" in interpolate(WEB["environment"]["DATABASE_URL"], dot_env)
    over_http = load_settings(tmp_path, GET_HOME.format(host="portfolio.example.com"), **env)
    assert over_http.returncode == 0, over_http.stderr
    assert over_http.stdout.split() == ["301", "https://portfolio.example.com/"]
    other_host = load_settings(tmp_path, GET_HOME.format(host="localhost"), **env)
    assert other_host.stdout.split() == ["400"]


IMAGES = [("Dockerfile", each) for each in re.findall(r"^FROM (\S+)", DOCKERFILE, re.M)] + [
    (f"docker-compose.yml: {name}", service["image"])
    for name, service in COMPOSE["services"].items()
    if "image" in service
]


@pytest.mark.parametrize(("where", "image"), IMAGES)
def test_every_base_image_is_pinned_to_a_patch_release(where, image):
    # PostgreSQL numbers its patch releases MAJOR.MINOR (15.18); the others MAJOR.MINOR.PATCH.
    version = r"\d+\.\d+" if image.startswith("postgres:") else r"\d+\.\d+\.\d+"
    assert re.fullmatch(rf"[\w./-]+:{version}(-[\w.-]+)?", image), f"{where}: {image}"


def test_the_image_installs_exactly_the_locked_packages():
    assert "pip install --require-hashes -r /tmp/requirements.txt" in DOCKERFILE
    locked = (BASE_DIR / "requirements.txt").read_text()
    pins = re.findall(
        r"^([\w.-]+(?:\[[\w,]+\])?)==\S+ (?:;[^\\]*)?\\\n\s+--hash=sha256:[0-9a-f]{64}", locked, re.M
    )
    assert len(pins) == len(re.findall(r"^[\w.-]+==", locked, re.M)) > 10
