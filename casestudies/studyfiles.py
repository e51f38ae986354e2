"""Case studies as Markdown files with YAML front matter, read and written.

`import_studies` reads these files, `export_studies` writes them, and the seed
content (casestudies/seed/) is exactly what `export_studies` writes for the
seeded database. A file, named `<slug>.md`, looks like:

    ---
    title: "SecureVault: A Zero-Knowledge Password Manager Design Exercise"
    slug: securevault
    old_slugs: [secure-vault, vault]
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

old_slugs are the study's earlier addresses (SlugRedirect rows), which keep
redirecting to it. An import adds the ones a study lacks and never removes one:
an old address stops working only when someone deletes it in the admin.

Reading a file finds every problem it has, not just the first, each at the
line of the file it is on (Problem): the line of the field, of the list item,
or of the YAML mistake, counted from the top of the file.

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
from casestudies.models import CaseStudy, Outcome, SlugRedirect, StudyImage, Tag

# The front matter's keys, in the order they are written.
KEYS = (
    "title",
    "slug",
    "old_slugs",
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
STUDY_FIELDS = (
    "body",
    *(key for key in KEYS if key not in {"slug", "old_slugs", "tags", "outcomes", "images"}),
)
OPTIONAL_TEXT = ("repository_url", "live_url", "role", "timeframe", "stack")
OUTCOME_FIELDS = ("label", "before", "after", "unit")
IMAGE_FIELDS = ("name", "alt", "credit", "cover")
TAG_MAX_LENGTH = Tag._meta.get_field("name").max_length


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a file (or, a warning, worth the author's attention), at a line of it."""

    line: int | None  # from 1, the top of the file; None for the file as a whole
    message: str
    warning: bool = False

    def shown(self, name):
        """`name:7: message`, as compilers say it, so an editor can go to the line."""
        place = f"{name}:{self.line}:" if self.line else f"{name}:"
        return f"{place} {'warning: ' if self.warning else ''}{self.message}"


class StudyFileError(ValueError):
    """A file that cannot be read, with every problem found in words (`problems`)."""

    def __init__(self, message=None, line=None, problems=None):
        self.problems = sorted(problems or [Problem(line, message)], key=lambda problem: problem.line or 0)
        super().__init__("; ".join(problem.message for problem in self.problems))


class FrontMatterLoader(yaml.SafeLoader):
    """YAML without anchors and aliases: an alias repeats a whole value, so a few hundred bytes of
    nested aliases stand for billions of strings once a value is turned into text. A study needs none."""

    first_line = 1  # the file's line the text starts on, for the lines in messages
    last_line = None  # where composing got to, for a value nested too deeply to compose

    def compose_node(self, parent, index):
        event = self.peek_event()
        self.last_line = event.start_mark.line + self.first_line
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise StudyFileError("front matter may not use YAML anchors or aliases (& and *)", self.last_line)
        return super().compose_node(parent, index)


def load_yaml(text):
    """The value the YAML `text` holds; raises StudyFileError for anchors and aliases, or deep nesting."""
    return read_yaml(text)[0]


def read_yaml(text, first_line=1):
    """(value, Where) of the YAML `text`, which starts on line `first_line` of its file; StudyFileError
    says what is wrong at the file's line."""
    loader = None
    try:
        # The reader checks every character as it starts: a bad one is an error here too.
        loader = FrontMatterLoader(text)
        loader.first_line = first_line
        node = loader.get_single_node()
        value = None if node is None else loader.construct_document(node)
    except RecursionError:
        raise StudyFileError("its front matter is nested too deeply", loader and loader.last_line) from None
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        context = ""
        if error.context and error.context_mark:
            context = f" ({error.context}, line {error.context_mark.line + first_line})"
        raise StudyFileError(
            f"its front matter is not valid YAML: {error.problem or error.context}{context}",
            mark.line + first_line if mark else None,
        ) from None
    except yaml.reader.ReaderError as error:
        raise StudyFileError(
            f"its front matter is not valid YAML: character #x{error.character:04x} is not allowed "
            f"({error.reason})",
            text.count("\n", 0, error.position) + first_line,
        ) from None
    except yaml.YAMLError as error:
        raise StudyFileError(f"its front matter is not valid YAML: {error}".replace("\n", " ")) from None
    finally:
        if loader is not None:
            loader.dispose()
    return value, Where(first_line, node, first_line)


