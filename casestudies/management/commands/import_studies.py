from collections import Counter
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from casestudies.models import CaseStudy
from casestudies.studyfiles import StudyFileError, parse_study_file

SEED_DIR = Path(__file__).resolve().parents[2] / "seed"


class Command(BaseCommand):
    help = (
        "Create or update case studies from Markdown files with front matter, one "
        "study per file, matched by slug. Without a directory, loads the seed studies."
    )

    def add_arguments(self, parser):
        parser.add_argument("directory", nargs="?", default=str(SEED_DIR))
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help="Do nothing when the database already holds a case study.",
        )
        parser.add_argument("--dry-run", action="store_true", help="Say what would change, change nothing.")

    def handle(self, directory, if_empty, dry_run, **options):
        directory = Path(directory)
        if not directory.is_dir():
            raise CommandError(f"{directory} is not a directory.")
        if if_empty and CaseStudy.objects.exists():
            self.stdout.write("The database already has case studies; nothing imported.")
            return

        counts = Counter()
        slug_files = {}
        for path in sorted(directory.glob("*.md")):
            try:
                study_file = parse_study_file(path.read_text(encoding="utf-8"))
                if study_file.slug in slug_files:
                    raise StudyFileError(
                        f"slug {study_file.slug!r} is already used by {slug_files[study_file.slug]}"
                    )
            except (StudyFileError, UnicodeDecodeError) as error:
                counts["failed"] += 1
                self.stderr.write(f"{path.name}: {error}")
                continue
            slug_files[study_file.slug] = path.name
            outcome = import_study(study_file, dry_run=dry_run)
            counts[outcome] += 1
            if outcome != "unchanged":
                self.stdout.write(f"{'would be ' if dry_run else ''}{outcome}: {path.name}")

        self.stdout.write(
            f"{counts['created']} created, {counts['updated']} updated, "
            f"{counts['unchanged']} unchanged, {counts['failed']} failed"
            + (" (dry run: nothing was changed)" if dry_run else "")
        )
        if counts["failed"]:
            raise CommandError(f"{counts['failed']} file(s) could not be imported; see above.")


def import_study(study_file, dry_run=False):
    """Create or update one study from its file; returns what happened."""
    with transaction.atomic():
        study = CaseStudy.objects.filter(slug=study_file.slug).first()
        if study is None:
            outcome = "created"
            study = CaseStudy(slug=study_file.slug)
        else:
            current_tags = [tag.name.lower() for tag in study.tag_list]
            same_fields = all(getattr(study, name) == value for name, value in study_file.fields.items())
            if same_fields and current_tags == [tag.lower() for tag in study_file.tags]:
                return "unchanged"
            outcome = "updated"
        if not dry_run:
            for name, value in study_file.fields.items():
                setattr(study, name, value)
            study.save()
            study.tags.set(study_file.tags, clear=True)
        return outcome
