"""Settings from a file of NAME=value lines, such as `.env`, for `make run` and `make dev`.

Read only when DJANGO_DOTENV names the file; the Makefile names `.env` when there is one.
Nothing reads a `.env` unasked: the container gets its environment from docker compose, and
the tests, `bin/bench` and `bin/audit` start the site in environments of their own, which a
developer's database or host names must not leak into.

The format is docker compose's and python-dotenv's: NAME=value lines, `export` allowed, quotes
around a value taken off, `#` comments; `${...}` is not expanded, so a secret holding `$` is
read as written. Variables already in the environment win over the file.
"""

import io
import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured
from dotenv.parser import parse_stream

BASE_DIR = Path(__file__).resolve().parent.parent
# The names this process took from the file, and the file: the banner says where a value came from.
taken = {}


def read(path):
    """The file's variables, in order; ImproperlyConfigured naming the line if one is malformed.

    Messages never quote a line: the file holds secrets.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ImproperlyConfigured(f"DJANGO_DOTENV names {path}, which does not exist.") from None
    except (OSError, UnicodeError) as error:
        raise ImproperlyConfigured(f"DJANGO_DOTENV names {path}, which cannot be read: {error}") from None
    variables = {}
    for binding in parse_stream(io.StringIO(text)):
        if binding.error:
            raise ImproperlyConfigured(
                f"{path}, line {binding.original.line}: not NAME=value (a variable's name, then '=', "
                "then the value)."
            )
        # A bare NAME, with no "=", sets nothing (in compose it passes the shell's value on).
        if binding.key and binding.value is not None:
            variables[binding.key] = binding.value
    return variables


def load():
    """Put the variables of the file DJANGO_DOTENV names into os.environ, under those already there."""
    name = os.environ.get("DJANGO_DOTENV", "").strip()
    if not name:
        return
    path = BASE_DIR / name
    for variable, value in read(path).items():
        if variable not in os.environ:
            os.environ[variable] = value
            taken[variable] = name
