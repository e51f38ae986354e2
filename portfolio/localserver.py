"""What `make run` and `make dev` tell the person who typed them: where the site is, or why not.

`python -m portfolio.localserver check-port COMMAND` exits with one line saying what to do
when the site could not listen at HOST:PORT; bin/serve and bin/dev run it before the
migrations, so a busy port is reported at once and not as gunicorn's five retries.
`banner()` is what gunicorn prints once it listens (gunicorn.conf.py) and bin/dev before
runserver starts.
"""

import errno
import os
import socket
import sys
from pathlib import Path

from portfolio import envfile

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = "8000"
# Addresses that mean "every interface": other devices may connect.
EVERY_INTERFACE = {"0.0.0.0", "::"}  # noqa: S104
# How far above a busy port to look for a free one to suggest.
SUGGESTION_RANGE = 20


def address():
    """(host, port) from HOST and PORT; SystemExit with the reason if PORT is not a port."""
    host = os.environ.get("HOST", "").strip() or DEFAULT_HOST
    port = os.environ.get("PORT", "").strip() or DEFAULT_PORT
    if not (port.isascii() and port.isdigit() and 1 <= int(port) <= 65535):
        raise SystemExit(f"PORT must be a port number from 1 to 65535, not {port!r}.")
    return host.strip("[]"), int(port)


def bind_error(host, port):
    """The OSError binding host:port raises, or None if the site could listen there."""
    try:
        family, kind, proto, _, sockaddr = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        with socket.socket(family, kind, proto) as sock:
            # As gunicorn and runserver bind: a connection of an earlier run still closing
            # (TIME_WAIT) does not keep the port, a listening socket does.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(sockaddr)
    except OSError as error:
        return error
    return None


def port_problem(host, port, command):
    """One line saying why the site cannot listen at host:port and what to try, or None."""
    error = bind_error(host, port)
    if error is None:
        return None
    if isinstance(error, socket.gaierror):
        return f"HOST={host} is not a name this machine can resolve. Try: HOST={DEFAULT_HOST} {command}"
    if error.errno == errno.EADDRINUSE:
        free = next(
            (p for p in range(port + 1, min(port + SUGGESTION_RANGE, 65535) + 1) if not bind_error(host, p)),
            None,
        )
        suggestion = f"PORT={free} {command}" if free else f"another PORT, e.g. PORT=8001 {command}"
        return f"Port {port} on {host} is in use (another `make run` or `make dev`?). Try: {suggestion}"
    if error.errno == errno.EADDRNOTAVAIL:
        return (
            f"HOST={host} is not an address of this machine. Try: HOST={DEFAULT_HOST} {command} "
            f"(this machine only) or HOST=0.0.0.0 {command} (other devices too)"
        )
    if error.errno == errno.EACCES:
        return f"Port {port} needs administrator rights. Try: PORT={DEFAULT_PORT} {command}"
    return f"Cannot listen on {host}:{port}: {error.strerror or error}."


def network_address():
    """This machine's address on its network, as another device would use it, or None."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            # A datagram socket's connect sends nothing: it only picks the outgoing interface.
            sock.connect(("192.0.2.1", 9))
            return sock.getsockname()[0]
    except OSError:
        return None


def host_and_port(host, port):
    """host:port as servers and URLs write it, an IPv6 address in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def url(host, port, path="/"):
    return f"http://{host_and_port(host, port)}{path}"


def python_command():
    """How to run this project's Python from the project folder."""
    python = Path(sys.prefix) / "bin" / "python"
    if sys.prefix != sys.base_prefix and python.exists():
        try:
            return str(python.relative_to(envfile.BASE_DIR))
        except ValueError:
            return str(python)
    return "python"


def banner(host, port, command):
    """Where the site is, how to reach the admin, and why an address it names would answer 400."""
    from django.conf import settings
    from django.http.request import validate_host

    allowed = settings.ALLOWED_HOSTS
    if settings.DEBUG and not allowed:
        # What Django itself allows then (django.http.request.HttpRequest.get_host).
        allowed = [".localhost", "127.0.0.1", "[::1]"]
    hosts = ",".join(settings.ALLOWED_HOSTS)
    taken_from = envfile.taken.get("DJANGO_ALLOWED_HOSTS")
    source = f" (from {taken_from})" if taken_from else ""
    everywhere = host in EVERY_INTERFACE
    local_host = ("::1" if host == "::" else "127.0.0.1") if everywhere else host
    lines = ["", f"  Serving on {url(local_host, port)}  (Ctrl-C stops it)"]
    names = [local_host]
    if everywhere:
        # Another device names this machine by its address on the network, which Django answers
        # only if DJANGO_ALLOWED_HOSTS has it.
        remote_host = network_address() or "<this machine's address>"
        lines.append(f"  Other devices: {url(remote_host, port)}")
        names.append(remote_host)
    if refused := [name for name in names if not validate_host(name.strip("<>"), allowed)]:
        again = "".join(
            f"{variable}={value} "
            for variable, value, default in [("HOST", host, DEFAULT_HOST), ("PORT", port, DEFAULT_PORT)]
            if str(value) != default
        )
        lines += [
            f"  Requests to {' and '.join(refused)} get 400 Bad Request: "
            f"DJANGO_ALLOWED_HOSTS={hosts}{source} does not name {'them' if len(refused) > 1 else 'it'}.",
            f"    Allow {'them' if len(refused) > 1 else 'it'}: "
            f"DJANGO_ALLOWED_HOSTS={','.join([*settings.ALLOWED_HOSTS, *refused])} {again}{command}",
        ]
    dotenv = os.environ.get("DJANGO_DOTENV", "").strip()
    lines += [
        f"  Admin: {url(local_host, port, '/' + settings.ADMIN_PATH)} - make an account with:",
        f"    {f'DJANGO_DOTENV={dotenv} ' if dotenv else ''}{python_command()} manage.py createsuperuser",
        "",
    ]
    return "\n".join(lines)


def main(argv):
    if len(argv) != 3 or argv[1] != "check-port":
        raise SystemExit("usage: python -m portfolio.localserver check-port COMMAND")
    envfile.load()
    host, port = address()
    if problem := port_problem(host, port, argv[2]):
        raise SystemExit(problem)


if __name__ == "__main__":
    main(sys.argv)