class Where:
    """Where a YAML value is in its file: `where["outcomes"][1]["label"].line` is the line of the
    second outcome's label. A key or item that is not there has the line of the nearest one that is."""

    def __init__(self, line, node=None, first_line=1):
        self.line, self.node, self.first_line = line, node, first_line

    def __getitem__(self, key):
        node = self.node
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                if isinstance(key_node, yaml.ScalarNode) and key_node.value == str(key):
                    return Where(key_node.start_mark.line + self.first_line, value_node, self.first_line)
        if isinstance(node, yaml.SequenceNode) and isinstance(key, int) and 0 <= key < len(node.value):
            item = node.value[key]
            return Where(item.start_mark.line + self.first_line, item, self.first_line)
        return Where(self.line, None, self.first_line)

    def fields(self):
        """(key as written, line) of a mapping, in file order."""
        if not isinstance(self.node, yaml.MappingNode):
            return []
        return [
            (key_node.value if isinstance(key_node, yaml.ScalarNode) else "?", self[key_node.value].line)
            for key_node, _ in self.node.value
        ]


class Problems:
    """The problems found in one file so far, each at its line."""

    def __init__(self):
        self.found = []

    def add(self, message, line):
        self.found.append(Problem(line, message))

    def attempt(self, where, parse, *args, fallback=None):
        """parse(*args), or `fallback` with its problems noted (at `where` unless they carry a line)."""
        try:
            return parse(*args)
        except StudyFileError as error:
            for problem in error.problems:
                self.add(problem.message, problem.line or where.line)
            return fallback

    def invalid(self, error, where_of, prefix=""):
        """A model's ValidationError, one problem per field at the field's line (`where_of(name)`)."""
        for name, messages in error.message_dict.items():
            self.add(f"{prefix}{name}: {' '.join(messages)}", where_of(name).line)

    def keys(self, meta, where, known, required):
        """Note every key that is not one of `known` and every one of `required` that is missing,
        and return the missing ones."""
        for name, line in where.fields():
            if name not in known:
                self.add(f"unknown field: {name}", line)
        missing = [name for name in required if not meta.get(name)]
        if missing:
            self.add(f"missing {', '.join(missing)}", 1)
        return missing

    def texts(self, meta, where, names, unread):
        """{name: text} of the `names` in `meta`, "" for each that could not be read (its problems
        noted, and the name added to `unread`)."""
        texts = {}
        for name in names:
            texts[name] = self.attempt(where[name], parse_text, meta.get(name), name)
            if texts[name] is None:
                texts[name] = ""
                unread.add(name)
        return texts

    def entries(self, value, where, noun, fields, example):
        """(index, number, where, mapping) of each entry of a list of mappings, such as outcomes:
        a value that is not a list, an entry that is not a mapping and a key not among `fields`
        are noted, and such entries skipped."""
        if value is None:
            return
        if not isinstance(value, list):
            self.add(f"{noun}s must be a list, e.g. {noun}s: [{example}]", where.line)
            return
        for index, item in enumerate(value):
            number, at = index + 1, where[index]
            if not isinstance(item, dict):
                self.add(f"{noun} {number} is not a set of 'name: value' lines", at.line)
                continue
            for name, line in at.fields():
                if name not in fields:
                    self.add(f"{noun} {number}: unknown field: {name}", line)
            yield index, number, at, item

    def check(self):
        if self.found:
            raise StudyFileError(problems=self.found)


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
    old_slugs: list[str] = field(default_factory=list)  # in code point order
    # Read from a file: where its fields are (Where) and the line its body starts on.
    where: "Where" = None
    body_line: int = None

    @classmethod
    def from_study(cls, study):
        """The file of a stored study; prefetch its tags (with_tags()), outcomes, images and
        slug_redirects."""
        stored_images = study.images.all()
        return cls(
            slug=study.slug,
            old_slugs=sorted(redirect.old_slug for redirect in study.slug_redirects.all()),
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
        # Old addresses are added, never taken away: only one the study lacks is a change.
        if set(other.old_slugs) - set(self.old_slugs):
            changed.append("old_slugs")
        return changed

    def to_text(self):
        """The file's text: the inverse of parse_study_file(), byte for byte stable."""
        values = self.fields
        lines = [
            "---",
            f"title: {scalar(values['title'])}",
            f"slug: {scalar(self.slug)}",
        ]
        if self.old_slugs:
            lines.append(f"old_slugs: [{', '.join(scalar(slug, in_list=True) for slug in self.old_slugs)}]")
        lines.append(f"summary: {scalar(values['summary'])}")
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
    """A stored study as file text; prefetch as for StudyFile.from_study()."""
    return StudyFile.from_study(study).to_text()


def parse_study_file(text):
    """Read one study file's text; raises StudyFileError with every problem found."""
    study_file, found = examine_study_file(text)
    found.check()
    return study_file


def examine_study_file(text):
    """(StudyFile, Problems) of one study file's text: every problem found, and the study as far as
    it could be read (values that could not be read left empty), so that more can be checked. Raises
    StudyFileError when the front matter itself cannot be read."""
    lines = text.lstrip("\ufeff").splitlines(keepends=True)
    if not lines or lines[0].strip() != "---":
        raise StudyFileError("it does not start with a '---' front matter line", 1)
    try:
        end = next(i for i, line in enumerate(lines[1:], start=1) if line.strip() == "---")
    except StopIteration:
        raise StudyFileError("its front matter has no closing '---' line", 1) from None
    meta, where = read_yaml("".join(lines[1:end]), first_line=2)
    if meta is None:
        meta = {}
    if not isinstance(meta, dict):
        raise StudyFileError("its front matter is not a set of 'name: value' lines", 2)

    found = Problems()
    missing = found.keys(meta, where, KEYS, REQUIRED)

    # What could not be read is left out of the model's checks below, which would only repeat it.
    unread = set(missing)
    published_at = found.attempt(where["published_at"], parse_timestamp, meta.get("published_at"))
    if published_at is None:
        unread.add("published_at")
    optional = found.texts(meta, where, OPTIONAL_TEXT, unread)
    team_size = found.attempt(where["team_size"], parse_team_size, meta.get("team_size"), fallback="?")
    if team_size == "?":
        team_size = None
        unread.add("team_size")
    body_line = end + 2
    fields = normalised(
        {
            "title": str(meta.get("title") or ""),
            "summary": str(meta.get("summary") or ""),
            "body": "".join(lines[end + 1 :]),
            "status": str(meta.get("status", CaseStudy.Status.DRAFT)),
            "published_at": published_at or EPOCH,
            **optional,
            "team_size": team_size,
        }
    )
    slug = str(meta.get("slug") or "").strip()
    # The model's own validators decide what a good study is, here as in the admin.
    candidate = CaseStudy(slug=slug, **fields)
    try:
        candidate.full_clean(exclude=sorted(unread), validate_unique=False)
    except ValidationError as error:
        found.invalid(error, lambda name: Where(body_line) if name == "body" else where[name])
    study_file = StudyFile(
        slug=slug,
        tags=found.attempt(where["tags"], parse_tags, meta.get("tags"), fallback=[]),
        fields=fields,
        outcomes=parse_outcomes(meta.get("outcomes"), where["outcomes"], found),
        images=parse_images(meta.get("images"), where["images"], found),
        old_slugs=found.attempt(
            where["old_slugs"], parse_old_slugs, meta.get("old_slugs"), slug, fallback=[]
        ),
        where=where,
        body_line=body_line,
    )
    return study_file, found


# In place of a date that could not be read, so the rest of the file can still be checked.
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)


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


