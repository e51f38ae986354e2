# A small production image: dependencies built in one stage, a non-root
# runtime in the next, static files collected at build time.

# Base images are pinned to a patch release (Dependabot proposes the next one), on Debian 12,
# the release the suite runs on.
FROM python:3.11.14-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /venv
COPY requirements.txt /tmp/requirements.txt
# Exactly the packages the lock file names, each checked against its recorded hashes.
RUN /venv/bin/pip install --require-hashes -r /tmp/requirements.txt

FROM python:3.11.14-slim-bookworm
ENV PATH=/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DJANGO_ENV=production \
    DJANGO_VAR_DIR=/app/var \
    HOST=0.0.0.0 \
    PORT=8000
# Graphviz draws the ```dot diagrams in study bodies when a study is saved.
RUN apt-get update \
    && apt-get install -y --no-install-recommends graphviz fonts-dejavu-core \
    && rm -rf /var/lib/apt/lists/*
RUN useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin app
WORKDIR /app
COPY --from=build /venv /venv
COPY . .
# Production settings refuse to load without a key and hosts; these two exist
# only for this build step and are not kept in the image.
RUN DJANGO_SECRET_KEY=collectstatic-only DJANGO_ALLOWED_HOSTS=build \
        python manage.py collectstatic --noinput --verbosity 0 \
    && mkdir -p var && chown app:app var
USER app
EXPOSE 8000
VOLUME ["/app/var"]
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 CMD ["python", "bin/healthcheck"]
CMD ["bin/serve"]
