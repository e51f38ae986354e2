"""List the image files that no image of any study uses; with --delete, remove them.

Files outlive their image when a change to the renditions gives them new names, when a
deletion's clean-up failed, or when an upload was written but never saved. A file newer
than --min-age is left alone: it may belong to an upload being saved right now.
"""

from datetime import timedelta

from django.core.files.storage import default_storage
from django.core.management.base import BaseCommand
from django.utils import timezone

from casestudies import images
from casestudies.models import StudyImage


def used_names():
    rows = StudyImage.objects.values_list("digest", "extension", "width").distinct()
    return {name for row in rows for name in images.file_names(*row)}


class Command(BaseCommand):
    help = "List the files under images/ in the media storage that no study's image uses, with their sizes."

    def add_arguments(self, parser):
        parser.add_argument("--delete", action="store_true", help="Remove the files listed.")
        parser.add_argument(
            "--min-age",
            type=int,
            default=60,
            metavar="MINUTES",
            help="Leave files younger than this alone (default: 60).",
        )

    def handle(self, *args, delete=False, min_age=60, **options):
        stored = set(images.stored_names()) - used_names()
        cutoff = timezone.now() - timedelta(minutes=min_age)
        orphans = [
            (name, default_storage.size(name))
            for name in sorted(stored)
            if min_age <= 0 or default_storage.get_modified_time(name) <= cutoff
        ]
        if delete:
            # An upload saved since the list was made may have taken one of these files up again.
            still_unused = {name for name, _size in orphans} - used_names()
            orphans = [(name, size) for name, size in orphans if name in still_unused]
        for name, size in orphans:
            self.stdout.write(f"{size:>12,}  {name}")
            if delete:
                default_storage.delete(name)
        total = sum(size for _name, size in orphans)
        verb = "deleted" if delete else "unused"
        self.stdout.write(f"{len(orphans)} files {verb}, {total:,} bytes ({total / 1024 / 1024:.1f} MB).")
