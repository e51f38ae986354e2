from collections import Counter
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from casestudies.management.progress import progress, say
from casestudies.models import CaseStudy
from casestudies.studyfiles import StudyFile


class Command(BaseCommand):
    help = (
        "Write every case study, drafts and scheduled ones included (the export is a "
        "backup), to DIR as one Markdown file with front matter per study, named "
        "<slug>.md; import_studies reads them back. Files that are already up to date "
        "are left untouched; other files in DIR are left alone."
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

        # Three queries however many studies: the studies, their tags, their outcomes.
        studies = list(CaseStudy.objects.with_tags().prefetch_related("outcomes").order_by("slug"))
        counts = Counter()
        names = set()
        for study in progress(studies, self, verbosity, "Exporting"):
            study_file = StudyFile.from_study(study)
            path = directory / study_file.file_name
            names.add(path.name)
            data = study_file.to_text().encode("utf-8")
            if path.is_file() and path.read_bytes() == data:
                counts["unchanged"] += 1
                if verbosity > 1:
                    say(self.stdout, f"unchanged: {path.name}")
                continue
            result = "updated" if path.exists() else "created"
            counts[result] += 1
            if not dry_run:
                write_file(path, data)
            if verbosity:
                say(self.stdout, f"{'would be ' if dry_run else ''}{result}: {path.name}")

        if not verbosity:
            return
        others = sorted(path.name for path in directory.glob("*.md") if path.name not in names)
        if others:
            self.stdout.write(f"Left alone (no study has that slug): {', '.join(others)}")
        written = counts["created"] + counts["updated"]
        self.stdout.write(
            f"{written} {'would be ' if dry_run else ''}written ({counts['created']} created, "
            f"{counts['updated']} updated), {counts['unchanged']} unchanged, {len(studies)} in total"
            + (" (dry run: nothing was written)" if dry_run else "")
        )


def write_file(path, data):
    """Replace the file in one step, so an interrupted export never leaves half a study."""
    partial = path.with_name(f".{path.name}.partial")
    partial.write_bytes(data)
    partial.replace(path)
