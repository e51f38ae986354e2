from collections import Counter
from pathlib import Path

import reversion
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from casestudies.management.progress import progress, say
from casestudies.models import CaseStudy, Outcome
from casestudies.studyfiles import StudyFile, StudyFileError, parse_study_file

SEED_DIR = Path(__file__).resolve().parents[2] / "seed"


class Command(BaseCommand):
    help = (
        "Create or update case studies from Markdown files with front matter, one "
        "study per file (as export_studies writes them), matched by slug. Without a "
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
                study_file = parse_study_file(path.read_text(encoding="utf-8"))
                if study_file.slug in slug_files:
                    raise StudyFileError(
                        f"slug {study_file.slug!r} is already used by {slug_files[study_file.slug]}"
                    )
            except (StudyFileError, UnicodeDecodeError) as error:
                counts["failed"] += 1
                say(self.stderr, f"{path.name}: {error}")
                continue
            slug_files[study_file.slug] = path.name
            result, changed = import_study(study_file, dry_run=dry_run, source=path.name)
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


def import_study(study_file, dry_run=False, source=None):
    """Create or update one study from its file.

    Returns what happened ("created", "updated" or "unchanged") and the names
    of what changed. An unchanged study is not saved, so updated_at stays. A
    study created or updated keeps a revision, as an admin save does, so the
    imported text (the seed's, say) can be restored from the admin's History.
    """
    with transaction.atomic(), reversion.create_revision():
        reversion.set_comment(f"Imported from {source or 'a study file'}.")
        study = (
            CaseStudy.objects.with_tags().prefetch_related("outcomes").filter(slug=study_file.slug).first()
        )
        if study is None:
            result, study = "created", CaseStudy(slug=study_file.slug)
            changed = ["tags", "outcomes"]
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
        return result, changed