def parse_old_slugs(value, slug):
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, str) and item.strip() for item in value):
        raise StudyFileError(
            "old_slugs must be a list of the study's earlier slugs, e.g. [vault, secure-vault]"
        )
    old_slugs = set()
    for item in value:
        old_slug = item.strip()
        try:
            SlugRedirect(old_slug=old_slug).clean_fields(exclude=["study"])
        except ValidationError as error:
            raise StudyFileError(f"old slug {old_slug!r}: {problems(error)}") from None
        if old_slug == slug:
            raise StudyFileError(f"old slug {old_slug!r} is the study's own slug")
        old_slugs.add(old_slug)
    return sorted(old_slugs)


def parse_outcomes(value, where, found):
    outcomes = []
    example = "{label: p99 latency, before: 480}"
    for _, number, at, item in found.entries(value, where, "outcome", OUTCOME_FIELDS, example):
        outcome, good = {}, True
        for name in OUTCOME_FIELDS:
            text = item.get(name)
            if isinstance(text, bool) or not isinstance(text, str | int | float | None):
                found.add(f"outcome {number}: {name} must be text, e.g. {name}: 480", at[name].line)
                good, text = False, None
            outcome[name] = "" if text is None else str(text).strip()
        if not outcome["label"]:
            found.add(f"outcome {number} has no label", at.line)
            continue
        try:
            Outcome(**outcome).full_clean(exclude=["study"])
        except ValidationError as error:
            found.invalid(error, lambda name, at=at: at[name], prefix=f"outcome {number}: ")
            continue
        if good:
            outcomes.append(outcome)
    return outcomes


