import math
import os
import re
import stat
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import reversion
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from markdown.extensions.fenced_code import FencedBlockPreprocessor

from casestudies import images
from casestudies.admin import TagForm
from casestudies.checks import review
from casestudies.management.progress import progress, say
from casestudies.models import CaseStudy, Outcome, SlugRedirect, StudyImage, Tag
from casestudies.rendering import BodyRefused, render_markdown, rendered_ahead
from casestudies.studyfiles import (
    TAGS_FILE,
    Problem,
    StudyFile,
    StudyFileError,
    examine_study_file,
    parse_tags_file,
)
from siteprofile import profilefile
from siteprofile.models import SiteProfile, SocialLink

SEED_DIR = Path(__file__).resolve().parents[2] / "seed"


class Command(BaseCommand):
    help = (
        "Create or update case studies from Markdown files with front matter, one "
        "study per file (as export_studies writes them), matched by slug; the images "
        "a file lists are read from the folder beside it (X.md's from X/). A directory's "
        "tags.yaml and site.yaml, when there, restore the tags as spelled and the site "
        "profile. Every file is checked as the admin checks a save: what the admin refuses "
        "refuses the file, what it warns about is a warning, each at its file and line. "
        "Without a path, loads the seed studies."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "path",
            nargs="?",
            default=str(SEED_DIR),
            help="A directory as export_studies writes it, or one file of it (<slug>.md, tags.yaml "
            "or site.yaml). Without one, the seed studies.",
        )
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help="Do nothing when the database already holds a case study.",
        )
        parser.add_argument("--dry-run", action="store_true", help="Say what would change, change nothing.")

    def handle(self, path, if_empty, dry_run, verbosity, **options):
        to_read = files_to_import(Path(path))
        if if_empty and CaseStudy.objects.exists():
            if verbosity:
                self.stdout.write("The database already has case studies; nothing imported.")
            return

        counts = Counter()
        run = Run(dry_run)
        readers = {"tags": run.import_tags, "study": run.import_study_file, "site": run.import_profile}
        for each, name, kind in progress(to_read, self, verbosity, "Importing"):
            try:
                result, detail = readers[kind](each, name)
            except StudyFileError as error:
                counts["failed"] += 1
                for problem in error.problems:
                    say(self.stderr, problem.shown(name))
                continue
            # The summary counts studies; the tags and the profile say what became of them on their line.
            if kind == "study":
                counts[result] += 1
            if verbosity > 1 or (verbosity and result != "unchanged"):
                say(self.stdout, f"{'would be ' if dry_run else ''}{result}: {name}{detail}")

        # After every file, so that a link to a study another file brings is not said to lead nowhere.
        # Not for the seed: its words are the sample's, and the author can act on none of it.
        warnings = [] if Path(path).resolve() == SEED_DIR else run.check_studies()
        for name, problem in warnings:
            self.stderr.write(problem.shown(name))

        if verbosity:
            self.stdout.write(
                f"{counts['created']} created, {counts['updated']} updated, "
                f"{counts['unchanged']} unchanged, {counts['failed']} failed"
                + (f", {len(warnings)} warning(s)" if warnings else "")
                + (" (dry run: nothing was changed)" if dry_run else "")
            )
        if counts["failed"]:
            raise CommandError(f"{counts['failed']} file(s) could not be imported; see above.")


def files_to_import(path):
    """[(path, name shown in messages, kind)] to read from `path`, a directory or one file of one:
    the tags first (so that studies find them as spelled), then the studies, then the profile."""
    if path.is_dir():
        return [
            *([(path / TAGS_FILE, TAGS_FILE, "tags")] if os.path.lexists(path / TAGS_FILE) else []),
            *((each, each.name, "study") for each in sorted(path.glob("*.md"))),
            *(
                [(path / profilefile.FILE_NAME, profilefile.FILE_NAME, "site")]
                if os.path.lexists(path / profilefile.FILE_NAME)
                else []
            ),
        ]
    if not os.path.lexists(path):
        raise CommandError(f"{path} is not a directory or a file to import.")
    kind = {TAGS_FILE: "tags", profilefile.FILE_NAME: "site"}.get(path.name)
    if kind is None and path.suffix != ".md":
        raise CommandError(
            f"{path} is not a file import_studies reads: a study (<slug>.md), {TAGS_FILE} or "
            f"{profilefile.FILE_NAME}, or a directory of them."
        )
    return [(path, str(path), kind or "study")]


@dataclass
class Saved:
    """A study file an import created or updated (or would, in a dry run), for the checks after."""

    name: str
    study_file: StudyFile
    masters: dict
    study: CaseStudy
    # Whether the study's rendering is not yet that of its file's images (or, in a dry run, none).
    stale: bool = False


