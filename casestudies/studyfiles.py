"""Case studies as Markdown files with YAML front matter.

The seed content ships in this format (casestudies/seed/), and authors may
keep studies in it too. A file looks like:

    ---
    title: "SecureVault: A Zero-Knowledge Password Manager Design Exercise"
    slug: securevault
    summary: A systems-design exercise in zero-knowledge architecture.
    tags: [Security, Encryption, Zero-Knowledge]
    status: published
    published_at: 2024-11-20T00:00:00Z
    repository_url: https://example.com/repo   # optional
    live_url: https://example.com              # optional
    ---
    The Markdown body.
"""

import datetime
from dataclasses import dataclass, field

import yaml
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from casestudies.models import CaseStudy

FIELDS = {"title", "slug", "summary", "tags", "status", "published_at", "repository_url", "live_url"}
REQUIRED = ("title", "slug", "summary", "published_at")


class StudyFileError(ValueError):
    """A study file that cannot be read, with the problem in words."""


@dataclass
class StudyFile:
    slug: str
    tags: list[str]
    fields: dict = field(default_factory=dict)


def parse_study_file(text):
    """Read one study file's text; raises StudyFileError saying what is wrong."""
    lines = text.lstrip("\ufeff").splitlines(keepends=True)
    if not lines or lines[0].strip() != "---":
        raise StudyFileError("it does not start with a '---' front matter line")
    try:
        end = next(i for i, line in enumerate(lines[1:], start=1) if line.strip() == "---")
    except StopIteration:
        raise StudyFileError("its front matter has no closing '---' line") from None
    try:
        meta = yaml.safe_load("".join(lines[1:end])) or {}
    except yaml.YAMLError as error:
        raise StudyFileError(f"its front matter is not valid YAML ({error})".replace("\n", " ")) from None
    if not isinstance(meta, dict):
        raise StudyFileError("its front matter is not a set of 'name: value' lines")

    unknown = sorted(set(meta) - FIELDS)
    if unknown:
        raise StudyFileError(f"unknown field(s): {', '.join(unknown)}")
    missing = [name for name in REQUIRED if not meta.get(name)]
    if missing:
        raise StudyFileError(f"missing {', '.join(missing)}")

    tags = meta.get("tags") or []
    if not isinstance(tags, list) or not all(isinstance(tag, str) and tag.strip() for tag in tags):
        raise StudyFileError("tags must be a list of names, e.g. [Security, Encryption]")

    fields = {
        "title": str(meta["title"]).strip(),
        "summary": " ".join(str(meta["summary"]).split()),
        "body": "".join(lines[end + 1 :]).strip("\n") + "\n",
        "status": str(meta.get("status", CaseStudy.Status.DRAFT)),
        "published_at": parse_timestamp(meta["published_at"]),
        "repository_url": str(meta.get("repository_url") or ""),
        "live_url": str(meta.get("live_url") or ""),
    }
    slug = str(meta["slug"]).strip()
    # The model's own validators decide what a good study is, here as in the admin.
    candidate = CaseStudy(slug=slug, **fields)
    try:
        candidate.full_clean(validate_unique=False)
    except ValidationError as error:
        problems = "; ".join(f"{name}: {' '.join(msgs)}" for name, msgs in error.message_dict.items())
        raise StudyFileError(problems) from None
    return StudyFile(slug=slug, tags=[tag.strip() for tag in tags], fields=fields)


def parse_timestamp(value):
    """A YAML date or timestamp, or an ISO 8601 string, as an aware datetime."""
    if isinstance(value, datetime.datetime):
        moment = value
    elif isinstance(value, datetime.date):
        moment = datetime.datetime.combine(value, datetime.time())
    else:
        moment = parse_datetime(str(value))
        if moment is None:
            raise StudyFileError(f"published_at {value!r} is not a date such as 2024-11-20T00:00:00Z")
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment, datetime.UTC)
    return moment
