"""Case studies as Markdown files with YAML front matter, read and written.

`import_studies` reads these files, `export_studies` writes them, and the seed
content (casestudies/seed/) is exactly what `export_studies` writes for the
seeded database. A file, named `<slug>.md`, looks like:

    ---
    title: "SecureVault: A Zero-Knowledge Password Manager Design Exercise"
    slug: securevault
    summary: A systems-design exercise in zero-knowledge architecture.
    tags: [Security, Encryption, Zero-Knowledge]
    status: published
    published_at: 2024-11-20T00:00:00Z
    repository_url: https://example.com/repo
    live_url: https://example.com
    role: Lead engineer
    timeframe: 6 months
    team_size: 4
    stack: Django, PostgreSQL, Redis
    outcomes:
      - label: p99 latency
        before: "480"
        after: "95"
        unit: ms
    images:
      - name: whiteboard.jpg
        alt: The first sketch of the vault, on a whiteboard
        credit: "Photo: Ada Lovelace"
        cover: true
      - name: key-flow.png
        alt: How a key travels from the browser to the vault
    ---
    The Markdown body, which shows a figure by its name: ![Alt](key-flow.png "Caption").

title, slug, summary and published_at are required; status defaults to
draft; every other field is optional, and left out when empty. YAML anchors
and aliases (& and *) are refused: a study has no use for them.

Export, import into an empty database, export again gives the same bytes,
because writing is the inverse of reading:
- Keys always in the order above. A text value is written plain when YAML
  reads it back as exactly that text, and in double quotes otherwise (a colon
  followed by a space, a number-like "480", a leading quote...), with
  backslash escapes for anything invisible. Tags are one flow list in the
  author's order; outcomes a list of mappings in the order they are shown.
- published_at is written in UTC, with microseconds only when it has some.
- Both directions normalise values the same way (`normalised()`): title and
  facts without surrounding spaces, the summary on one line, the body without
  leading or trailing blank lines and with one final newline. A study stored
  slightly differently (a body saved from the admin without its final
  newline) exports to what an import would store, and compares unchanged.
- An outcome's position is not written: the list order is the order, and the
  import numbers outcomes 0, 1, 2... (the admin's 10, 20, 30 keep their order).
- Images: the cover first, then the figures by name (code point order, not the
  database's collation); the body, not this list, says where a figure shows, so
  an import sorts the list the same way. `credit` is left out when empty, `cover`
  written only on the cover.

An image's picture is not in the text: `export_studies` writes it beside the
file, as `<slug>/<name>` (the kept master, byte for byte), and `import_studies`
reads it from there, so the same name finds it in the body, in the front matter
and on disk.

created_at and updated_at are not in the files. They record what happened to
this database, not what the study says: Django sets them on every save, so a
file carrying them would either be overruled on import (and the round trip
would differ) or make the import rewrite history; and every admin save would
change the backup of an otherwise unchanged study. published_at is the date
a study has. An import that finds nothing to change writes nothing, so
updated_at keeps meaning "last changed".

The file name is the slug, not the date: the slug is what the import matches
on, so changing a date in a text editor never leaves the name out of date, and
an export never writes a second file for a study whose date changed.
"""

import datetime
from dataclasses import dataclass, field

import yaml
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from casestudies.images import ImageRefused, plain_name
from casestudies.models import CaseStudy, Outcome, StudyImage, Tag

# The front matter's keys, in the order they are written.
KEYS = (
    "title",
    "slug",
    "summary",
    "tags",
    "status",
    "published_at",
    "repository_url",
    "live_url",
    "role",
    "timeframe",
    "team_size",
    "stack",
    "outcomes",
    "images",
)
REQUIRED = ("title", "slug", "summary", "published_at")
# CaseStudy fields a file sets, besides slug, tags and outcomes (kept elsewhere).
STUDY_FIELDS = ("body", *(key for key in KEYS if key not in {"slug", "tags", "outcomes", "images"}))
OPTIONAL_TEXT = ("repository_url", "live_url", "role", "timeframe", "stack")
OUTCOME_FIELDS = ("label", "before", "after", "unit")
IMAGE_FIELDS = ("name", "alt", "credit", "cover")
TAG_MAX_LENGTH = Tag._meta.get_field("name").max_length


class StudyFileError(ValueError):
    """A study file that cannot be read, with the problem in words."""


