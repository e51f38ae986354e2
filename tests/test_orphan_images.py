"""manage.py orphan_images: the image files no study uses, listed with sizes, and removed on request."""

import datetime
import io

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.db import connection

from casestudies import images
from casestudies.models import StudyImage
from tests.factories import CaseStudyFactory, add_image

pytestmark = pytest.mark.django_db

STRAY_RENDITION = "images/0123456789abcdef0123-480.webp"
STRAY_MASTER = "images/fedcba9876543210fedc.png"


def orphan_images(*args):
    output = io.StringIO()
    call_command("orphan_images", *args, stdout=output)
    return output.getvalue().splitlines()


@pytest.fixture
def stored(study):
    """Two images in use (one picture shared by two studies) and two files nobody uses."""
    used = add_image(study, "figure.png", width=500, height=300)
    StudyImage.objects.create(
        study=CaseStudyFactory(),
        name="same.png",
        alt="The same picture",
        **{field: getattr(used, field) for field in ("digest", "extension", "width", "height")},
    )
    other = add_image(study, "other.png", width=400, height=300)
    default_storage.save(STRAY_RENDITION, ContentFile(b"x" * 1500))
    default_storage.save(STRAY_MASTER, ContentFile(b"y" * 500))
    default_storage.save("elsewhere.txt", ContentFile(b"not an image"))
    return [used, other]


def test_lists_the_unused_files_with_their_sizes_and_a_total(stored):
    lines = orphan_images("--min-age", "0")
    assert lines == [
        f"{1500:>12,}  {STRAY_RENDITION}",
        f"{500:>12,}  {STRAY_MASTER}",
        "2 files unused, 2,000 bytes (0.0 MB).",
    ]
    assert default_storage.exists(STRAY_RENDITION)
    assert default_storage.exists(STRAY_MASTER)


def test_delete_removes_them_and_nothing_in_use(stored):
    in_use = {name for image in stored for name in image.file_names}
    assert in_use <= set(images.stored_names())
    assert orphan_images("--min-age", "0", "--delete")[-1] == "2 files deleted, 2,000 bytes (0.0 MB)."
    assert set(images.stored_names()) == in_use
    assert default_storage.exists("elsewhere.txt")
    assert orphan_images("--min-age", "0") == ["0 files unused, 0 bytes (0.0 MB)."]


def test_an_image_deleted_in_the_database_alone_leaves_its_files_to_be_found(stored):
    used, other = stored
    # Deleted in SQL, past the signal that would delete its files: the row is gone, the files stay.
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {StudyImage._meta.db_table} WHERE id = %s", [other.pk])
    lines = orphan_images("--min-age", "0")
    assert {line.split()[-1] for line in lines[:-1]} == {STRAY_MASTER, STRAY_RENDITION, *other.file_names}
    assert not set(used.file_names) & {line.split()[-1] for line in lines}


def test_recent_files_are_left_alone(stored, time_machine):
    assert orphan_images() == ["0 files unused, 0 bytes (0.0 MB)."]
    assert orphan_images("--delete") == ["0 files deleted, 0 bytes (0.0 MB)."]
    time_machine.move_to(datetime.datetime.now(datetime.UTC) + datetime.timedelta(minutes=61))
    assert orphan_images()[-1] == "2 files unused, 2,000 bytes (0.0 MB)."


def test_an_empty_storage_has_nothing_to_list(db):
    assert orphan_images() == ["0 files unused, 0 bytes (0.0 MB)."]
