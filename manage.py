#!/usr/bin/env python
import os
import sys


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portfolio.settings")
    # `.env`, when `make run` or `make dev` (or DJANGO_DOTENV=.env by hand) asks for it: a
    # command then works on the same database as the site.
    from portfolio import envfile

    envfile.load()
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