class FrontMatterLoader(yaml.SafeLoader):
    """YAML without anchors and aliases: an alias repeats a whole value, so a few hundred bytes of
    nested aliases stand for billions of strings once a value is turned into text. A study needs none."""

    def compose_node(self, parent, index):
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise StudyFileError("front matter may not use YAML anchors or aliases (& and *)")
        return super().compose_node(parent, index)


def load_yaml(text):
    """The value the YAML `text` holds; raises StudyFileError for anchors and aliases, or deep nesting."""
    try:
        return yaml.load(text, Loader=FrontMatterLoader)  # noqa: S506 (a SafeLoader)
    except RecursionError:
        raise StudyFileError("its front matter is nested too deeply") from None


@dataclass
class StudyFile:
    """One study as a file holds it: the values an import sets, normalised."""

    slug: str
    tags: list[str]
    fields: dict  # the STUDY_FIELDS
    outcomes: list[dict] = field(default_factory=list)  # OUTCOME_FIELDS, in order
    images: list[dict] = field(default_factory=list)  # IMAGE_FIELDS, in image_order()
    # {image name: digest of its picture}: a stored study's, or, on import, of the files read beside it.
    digests: dict = field(default_factory=dict)

    @classmethod
    def from_study(cls, study):
        """The file of a stored study; prefetch its tags (with_tags()), outcomes and images."""
        stored_images = study.images.all()
        return cls(
            slug=study.slug,
            tags=[tag.name for tag in study.tag_list],
            fields=normalised({name: getattr(study, name) for name in STUDY_FIELDS}),
            outcomes=[
                normalised_outcome({name: getattr(outcome, name) for name in OUTCOME_FIELDS})
                for outcome in study.outcomes.all()
            ],
            images=image_order(
                normalised_image(
                    {"name": image.name, "alt": image.alt, "credit": image.credit, "cover": image.is_cover}
                )
                for image in stored_images
            ),
            digests={image.name: image.digest for image in stored_images},
        )

    @property
    def file_name(self):
        return f"{self.slug}.md"

    def differences(self, other):
        """What importing `other` over this study would change, by name; empty when nothing."""
        changed = [name for name in STUDY_FIELDS if self.fields[name] != other.fields[name]]
        # Tags match ignoring case, as the database matches them.
        if [tag.lower() for tag in self.tags] != [tag.lower() for tag in other.tags]:
            changed.append("tags")
        if self.outcomes != other.outcomes:
            changed.append("outcomes")
        if self.images != other.images or self.digests != other.digests:
            changed.append("images")
        return changed

    def to_text(self):
        """The file's text: the inverse of parse_study_file(), byte for byte stable."""
        values = self.fields
        lines = [
            "---",
            f"title: {scalar(values['title'])}",
            f"slug: {scalar(self.slug)}",
            f"summary: {scalar(values['summary'])}",
        ]
        if self.tags:
            lines.append(f"tags: [{', '.join(scalar(tag, in_list=True) for tag in self.tags)}]")
        lines.append(f"status: {scalar(values['status'])}")
        lines.append(f"published_at: {timestamp(values['published_at'])}")
        for name in ("repository_url", "live_url", "role", "timeframe"):
            if values[name]:
                lines.append(f"{name}: {scalar(values[name])}")
        if values["team_size"] is not None:
            lines.append(f"team_size: {values['team_size']}")
        if values["stack"]:
            lines.append(f"stack: {scalar(values['stack'])}")
        if self.outcomes:
            lines.append("outcomes:")
            for outcome in self.outcomes:
                given = [name for name in OUTCOME_FIELDS if name == "label" or outcome[name]]
                for index, name in enumerate(given):
                    lines.append(f"{'  - ' if index == 0 else '    '}{name}: {scalar(outcome[name])}")
        if self.images:
            lines.append("images:")
            for image in self.images:
                lines.append(f"  - name: {scalar(image['name'])}")
                lines.append(f"    alt: {scalar(image['alt'])}")
                if image["credit"]:
                    lines.append(f"    credit: {scalar(image['credit'])}")
                if image["cover"]:
                    lines.append("    cover: true")
        lines.append("---")
        return "\n".join(lines) + "\n" + values["body"]