class Run:
    """One import: the files read so far, what they claim, and the studies they saved."""

    def __init__(self, dry_run):
        self.dry_run = dry_run
        self.claimed = {}  # slug or old slug -> (file name, "slug" or "old slug")
        self.saved = []

    def import_tags(self, path, name):
        entries = parse_tags_file(read_study_file(path))
        forms, problems = [], []
        for entry in entries:
            tag = Tag.objects.filter(name__iexact=entry["name"]).first()
            slug = entry["slug"] or (tag.slug if tag else Tag().slugify(entry["name"]))
            if tag is not None and (tag.name, tag.slug) == (entry["name"], slug):
                continue
            # The admin's own form: what it refuses for a tag is refused here, in its words.
            form = TagForm(data={"name": entry["name"], "slug": slug}, instance=tag)
            if form.is_valid():
                forms.append((form, tag is None))
            else:
                for field_name, messages in form.errors.items():
                    what = "" if field_name == "__all__" else f"{field_name}: "
                    problems.append(
                        Problem(entry["line"], f"tag {entry['name']!r}: {what}{' '.join(messages)}")
                    )
        if problems:
            raise StudyFileError(problems=problems)
        if not forms:
            return "unchanged", ""
        if not self.dry_run:
            with transaction.atomic():
                for form, _ in forms:
                    form.save()
        created = [form.cleaned_data["name"] for form, new in forms if new]
        changed = [form.cleaned_data["name"] for form, new in forms if not new]
        detail = "; ".join(
            f"{what}: {', '.join(names)}" for what, names in (("new", created), ("changed", changed)) if names
        )
        return "updated", f" ({detail})"

    def import_profile(self, path, name):
        profile_file = profilefile.parse_profile_file(read_study_file(path))
        profile = SiteProfile.load()
        result = "created" if profile._state.adding else "updated"
        changed = profilefile.ProfileFile.from_profile(profile).differences(profile_file)
        if result == "updated" and not changed:
            return "unchanged", ""
        if not self.dry_run:
            with transaction.atomic():
                for field_name, value in profile_file.fields.items():
                    setattr(profile, field_name, value)
                profile.save()
                if "links" in changed or result == "created":
                    SocialLink.objects.filter(profile=profile).delete()
                    for position, link in enumerate(profile_file.links):
                        SocialLink.objects.create(profile=profile, position=position, **link)
        return result, f" ({', '.join(changed)})" if result == "updated" else ""

    def import_study_file(self, path, name):
        study_file, found = examine_study_file(read_study_file(path))
        self.check_claims(study_file, found)
        masters = read_images(path.with_suffix(""), study_file, found)
        found.check()
        self.claimed[study_file.slug] = (name, "slug")
        for old_slug in study_file.old_slugs:
            self.claimed[old_slug] = (name, "old slug")
        result, changed, study = import_study(study_file, masters, dry_run=self.dry_run, source=name)
        if result != "unchanged":
            # The save rendered the body with the images stored before it; those of the file may differ.
            stale = self.dry_run or ("images" in changed and (study_file.images or result == "updated"))
            self.saved.append(Saved(name, study_file, masters, study, stale))
        return result, f" ({', '.join(changed)})" if result == "updated" else ""

    def check_claims(self, study_file, found):
        """A slug or old slug that another file of this run, or another stored study, has already."""
        slug, where = study_file.slug, study_file.where
        if slug and slug in self.claimed:
            other, what = self.claimed[slug]
            found.add(
                f"slug {slug!r} is already used by {other}"
                if what == "slug"
                else f"slug {slug!r} is an old slug of the study in {other}",
                where["slug"].line,
            )
        old_slugs = study_file.old_slugs
        line = where["old_slugs"].line
        for old_slug in old_slugs:
            if old_slug in self.claimed:
                other, what = self.claimed[old_slug]
                found.add(f"old slug {old_slug!r} is the {what} of the study in {other} too", line)
        for study in CaseStudy.objects.filter(slug__in=old_slugs).only("title", "slug"):
            found.add(f"old slug {study.slug!r} is the slug of “{study.title}”, a study of its own", line)
        redirects = SlugRedirect.objects.filter(old_slug__in=old_slugs).exclude(study__slug=slug)
        for redirect in redirects.select_related("study"):
            found.add(
                f"old slug {redirect.old_slug!r} is an old slug of “{redirect.study.title}” already, "
                "and leads there",
                line,
            )

    def check_studies(self):
        """[(file name, Problem)]: the warnings the admin gives after a save (casestudies.checks and
        what rendering the body found), for every study this run created or updated."""
        pending = {}
        if self.dry_run:
            for saved in self.saved:
                pending[saved.study_file.slug] = saved.study_file.fields["status"]
                pending.update(dict.fromkeys(saved.study_file.old_slugs))
        warnings = []
        for saved in self.saved:
            study = saved.study
            if saved.stale:
                # As the body will show: with the file's images, which the save that rendered it lacked.
                try:
                    rendered = render_markdown(study.body, images_as_listed(saved.study_file, saved.masters))
                except BodyRefused:
                    continue
                study.body_html, study.render_problems = rendered.html, list(rendered.problems)
            found = [*study.render_problems, *review(study, pending=pending)]
            where = saved.study_file
            warnings.extend(
                (saved.name, Problem(locate(message, where), message, warning=True))
                for message in sorted(found, key=lambda message: locate(message, where))
            )
        return warnings


