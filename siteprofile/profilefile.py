"""The site profile as a file, `site.yaml`: what export_studies writes beside the study files and
import_studies reads back, so that an export holds the whole site. It looks like:

    site_title: Engineering Portfolio
    author_name: Ada Lovelace
    tagline: Deep dives into production systems, architecture decisions, and technical challenges.
    contact_email: ada@example.com
    links:
      - label: GitHub
        url: https://github.com/ada
    intro: |-
      Case studies: deep dives into production systems.
    about: |
      ## Who I am

      An engineer who writes things down.

site_title and tagline are required; every other key is optional, and left out when empty (a
key left out is empty after an import). intro and about are Markdown, written as YAML literal
blocks (`|`) line for line as stored, so export, import and export again give the same bytes.
Links are in the order the site shows them; an import numbers them 0, 1, 2...

It is YAML, not Markdown with front matter, so that it can never be taken for a study's
`<slug>.md`. updated_at is not written, for the reason study files leave out theirs.
"""

from dataclasses import dataclass, field

from django.core.exceptions import ValidationError

from casestudies.studyfiles import (
    Problems,
    StudyFileError,
    Where,
    block,
    parse_text,
    read_yaml,
    scalar,
)
from siteprofile.models import SiteProfile, SocialLink

FILE_NAME = "site.yaml"
# The keys, in the order they are written.
KEYS = ("site_title", "author_name", "tagline", "contact_email", "links", "intro", "about")
TEXT_FIELDS = ("site_title", "author_name", "tagline", "contact_email", "intro", "about")
REQUIRED = ("site_title", "tagline")
LINK_FIELDS = ("label", "url")


@dataclass
class ProfileFile:
    """The site profile as its file holds it."""

    fields: dict  # the TEXT_FIELDS
    links: list[dict] = field(default_factory=list)  # LINK_FIELDS, in order
    where: Where = None

    @classmethod
    def from_profile(cls, profile):
        """The file of a profile as SiteProfile.load() gives it (its links in `link_list`)."""
        return cls(
            fields={name: getattr(profile, name) for name in TEXT_FIELDS},
            links=[{"label": link.label, "url": link.url} for link in profile.link_list],
        )

    def differences(self, other):
        """What importing `other` over this profile would change, by name; empty when nothing."""
        changed = [name for name in TEXT_FIELDS if self.fields[name] != other.fields[name]]
        if self.links != other.links:
            changed.append("links")
        return changed

    def to_text(self):
        values = self.fields
        lines = []
        for name in KEYS:
            if name == "links":
                if self.links:
                    lines.append("links:")
                    for link in self.links:
                        lines.append(f"  - label: {scalar(link['label'])}")
                        lines.append(f"    url: {scalar(link['url'])}")
            elif values[name] or name in REQUIRED:
                text = block(values[name]) if name in {"intro", "about"} else scalar(values[name])
                lines.append(f"{name}: {text}")
        return "\n".join(lines) + "\n"


def parse_profile_file(text):
    """The ProfileFile of site.yaml's text; StudyFileError with every problem found, at its line."""
    meta, where = read_yaml(text.lstrip("\ufeff"))
    if meta is None:
        meta = {}
    if not isinstance(meta, dict):
        raise StudyFileError("it is not a set of 'name: value' lines", 1)
    found = Problems()
    missing = found.keys(meta, where, KEYS, REQUIRED)
    unread = set(missing)
    fields = found.texts(meta, where, TEXT_FIELDS, unread)
    # The model's own validators, as the admin's form uses them.
    try:
        SiteProfile(**fields).full_clean(
            exclude=sorted(unread), validate_unique=False, validate_constraints=False
        )
    except ValidationError as error:
        found.invalid(error, lambda name: where[name])
    profile_file = ProfileFile(fields=fields, links=parse_links(meta.get("links"), where["links"], found))
    profile_file.where = where
    found.check()
    return profile_file


def parse_links(value, where, found):
    links = []
    example = "{label: GitHub, url: https://github.com/ada}"
    for index, number, at, item in found.entries(value, where, "link", LINK_FIELDS, example):
        link = {}
        for name in LINK_FIELDS:
            link[name] = found.attempt(at[name], parse_text, item.get(name), name, fallback="").strip()
        try:
            SocialLink(position=index, **link).full_clean(exclude=["profile"])
        except ValidationError as error:
            found.invalid(error, lambda name, at=at: at[name], prefix=f"link {number}: ")
            continue
        links.append(link)
    return links