def study_to_text(study):
    """A stored study as file text; prefetch its tags (with_tags()) and outcomes."""
    return StudyFile.from_study(study).to_text()


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
        meta = load_yaml("".join(lines[1:end])) or {}
    except yaml.YAMLError as error:
        raise StudyFileError(f"its front matter is not valid YAML ({error})".replace("\n", " ")) from None
    if not isinstance(meta, dict):
        raise StudyFileError("its front matter is not a set of 'name: value' lines")

    unknown = sorted(str(name) for name in set(meta) - set(KEYS))
    if unknown:
        raise StudyFileError(f"unknown field(s): {', '.join(unknown)}")
    missing = [name for name in REQUIRED if not meta.get(name)]
    if missing:
        raise StudyFileError(f"missing {', '.join(missing)}")

    fields = normalised(
        {
            "title": str(meta["title"]),
            "summary": str(meta["summary"]),
            "body": "".join(lines[end + 1 :]),
            "status": str(meta.get("status", CaseStudy.Status.DRAFT)),
            "published_at": parse_timestamp(meta["published_at"]),
            **{name: parse_text(meta.get(name), name) for name in OPTIONAL_TEXT},
            "team_size": parse_team_size(meta.get("team_size")),
        }
    )
    slug = str(meta["slug"]).strip()
    # The model's own validators decide what a good study is, here as in the admin.
    candidate = CaseStudy(slug=slug, **fields)
    try:
        candidate.full_clean(validate_unique=False)
    except ValidationError as error:
        raise StudyFileError(problems(error)) from None
    return StudyFile(
        slug=slug,
        tags=parse_tags(meta.get("tags")),
        fields=fields,
        outcomes=parse_outcomes(meta.get("outcomes")),
        images=parse_images(meta.get("images")),
    )


def normalised(fields):
    """A study's values as a file holds them: reading and writing both pass through here."""
    body = fields["body"].replace("\r\n", "\n").replace("\r", "\n").strip("\n")
    return {
        **fields,
        "title": fields["title"].strip(),
        "summary": " ".join(fields["summary"].split()),
        "body": f"{body}\n" if body else "",
        "published_at": fields["published_at"].astimezone(datetime.UTC),
        **{name: fields[name].strip() for name in OPTIONAL_TEXT},
    }


def normalised_outcome(outcome):
    return {name: outcome[name].strip() for name in OUTCOME_FIELDS}


def normalised_image(image):
    return {**image, "alt": image["alt"].strip(), "credit": image["credit"].strip()}


def image_order(study_images):
    """The cover first, then the figures by name: the same order whatever the database's collation."""
    return sorted(study_images, key=lambda image: (not image["cover"], image["name"]))


def problems(error):
    return "; ".join(f"{name}: {' '.join(messages)}" for name, messages in error.message_dict.items())


def parse_text(value, name):
    """An optional text value; a number is taken as its digits, a list (for stack) joined by commas."""
    if value is None:
        return ""
    if name == "stack" and isinstance(value, list) and all(isinstance(item, str) for item in value):
        return ", ".join(item.strip() for item in value)
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise StudyFileError(f"{name} must be text, e.g. {name}: some words")
    return str(value)


def parse_tags(value):
    tags = value or []
    if not isinstance(tags, list) or not all(isinstance(tag, str) and tag.strip() for tag in tags):
        raise StudyFileError("tags must be a list of names, e.g. [Security, Encryption]")
    names = {}
    for tag in tags:
        name = tag.strip()
        if len(name) > TAG_MAX_LENGTH:
            raise StudyFileError(f"tag {name[:20]!r}... is longer than {TAG_MAX_LENGTH} characters")
        # "Security" and "security" are one tag: keep the first spelling given.
        names.setdefault(name.lower(), name)
    return list(names.values())


def parse_team_size(value):
    if value is None or value == "":
        return None
    if isinstance(value, str) and value.strip().isdecimal():
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise StudyFileError(f"team_size {value!r} is not a number of people, e.g. team_size: 4")


