import os
import secrets
import stat
from collections import Counter
from pathlib import Path

from django.core.files.storage import default_storage
from django.core.management.base import BaseCommand, CommandError

from casestudies import images
from casestudies.management.progress import progress, say
from casestudies.models import CaseStudy, Tag
from casestudies.studyfiles import TAGS_FILE, StudyFile, tags_to_text
from siteprofile import profilefile
from siteprofile.models import SiteProfile


class Command(BaseCommand):
    help = (
        "Write the site's content to DIR (the export is a backup): every case study, drafts "
        "and scheduled ones included, as one Markdown file with front matter per study, named "
        "<slug>.md, with its old slugs, and its images' masters beside it as <slug>/<image "
        "name>; every tag as spelled, with its slug, in tags.yaml; the site profile in "
        "site.yaml. import_studies reads them back. Files that are already up to date are "
        "left untouched, and a study's folder keeps only the images it has; other files in "
        "DIR are left alone."
    )

    def add_arguments(self, parser):
        parser.add_argument("directory", help="Where to write the files; created if missing.")
        parser.add_argument(
            "--dry-run", action="store_true", help="Say which files would be written, write nothing."
        )

    def handle(self, directory, dry_run, verbosity, **options):
        directory = Path(directory)
        if directory.exists() and not directory.is_dir():
            raise CommandError(f"{directory} is not a directory.")
        if not dry_run:
            directory.mkdir(parents=True, exist_ok=True)

        # Seven queries however many studies: the studies, their tags, outcomes, images and old slugs,
        # every tag, and the site profile with its links.
        studies = list(
            CaseStudy.objects.with_tags()
            .prefetch_related("outcomes", "images", "slug_redirects")
            .order_by("slug")
        )
        counts = Counter()
        for study in progress(studies, self, verbosity, "Exporting"):
            study_file = StudyFile.from_study(study)
            try:
                path, folder = study_paths(directory, study.slug)
                wanted = {path: study_file.to_text().encode("utf-8"), **image_files(folder, study)}
                for each in wanted:
                    check_plain_file(each, directory)
            except ExportError as error:
                counts["failed"] += 1
                say(self.stderr, f"{study_file.file_name}: {error}")
                continue
            # A study's folder holds its images and nothing else: one it no longer has is removed.
            # Never through a link: that would remove files elsewhere.
            stale = [
                each
                for each in (sorted(folder.iterdir()) if is_plain_folder(folder) else [])
                if each not in wanted and not each.is_dir()
            ]
            self.write(directory, path, wanted, stale, counts, dry_run, verbosity)
            if not dry_run and is_plain_folder(folder) and not any(folder.iterdir()):
                folder.rmdir()

        # The names of both have a dot or an underscore no slug has, so no study's file is ever one.
        site_files = {directory / TAGS_FILE: tags_to_text(Tag.objects.all())}
        profile = SiteProfile.load()
        if not profile._state.adding:
            site_files[directory / profilefile.FILE_NAME] = profilefile.ProfileFile.from_profile(
                profile
            ).to_text()
        failed_site_files = []
        for path, text in site_files.items():
            try:
                check_plain_file(path, directory)
            except ExportError as error:
                failed_site_files.append(path.name)
                say(self.stderr, f"{path.name}: {error}")
                continue
            # The summary counts studies; these say what became of them on their line.
            self.write(directory, path, {path: text.encode("utf-8")}, [], Counter(), dry_run, verbosity)

        if verbosity:
            self.report(directory, studies, counts, dry_run)
        failures = [f"{name} could not be exported" for name in failed_site_files]
        if counts["failed"]:
            failures.insert(0, f"{counts['failed']} study(ies) could not be exported")
        if failures:
            raise CommandError(f"{'; '.join(failures)}; see above.")

    def write(self, directory, path, wanted, stale, counts, dry_run, verbosity):
        """Write `wanted` ({path: bytes}, `path` the main file) where it differs and remove `stale`."""
        written = [each for each, data in wanted.items() if not is_already(each, data)]
        if not written and not stale:
            counts["unchanged"] += 1
            if verbosity > 1:
                say(self.stdout, f"unchanged: {path.name}")
            return
        counts["updated" if path.exists() else "created"] += 1
        for each in written:
            result = "updated" if each.exists() else "created"
            if not dry_run:
                each.parent.mkdir(exist_ok=True)
                write_file(each, wanted[each])
            if verbosity:
                say(self.stdout, f"{'would be ' if dry_run else ''}{result}: {shown(each, directory)}")
        for each in stale:
            if not dry_run:
                each.unlink()
            if verbosity:
                say(self.stdout, f"{'would be ' if dry_run else ''}removed: {shown(each, directory)}")

    def report(self, directory, studies, counts, dry_run):
        slugs = {study.slug for study in studies}
        others = sorted(
            f"{each.name}/" if each.is_dir() else each.name
            for each in (directory.iterdir() if directory.is_dir() else [])
            if (each.suffix == ".md" and each.stem not in slugs)
            or (each.is_dir() and not each.name.startswith(".") and each.name not in slugs)
        )
        if others:
            self.stdout.write(f"Left alone (no study has that slug): {', '.join(others)}")
        written = counts["created"] + counts["updated"]
        self.stdout.write(
            f"{written} {'would be ' if dry_run else ''}written ({counts['created']} created, "
            f"{counts['updated']} updated), {counts['unchanged']} unchanged, "
            + (f"{counts['failed']} failed, " if counts["failed"] else "")
            + f"{len(studies)} in total"
            + (" (dry run: nothing was written)" if dry_run else "")
        )


