"""Configuration that must not stop the site or leak secrets: the log level, the ignore files."""

import pytest

from tests.test_settings import BASE_DIR, load_settings

ROOT_LEVEL = "import django, logging; django.setup(); print(logging.getLevelName(logging.getLogger().level))"


@pytest.mark.parametrize(
    ("value", "level"),
    [("info", "INFO"), ("Warning", "WARNING"), (" debug ", "DEBUG"), ("ERROR", "ERROR"), ("", "INFO")],
)
def test_the_log_level_is_read_in_any_case(tmp_path, value, level):
    result = load_settings(tmp_path, ROOT_LEVEL, DJANGO_LOG_LEVEL=value)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == level


def test_the_log_level_defaults_to_info(tmp_path):
    result = load_settings(tmp_path, ROOT_LEVEL)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "INFO"


def test_an_unknown_log_level_is_a_clear_error_naming_the_valid_ones(tmp_path):
    result = load_settings(tmp_path, ROOT_LEVEL, DJANGO_LOG_LEVEL="verbose")
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert (
        "DJANGO_LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL (in any case), not 'verbose'."
        in result.stderr
    )
    assert "Unable to configure root logger" not in result.stderr


def patterns(name):
    lines = (BASE_DIR / name).read_text().splitlines()
    return {line.strip().strip("/") for line in lines if line.strip() and not line.startswith("#")}


@pytest.mark.parametrize("name", [".gitignore", ".dockerignore"])
def test_secrets_and_node_modules_are_kept_out_of_git_and_the_image(name):
    assert {".env", "node_modules"} <= patterns(name)


def test_the_example_environment_file_stays_in_git():
    assert "!.env.example" in patterns(".gitignore")