def parse_images(value, where, found):
    listed, covers = {}, []
    example = "{name: diagram.png, alt: The data flow}"
    for _, number, at, item in found.entries(value, where, "image", IMAGE_FIELDS, example):
        if not isinstance(item.get("name"), str):
            found.add(f"image {number} has no name, e.g. name: diagram.png", at.line)
            continue
        try:
            # The name is also a file name beside the study file: a folder in it is refused.
            name = plain_name(item["name"])
        except ImageRefused as error:
            found.add(f"image {number}: {' '.join(error.messages)}", at["name"].line)
            continue
        if name in listed:
            found.add(f"image {name!r} is listed twice", at["name"].line)
            continue
        alt = found.attempt(at["alt"], parse_image_text, item.get("alt"), name, "alt")
        if alt == "":
            found.add(f"image {name!r} has no alt text, e.g. alt: What the picture shows", at.line)
        image = {
            "name": name,
            "alt": alt or "",
            "credit": found.attempt(
                at["credit"], parse_image_text, item.get("credit"), name, "credit", fallback=""
            ),
            "cover": item.get("cover", False),
        }
        if not isinstance(image["cover"], bool):
            found.add(f"image {name!r}: cover must be true or false", at["cover"].line)
            image["cover"] = False
        candidate = StudyImage(name=name, alt=image["alt"], credit=image["credit"], is_cover=image["cover"])
        try:
            candidate.full_clean(
                # A missing alt text is said once, above.
                exclude=["study", "digest", "extension", "width", "height", *([] if alt else ["alt"])],
                validate_unique=False,
                validate_constraints=False,
            )
        except ValidationError as error:
            found.invalid(
                error,
                lambda field, at=at: at["cover" if field == "is_cover" else field],
                prefix=f"image {name!r}: ",
            )
        listed[name] = image
        if image["cover"]:
            covers.append((name, at["cover"].line))
    if len(covers) > 1:
        found.add(
            f"a study has one cover, and {', '.join(repr(name) for name, _ in covers)} all say cover: true",
            covers[-1][1],
        )
    return image_order(listed.values())


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