def images_as_listed(study_file, masters):
    """{name: StudyImage} as the study's images will be once imported, none of them saved."""
    shown = {}
    for values in study_file.images:
        master = masters[values["name"]]
        shown[values["name"]] = StudyImage(
            name=values["name"],
            alt=values["alt"],
            credit=values["credit"],
            is_cover=values["cover"],
            digest=master.digest,
            extension=master.extension,
            width=master.width,
            height=master.height,
        )
    return shown


QUOTED = re.compile(r"“([^”]+)”")
STUDY_ADDRESS = re.compile(r"/case-studies/[^/\s]+")
IMAGE_SOURCE = re.compile(r"^The image (\S+)")
DIAGRAM = re.compile(r"^Diagram (\d+) ")


def locate(message, study_file):
    """The line of the file a warning is about: the summary's, the diagram's, or the first line of
    the body naming what the message names (a heading, an image, a link); else where the body starts."""
    if message.startswith("The summary "):
        return study_file.where["summary"].line
    body = study_file.fields["body"]
    if match := DIAGRAM.match(message):
        # fenced_code's own pattern, which finds the diagrams as rendering does.
        blocks = [
            found
            for found in FencedBlockPreprocessor.FENCED_BLOCK_RE.finditer(body)
            if found.group("lang") == "dot"
        ]
        number = int(match.group(1))
        if number <= len(blocks):
            return study_file.body_line + body.count("\n", 0, blocks[number - 1].start())
    named = [
        *QUOTED.findall(message),
        *STUDY_ADDRESS.findall(message),
        *(match.group(1) for match in [IMAGE_SOURCE.match(message)] if match),
    ]
    lines = body.split("\n")
    for name in named:
        for number, line in enumerate(lines):
            if name in line:
                return study_file.body_line + number
    return study_file.body_line


def read_study_file(path):
    """The text of the file at `path`; StudyFileError when it is a link, not a file, too big, or
    not UTF-8."""
    limit = settings.MAX_IMPORT_KB * 1024
    try:
        # lstat: a link is refused, not followed; the size is judged before a byte is read.
        info = path.lstat()
        if stat.S_ISLNK(info.st_mode):
            raise StudyFileError("it is a symbolic link; only plain files are read")
        if not stat.S_ISREG(info.st_mode):
            raise StudyFileError("it is not a plain file")
        if info.st_size > limit:
            raise too_big(info.st_size)
        # O_NOFOLLOW and the capped read: a file swapped or grown since the lstat is still refused.
        with os.fdopen(os.open(path, os.O_RDONLY | os.O_NOFOLLOW), "rb") as file:
            data = file.read(limit + 1)
            if len(data) > limit:
                raise too_big(os.fstat(file.fileno()).st_size)
    except OSError as error:
        raise StudyFileError(f"it could not be read ({error.strerror})") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise StudyFileError(
            f"it is not UTF-8 text: byte 0x{data[error.start]:02x} cannot start or continue a character",
            data.count(b"\n", 0, error.start) + 1,
        ) from None


def too_big(size):
    return StudyFileError(
        f"it is {math.ceil(size / 1024):,} KB; a study file may be at most "
        f"{settings.MAX_IMPORT_KB:,} KB (DJANGO_MAX_IMPORT_KB)"
    )


def read_images(folder, study_file, found):
    """{name: Master} of every image `study_file` lists, read from `folder` (beside the file), and
    the file's digests set from them; every image refused is added to `found` at its entry's line."""
    if not study_file.images:
        return {}
    listed = study_file.where["images"]
    if folder.is_symlink():
        found.add(
            f"the image folder {folder.name}/ is a symbolic link; only plain folders are read", listed.line
        )
        return {}
    # The line of each image's entry, by the name it gives.
    lines = {}
    for index in range(len(listed.node.value)):
        entry = listed[index]
        if isinstance(name := getattr(entry["name"].node, "value", None), str):
            lines.setdefault(name.strip(), entry.line)
    masters = {}
    for image in study_file.images:
        try:
            masters[image["name"]] = read_image(folder, image["name"])
        except StudyFileError as error:
            found.add(str(error), lines.get(image["name"], listed.line))
    study_file.digests = {name: master.digest for name, master in masters.items()}
    return masters


