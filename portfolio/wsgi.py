import os

from django.core.wsgi import get_wsgi_application

from portfolio import envfile

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portfolio.settings")
envfile.load()

application = get_wsgi_application()
