import math
import os
import stat
from collections import Counter
from pathlib import Path

import reversion
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from casestudies import images
from casestudies.management.progress import progress, say
from casestudies.models import CaseStudy, Outcome, StudyImage
from casestudies.rendering import rendered_ahead
from casestudies.studyfiles import StudyFile, StudyFileError, parse_study_file

SEED_DIR = Path(__file__).resolve().parents[2] / "seed"


class Command(BaseCommand):
    help = (
        "Create or update case studies from Markdown files with front matter, one "
        "study per file (as export_studies writes them), matched by slug; the images "
        "a file lists are read from the folder beside it (X.md's from X/). Without a "
        "directory, loads the seed studies."
    )

    def add_arguments(self, parser):
        parser.add_argument("directory", nargs="?", default=str(SEED_DIR))
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help="Do nothing when the database already holds a case study.",
        )
        parser.add_argument("--dry-run", action="store_true", help="Say what would change, change nothing.")

    def handle(self, directory, if_empty, dry_run, verbosity, **options):
        directory = Path(directory)
        if not directory.is_dir():
            raise CommandError(f"{directory} is not a directory.")
        if if_empty and CaseStudy.objects.exists():
            if verbosity:
                self.stdout.write("The database already has case studies; nothing imported.")
            return

        counts = Counter()
        slug_files = {}
        paths = sorted(directory.glob("*.md"))
        for path in progress(paths, self, verbosity, "Importing"):
            try:
                study_file = parse_study_file(read_study_file(path))
                if study_file.slug in slug_files:
                    raise StudyFileError(
                        f"slug {study_file.slug!r} is already used by {slug_files[study_file.slug]}"
                    )
                masters = read_images(path.with_suffix(""), study_file)
            except (StudyFileError, UnicodeDecodeError) as error:
                counts["failed"] += 1
                say(self.stderr, f"{path.name}: {error}")
                continue
            slug_files[study_file.slug] = path.name
            result, changed = import_study(study_file, masters, dry_run=dry_run, source=path.name)
            counts[result] += 1
            if verbosity > 1 or (verbosity and result != "unchanged"):
                detail = f" ({', '.join(changed)})" if result == "updated" else ""
                say(self.stdout, f"{'would be ' if dry_run else ''}{result}: {path.name}{detail}")

        if verbosity:
            self.stdout.write(
                f"{counts['created']} created, {counts['updated']} updated, "
                f"{counts['unchanged']} unchanged, {counts['failed']} failed"
                + (" (dry run: nothing was changed)" if dry_run else "")
            )
        if counts["failed"]:
            raise CommandError(f"{counts['failed']} file(s) could not be imported; see above.")


def read_study_file(path):
    """The text of the file at `path`; StudyFileError when it is a link, not a file, or too big."""
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
    return data.decode("utf-8")


def too_big(size):
    return StudyFileError(
        f"it is {math.ceil(size / 1024):,} KB; a study file may be at most "
        f"{settings.MAX_IMPORT_KB:,} KB (DJANGO_MAX_IMPORT_KB)"
    )


def read_images(folder, study_file):
    """{name: Master} of every image `study_file` lists, read from `folder` (beside the file),
    and the file's digests set from them; StudyFileError names the first image refused."""
    if not study_file.images:
        return {}
    if folder.is_symlink():
        raise StudyFileError(
            f"the image folder {folder.name}/ is a symbolic link; only plain folders are read"
        )
    masters = {image["name"]: read_image(folder, image["name"]) for image in study_file.images}
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

    Returns what happened ("created", "updated" or "unchanged") and the names
    of what changed. An unchanged study is not saved, so updated_at stays. A
    study created or updated keeps a revision, as an admin save does, so the
    imported text (the seed's, say) can be restored from the admin's History.
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
            .prefetch_related("outcomes", "images")
            .filter(slug=study_file.slug)
            .first()
        )
        if study is None:
            result, study = "created", CaseStudy(slug=study_file.slug)
            changed = ["tags", "outcomes", "images"]
        else:
            changed = StudyFile.from_study(study).differences(study_file)
            if not changed:
                return "unchanged", []
            result = "updated"
        if not dry_run:
            for name, value in study_file.fields.items():
                setattr(study, name, value)
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
        return result, changed


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