def parse_outcomes(value):
    if value is None:
        return []
    if not isinstance(value, list):
        raise StudyFileError("outcomes must be a list, e.g. outcomes: [{label: p99 latency, before: 480}]")
    outcomes = []
    for number, item in enumerate(value, start=1):
        if not isinstance(item, dict):
            raise StudyFileError(f"outcome {number} is not a set of 'name: value' lines")
        unknown = sorted(str(name) for name in set(item) - set(OUTCOME_FIELDS))
        if unknown:
            raise StudyFileError(f"outcome {number}: unknown field(s): {', '.join(unknown)}")
        outcome = {}
        for name in OUTCOME_FIELDS:
            text = item.get(name)
            if isinstance(text, bool) or not isinstance(text, str | int | float | None):
                raise StudyFileError(f"outcome {number}: {name} must be text, e.g. {name}: 480")
            outcome[name] = "" if text is None else str(text).strip()
        if not outcome["label"]:
            raise StudyFileError(f"outcome {number} has no label")
        try:
            Outcome(**outcome).full_clean(exclude=["study"])
        except ValidationError as error:
            raise StudyFileError(f"outcome {number}: {problems(error)}") from None
        outcomes.append(outcome)
    return outcomes


def parse_images(value):
    if value is None:
        return []
    if not isinstance(value, list):
        raise StudyFileError("images must be a list, e.g. images: [{name: diagram.png, alt: The data flow}]")
    found = {}
    for number, item in enumerate(value, start=1):
        if not isinstance(item, dict):
            raise StudyFileError(f"image {number} is not a set of 'name: value' lines")
        unknown = sorted(str(name) for name in set(item) - set(IMAGE_FIELDS))
        if unknown:
            raise StudyFileError(f"image {number}: unknown field(s): {', '.join(unknown)}")
        if not isinstance(item.get("name"), str):
            raise StudyFileError(f"image {number} has no name, e.g. name: diagram.png")
        try:
            # The name is also a file name beside the study file: a folder in it is refused.
            name = plain_name(item["name"])
        except ImageRefused as error:
            raise StudyFileError(f"image {number}: {' '.join(error.messages)}") from None
        if name in found:
            raise StudyFileError(f"image {name!r} is listed twice")
        image = {
            "name": name,
            "alt": parse_image_text(item.get("alt"), name, "alt"),
            "credit": parse_image_text(item.get("credit"), name, "credit"),
            "cover": item.get("cover", False),
        }
        if not isinstance(image["cover"], bool):
            raise StudyFileError(f"image {name!r}: cover must be true or false")
        if not image["alt"]:
            raise StudyFileError(f"image {name!r} has no alt text, e.g. alt: What the picture shows")
        candidate = StudyImage(name=name, alt=image["alt"], credit=image["credit"], is_cover=image["cover"])
        try:
            candidate.full_clean(
                exclude=["study", "digest", "extension", "width", "height"],
                validate_unique=False,
                validate_constraints=False,
            )
        except ValidationError as error:
            raise StudyFileError(f"image {name!r}: {problems(error)}") from None
        found[name] = image
    covers = [name for name, image in found.items() if image["cover"]]
    if len(covers) > 1:
        raise StudyFileError(f"a study has one cover, and {', '.join(map(repr, covers))} all say cover: true")
    return image_order(found.values())


def parse_image_text(value, name, what):
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise StudyFileError(f"image {name!r}: {what} must be text, e.g. {what}: some words")
    return str(value).strip()


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


def timestamp(moment):
    """2024-11-20T00:00:00Z: UTC, with microseconds only when there are some."""
    moment = moment.astimezone(datetime.UTC).replace(tzinfo=None)
    return moment.isoformat(timespec="microseconds" if moment.microsecond else "seconds") + "Z"


def scalar(text, in_list=False):
    """`text` as a YAML value: plain when YAML reads it back as the same text, else double-quoted."""
    if text and text.isprintable() and text == text.strip() and reads_back(text, in_list):
        return text
    return quoted(text)


def reads_back(text, in_list):
    try:
        if in_list:
            return load_yaml(f"[{text}]") == [text]
        return load_yaml(f"value: {text}") == {"value": text}
    except (yaml.YAMLError, StudyFileError):
        return False


ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t"}


def quoted(text):
    """A double-quoted YAML string; what cannot be seen (controls, odd spaces) is escaped."""
    characters = []
    for character in text:
        if character in ESCAPES:
            characters.append(ESCAPES[character])
        elif character.isprintable():
            characters.append(character)
        else:
            code = ord(character)
            if code < 0x100:
                characters.append(f"\\x{code:02X}")
            elif code < 0x10000:
                characters.append(f"\\u{code:04X}")
            else:
                characters.append(f"\\U{code:08X}")
    return '"' + "".join(characters) + '"'
