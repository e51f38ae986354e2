"""Log lines as JSON objects, one a line, for Django's logs and gunicorn's; or plain text.

Each JSON line has `time`, `level`, `logger`, `message` and `request_id`, and only
the few other fields named in FIELDS: never a request object, a header, a
cookie or a session. Share-preview tokens (the key to a draft) and values of
secret-looking query parameters are redacted wherever they appear.

DJANGO_LOG_FORMAT=plain (the default with DEBUG, as under `make dev`) writes the same
records as readable lines instead, redacted alike.
"""

import datetime
import json
import logging
import os
import re

from gunicorn import glogging

# Extra record attributes a line may carry; anything else a caller passes is left out.
FIELDS = (
    "status_code",
    "method",
    "path",
    "status",
    "bytes",
    "duration_ms",
    "remote_addr",
    "user_agent",
    "referer",
)
# A 10 KB address is not worth 10 KB in every line that mentions it.
MAX_FIELD_CHARS = 2000
REDACTED = "[redacted]"
# casestudies/urls.py: "case-studies/preview/<str:token>/".
PREVIEW_TOKEN = re.compile(r"(/case-studies/preview/)[^/?#\s\"']+")
SECRET_PARAMETER = re.compile(
    r"(?i)([?&;](?:[\w.-]*token|password|passwd|secret|signature|api_?key|key|session\w*|csrf\w*)=)[^&;#\s\"']*"
)


def redact(text):
    text = PREVIEW_TOKEN.sub(rf"\g<1>{REDACTED}", text)
    return SECRET_PARAMETER.sub(rf"\g<1>{REDACTED}", text)


def clip(value):
    if isinstance(value, str):
        value = redact(value)
        if len(value) > MAX_FIELD_CHARS:
            value = value[:MAX_FIELD_CHARS] + "…[truncated]"
    return value


class JsonFormatter(logging.Formatter):
    def format(self, record):
        line = {
            "time": datetime.datetime.fromtimestamp(record.created, datetime.UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": clip(record.getMessage()),
            "request_id": getattr(record, "request_id", None),
            "pid": record.process,
        }
        line.update({name: clip(getattr(record, name)) for name in FIELDS if hasattr(record, name)})
        if record.exc_info:
            line["exception"] = redact(self.formatException(record.exc_info))
        elif record.exc_text:
            line["exception"] = redact(record.exc_text)
        return json.dumps(line, ensure_ascii=False, default=str)


class PlainFormatter(logging.Formatter):
    """One line a record, for a person at a terminal: local time, level, logger, message.

    Line breaks in a message are escaped, so a request path cannot forge a line; a traceback
    follows its record's line as Python prints it.
    """

    def format(self, record):
        time = datetime.datetime.fromtimestamp(record.created).strftime("%Y-%m-%d %H:%M:%S")
        message = clip(record.getMessage()).replace("\r", "\\r").replace("\n", "\\n")
        line = f"{time} {record.levelname:<7} {record.name}: {message}"
        if record.exc_info:
            line += "\n" + redact(self.formatException(record.exc_info))
        elif record.exc_text:
            line += "\n" + redact(record.exc_text)
        return line


FORMATTERS = {"json": JsonFormatter, "plain": PlainFormatter}


class GunicornLogger(glogging.Logger):
    """gunicorn's logger, in the site's format; a JSON access line carries the response's X-Request-ID."""

    def setup(self, cfg):
        super().setup(cfg)
        # The settings choose the format (DJANGO_LOG_FORMAT, or DEBUG's default) and say what is
        # wrong with it; gunicorn sets the logger up before it loads the site, which would read them.
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portfolio.settings")
        from django.conf import settings

        formatter = FORMATTERS[settings.LOG_FORMAT]()
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                if getattr(handler, "_gunicorn", False):
                    handler.setFormatter(formatter)

    def access(self, resp, req, environ, request_time):
        if not self.access_log_enabled:
            return
        headers = {name.lower(): value for name, value in resp.headers}
        status = resp.status.split(None, 1)[0] if isinstance(resp.status, str) else resp.status
        method = environ.get("REQUEST_METHOD", "-")
        # The path as sent, query string included: redacted and clipped by the formatter.
        path = environ.get("RAW_URI") or environ.get("PATH_INFO", "")
        fields = {
            "request_id": headers.get("x-request-id"),
            "method": method,
            "path": path,
            "status": int(status),
            "bytes": getattr(resp, "sent", None),
            "duration_ms": round(request_time.total_seconds() * 1000, 1),
            "remote_addr": environ.get("REMOTE_ADDR"),
            "user_agent": environ.get("HTTP_USER_AGENT"),
            "referer": environ.get("HTTP_REFERER"),
        }
        try:
            self.access_log.info("%s %s %s", method, path, status, extra=fields)
        except Exception:
            self.exception("Could not write an access log line")