class ExportError(Exception):
    """A study that cannot be written, with the reason in words."""


def study_paths(directory, slug):
    """The study's file and image folder, both directly inside `directory`, or ExportError.

    The slug is checked by the form, but not when set by other means (the shell, a
    QuerySet.update), and "../x", "/x" or "." would write, or remove files, elsewhere.
    """
    path, folder = directory / f"{slug}.md", directory / slug
    if slug in {"", ".", ".."} or "\0" in slug or any(each.parent != directory for each in (path, folder)):
        raise ExportError(
            f"the slug {slug!r} is not a plain name, so this study is not written "
            "(its file would not be directly inside the export folder)"
        )
    return path, folder


def image_files(folder, study):
    """{path: bytes} of the masters of the study's images, each named as the body names it."""
    study_images = study.images.all()
    if study_images and (folder.is_symlink() or folder.exists()) and not is_plain_folder(folder):
        raise ExportError(f"{folder.name} is not a plain folder, so its images are not written there")
    files = {}
    for image in study_images:
        try:
            # Names come from the database: one naming a folder would write outside `folder`.
            name = images.plain_name(image.name)
            with default_storage.open(image.master_name) as master:
                files[folder / name] = master.read()
        except images.ImageRefused as error:
            raise ExportError(" ".join(error.messages)) from None
        except OSError as error:
            raise ExportError(
                f"the picture of image {image.name!r} ({image.master_name}) could not be read from "
                f"the media storage ({error.strerror or error})"
            ) from None
    return files


def is_plain_folder(path):
    return path.is_dir() and not path.is_symlink()


def is_already(path, data):
    # check_plain_file() has refused links by now; a link made since is still not read through.
    return path.is_file() and not path.is_symlink() and path.read_bytes() == data


def shown(path, directory):
    return path.relative_to(directory).as_posix()


def check_plain_file(path, directory):
    """ExportError unless `path` is missing or a plain file: the export never writes through a link."""
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return
    if stat.S_ISLNK(mode):
        raise ExportError(
            f"{shown(path, directory)} is a symbolic link; export writes only plain files, "
            "so it is left alone"
        )
    if not stat.S_ISREG(mode):
        raise ExportError(f"{shown(path, directory)} is not a plain file, so it is left alone")


def write_file(path, data):
    """Replace the file in one step, so an interrupted export never leaves half a study.

    The new text goes to a file of a random name that this call creates (O_EXCL), never
    through a link someone left there (O_NOFOLLOW), and is then moved over `path`, which
    replaces whatever is at `path` itself, a link included, without following it.
    """
    partial = path.with_name(f".{path.name}.{secrets.token_hex(8)}.partial")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o666)
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