def read_image(folder, name):
    shown = f"{folder.name}/{name}"
    path = folder / name
    try:
        # lstat: a link is refused, not followed, so an import never publishes a file from elsewhere.
        info = path.lstat()
        if stat.S_ISLNK(info.st_mode):
            raise StudyFileError(f"image {shown} is a symbolic link; only plain files are read")
        if not stat.S_ISREG(info.st_mode):
            raise StudyFileError(f"image {shown} is not a file")
        if info.st_size > images.max_bytes():
            raise StudyFileError(
                f"image {shown} is {info.st_size / 1024 / 1024:.1f} MB; "
                f"images may be at most {settings.MAX_IMAGE_MB} MB"
            )
        data = path.read_bytes()
    except FileNotFoundError:
        raise StudyFileError(f"image {shown} is missing: the front matter lists {name!r}") from None
    except OSError as error:
        raise StudyFileError(f"image {shown} could not be read ({error.strerror})") from None
    try:
        return images.accept(data, name)
    except images.ImageRefused as error:
        raise StudyFileError(f"image {shown}: {' '.join(error.messages)}") from None


def import_study(study_file, masters=None, dry_run=False, source=None):
    """Create or update one study from its file, and its images from `masters` ({name: Master}).

    Returns what happened ("created", "updated" or "unchanged"), the names of what
    changed, and the study (in a dry run, as it would be, unsaved). An unchanged study is
    not saved, so updated_at stays. A study created or updated keeps a revision, as an
    admin save does, so the imported text (the seed's, say) can be restored from the
    admin's History. The file's old slugs the study lacks are added; none is removed.
    """
    # The body rendered before the transaction begins (on SQLite it holds the write lock from its
    # first statement), with the study's images as they are: the save inside takes this rendering.
    # Images added or changed by the file render it again, inside.
    stored = CaseStudy.objects.filter(slug=study_file.slug).first()
    body = study_file.fields.get("body", "").replace("\r\n", "\n")
    with (
        rendered_ahead(body, stored.images_by_name() if stored else {}),
        transaction.atomic(),
        reversion.create_revision(),
    ):
        reversion.set_comment(f"Imported from {source or 'a study file'}.")
        study = (
            CaseStudy.objects.with_tags()
            .prefetch_related("outcomes", "images", "slug_redirects")
            .filter(slug=study_file.slug)
            .first()
        )
        if study is None:
            result, study = "created", CaseStudy(slug=study_file.slug)
            changed = ["tags", "outcomes", "images", "old_slugs"]
        else:
            changed = StudyFile.from_study(study).differences(study_file)
            if not changed:
                return "unchanged", [], study
            result = "updated"
        had_old_slugs = {redirect.old_slug for redirect in study.slug_redirects.all()} if study.pk else set()
        for name, value in study_file.fields.items():
            setattr(study, name, value)
        if dry_run:
            return result, changed, study
        study.save()
        if "tags" in changed:
            study.tags.set(study_file.tags, clear=True)
        if "outcomes" in changed:
            Outcome.objects.filter(study=study).delete()
            Outcome.objects.bulk_create(
                Outcome(study=study, position=position, **outcome)
                for position, outcome in enumerate(study_file.outcomes)
            )
        if "images" in changed:
            replace_images(study, study_file, masters or {})
        for old_slug in study_file.old_slugs:
            if old_slug not in had_old_slugs:
                SlugRedirect.objects.create(old_slug=old_slug, study=study)
        return result, changed, study


def replace_images(study, study_file, masters):
    """Make the study's images those of its file: the ones it no longer lists deleted, the others
    updated in place (a changed picture shown anew), new ones created."""
    stored = {image.name: image for image in study.images.all()}
    listed = {image["name"] for image in study_file.images}
    for name, image in stored.items():
        if name not in listed:
            image.delete()
    # The cover last: whichever image was the cover before is no longer one by then (one per study).
    for values in sorted(study_file.images, key=lambda image: image["cover"]):
        image = stored.get(values["name"]) or StudyImage(study=study, name=values["name"])
        before = (image.alt, image.credit, image.is_cover, image.digest)
        image.alt, image.credit, image.is_cover = values["alt"], values["credit"], values["cover"]
        master = masters[values["name"]]
        if image.digest != master.digest:
            image.show(master)
        if image.pk is None or (image.alt, image.credit, image.is_cover, image.digest) != before:
            image.save()
