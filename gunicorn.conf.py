"""How gunicorn serves the site, locally (`make run`) and in the container."""

import os

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
wsgi_app = "portfolio.wsgi:application"

# Loaded once in the master, then forked: workers share memory pages.
preload_app = True
timeout = 30
graceful_timeout = 30
keepalive = 5
# Recycle workers now and then, staggered, so no leak can grow without bound.
max_requests = 2000
max_requests_jitter = 200

# No runtime control socket: nothing outside the process needs one, and in a
# read-only container it would have nowhere to live.
control_socket_disable = True

accesslog = "-"
errorlog = "-"
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms "%(a)s"'
