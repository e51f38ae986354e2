"""How gunicorn serves the site, locally (`make run`) and in the container."""

import os
import sys

import gunicorn.http.message

from portfolio import envfile, localserver

# Before anything here reads the environment: `.env` may set WEB_CONCURRENCY, HOST or PORT.
envfile.load()
HOST, PORT = localserver.address()
bind = localserver.host_and_port(HOST, PORT)
_workers = os.environ.get("WEB_CONCURRENCY", "").strip() or "2"
if not (_workers.isascii() and _workers.isdigit() and int(_workers) >= 1):
    raise SystemExit(f"WEB_CONCURRENCY must be a whole number of workers, 1 or more, not {_workers!r}.")
workers = int(_workers)
# Threads, not one request at a time per worker: a client that sends half a request and waits
# holds one thread, and the worker's others go on serving. Enough of them that 16 such clients
# cannot fill a worker; each holds at most one database connection while it serves. In
# production a buffering proxy (deploy/) takes slow clients off gunicorn altogether.
worker_class = "gthread"
threads = 32
wsgi_app = "portfolio.wsgi:application"

# Loaded once in the master, then forked: workers share memory pages.
preload_app = True
timeout = 30
graceful_timeout = 30
keepalive = 5
# Recycle workers now and then, staggered, so no leak can grow without bound.
max_requests = 2000
max_requests_jitter = 200

# A search URL carrying a 10 KB query (its words percent-encoded, so up to three
# times that) reaches the site, which cuts the query and answers a normal page.
# gunicorn answers a bare 414 above `limit_request_line` and caps that setting at
# 8,190 bytes; 0 would lift the limit altogether and let one request line grow a
# worker without bound, so the cap is raised to a bound of our own instead.
REQUEST_LINE_LIMIT = 32 * 1024
gunicorn.http.message.MAX_REQUEST_LINE = REQUEST_LINE_LIMIT
limit_request_line = REQUEST_LINE_LIMIT

# No runtime control socket: nothing outside the process needs one, and in a
# read-only container it would have nowhere to live.
control_socket_disable = True

# Worker heartbeats in memory, not on a container's overlay disk, where a slow
# write can make a busy worker look dead. gunicorn makes each file with a
# unique name and unlinks it at once, so a shared directory is safe.
SHARED_MEMORY = "/dev/shm"  # noqa: S108
if os.path.isdir(SHARED_MEMORY):
    worker_tmp_dir = SHARED_MEMORY

# JSON lines, the shape of Django's (portfolio/jsonlog.py): access lines on
# stdout with the response's X-Request-ID, gunicorn's own on stderr. Paths are
# logged with share-preview tokens and secret-looking parameters redacted;
# headers, cookies and bodies never.
logger_class = "portfolio.jsonlog.GunicornLogger"
accesslog = "-"
errorlog = "-"

# `make run` (SERVE_BANNER="make run") prints where the site is once gunicorn listens, below
# the migrations' output; gunicorn's own start-up lines, which the banner makes redundant, are
# left out so that it stays the last thing on the screen until the first request. The
# container sets no banner and logs everything.
BANNER_COMMAND = os.environ.get("SERVE_BANNER", "").strip()
if BANNER_COMMAND:
    loglevel = "warning"


def when_ready(server):
    if BANNER_COMMAND:
        from portfolio.localserver import banner

        print(banner(HOST, PORT, BANNER_COMMAND), file=sys.stdout, flush=True)


def post_fork(server, worker):
    # Workers keep their database connections; none may be one the master opened
    # while loading the app, which every worker would then share.
    from django.db import connections

    connections.close_all()