def block(text):
    """Text of several lines (Markdown) as a YAML literal block: `|`, then the text indented by two
    spaces, as a person would write it. One line is a scalar(); text a block cannot hold exactly
    (a control character, an odd first line) is double-quoted."""
    if "\n" not in text.rstrip("\n"):
        return scalar(text)
    lines = (text[:-1] if text.endswith("\n") else text).split("\n")
    if all(line.replace("\t", "").isprintable() for line in lines):
        chomping = "-" if not text.endswith("\n") else "+" if text.endswith("\n\n") else ""
        # YAML finds the indentation from the first line with text, unless it is said.
        indent = "2" if next(line for line in lines if line).startswith(" ") else ""
        written = f"|{indent}{chomping}\n" + "\n".join(f"  {line}" if line else "" for line in lines)
        if reads_back_block(written, text):
            return written
    return quoted(text)


def reads_back_block(written, text):
    try:
        return load_yaml(f"value: {written}\nnext: 1\n") == {"value": text, "next": 1}
    except StudyFileError:
        return False


# The tags file: every tag, one a line, as it is spelled and as its address has it.
TAGS_FILE = "tags.yaml"


def tags_to_text(tags):
    """tags.yaml's text: `- {name: PostgreSQL, slug: postgresql}` for each tag, in name order
    ignoring case (the same on every database); `[]` when there is none."""
    lines = []
    for tag in sorted(tags, key=lambda tag: (tag.name.casefold(), tag.name)):
        line = f"- {{name: {scalar(tag.name, in_list=True)}, slug: {scalar(tag.slug, in_list=True)}}}"
        if load_yaml(line) != [{"name": tag.name, "slug": tag.slug}]:
            line = f"- {{name: {quoted(tag.name)}, slug: {quoted(tag.slug)}}}"
        lines.append(line)
    return "\n".join(lines) + "\n" if lines else "[]\n"


def parse_tags_file(text):
    """[{name, slug, line}] of tags.yaml's text, slug None when not given; StudyFileError with
    every problem found."""
    value, where = read_yaml(text.lstrip("\ufeff"))
    if value is None:
        return []
    if not isinstance(value, list):
        raise StudyFileError("it is not a list of tags, e.g. - {name: PostgreSQL, slug: postgresql}", 1)
    found, tags, names, slugs = Problems(), [], {}, {}
    for index, item in enumerate(value):
        at = where[index]
        if not isinstance(item, dict):
            found.add("a tag is written {name: PostgreSQL, slug: postgresql}", at.line)
            continue
        for key, line in at.fields():
            if key not in {"name", "slug"}:
                found.add(f"unknown field: {key}", line)
        name, slug = item.get("name"), item.get("slug")
        if not isinstance(name, str) or not name.strip():
            found.add("a tag needs its name, e.g. name: PostgreSQL", at.line)
            continue
        name = name.strip()
        if slug is not None and (not isinstance(slug, str) or not slug.strip()):
            found.add(f"tag {name!r}: slug must be text, e.g. slug: postgresql", at["slug"].line)
            continue
        slug = slug.strip() if slug else None
        # As the database matches them: "Security" and "security" are one tag.
        if name.lower() in names:
            found.add(f"tag {name!r} is listed twice (as {names[name.lower()]!r} too)", at.line)
            continue
        if slug in slugs:
            found.add(f"tag {name!r}: slug {slug!r} is tag {slugs[slug]!r}'s already", at["slug"].line)
            continue
        names[name.lower()] = name
        if slug:
            slugs[slug] = name
        tags.append({"name": name, "slug": slug, "line": at.line})
    found.check()
    return tags
