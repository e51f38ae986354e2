"""The author's side of images: uploading them with a study, refusals on the row, the preview."""

import io
import struct
import zlib
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from django.conf import settings
from django.contrib.auth.models import Permission
from django.core.files.storage import FileSystemStorage, default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.client import BOUNDARY, encode_multipart
from PIL import Image, PngImagePlugin

from casestudies import images
from casestudies.checks import review
from casestudies.models import CaseStudy, StudyImage
from tests.factories import add_image, image_bytes
from tests.test_admin import CHANGELIST, study_form
from tests.test_previews import PREVIEW_URL

pytestmark = pytest.mark.django_db


def image_rows(*rows, initial=0):
    """The images inline's fields: `rows` are dicts of a row's fields, without the prefix."""
    data = {"images-TOTAL_FORMS": str(len(rows)), "images-INITIAL_FORMS": str(initial)}
    for index, row in enumerate(rows):
        data |= {f"images-{index}-{field}": value for field, value in row.items()}
    return data


def new_row(data, filename, **fields):
    return {"upload": SimpleUploadedFile(filename, data), "alt": "A picture", "credit": "", **fields}


def saved_row(image, **fields):
    row = {"id": image.pk, "study": image.study_id, "name": image.name, "alt": image.alt, "credit": ""}
    return {**row, **({"is_cover": "on"} if image.is_cover else {}), **fields}


def change(client, study, *rows, initial=0, **overrides):
    form = study_form(**{"title": study.title, "slug": study.slug, "body": study.body, **overrides})
    return client.post(f"{CHANGELIST}{study.pk}/change/", form | image_rows(*rows, initial=initial))


def row_errors(response):
    [formset] = [
        each.formset for each in response.context["inline_admin_formsets"] if each.formset.prefix == "images"
    ]
    return formset.errors


def media_files():
    root = Path(settings.MEDIA_ROOT)
    return sorted(path.relative_to(root) for path in root.rglob("*") if path.is_file())


def messages_of(response):
    return [str(message) for message in response.context["messages"]]


# Uploading


def test_a_cover_and_two_figures_are_stored_with_a_new_study_whose_body_shows_the_figures(superuser_client):
    body = (
        '## Plan\r\n\r\n![The whiteboard](whiteboard.png "Where it started")\r\n\r\n![A chart](chart.jpg)\r\n'
    )
    rows = image_rows(
        new_row(image_bytes(64, 48), "cover.png", alt="The team", is_cover="on"),
        new_row(image_bytes(64, 48), "whiteboard.png", alt="A whiteboard", credit="Photo: Ada"),
        new_row(image_bytes(48, 32, "JPEG"), "IMG_0001.jpg", name="chart.jpg", alt="Latency"),
    )
    response = superuser_client.post(CHANGELIST + "add/", study_form(body=body) | rows, follow=True)
    assert response.redirect_chain, response.context["adminform"].form.errors
    study = CaseStudy.objects.get(slug="a-new-study")
    assert [(image.name, image.is_cover) for image in study.images.all()] == [
        ("cover.png", True),
        ("chart.jpg", False),
        ("whiteboard.png", False),
    ]
    assert study.cover.alt == "The team"
    for image in study.images.all():
        assert all(default_storage.exists(name) for name in image.file_names)
    # Rendered again once its images were saved: both figures, and no word of a missing image.
    soup = BeautifulSoup(study.body_html, "html.parser")
    figures = soup.select("figure.figure")
    assert len(figures) == 2
    assert figures[0].picture.img["alt"] == "The whiteboard"
    assert figures[0].figcaption.get_text() == "Where it started — Photo: Ada"
    assert figures[1].picture.img["alt"] == "A chart"
    assert not [message for message in messages_of(response) if "image" in message.lower()]


def test_a_saved_image_keeps_its_picture_when_only_its_words_change(superuser_client, study):
    image = add_image(study, "figure.png", width=64, height=48)
    response = change(superuser_client, study, saved_row(image, alt="A better description"), initial=1)
    assert response.status_code == 302
    changed = StudyImage.objects.get(pk=image.pk)
    assert (changed.alt, changed.digest) == ("A better description", image.digest)


def test_an_image_deleted_and_uploaded_again_under_its_name_in_one_save(superuser_client, study):
    old = add_image(study, "figure.png", width=64, height=48)
    response = change(
        superuser_client,
        study,
        saved_row(old, DELETE="on"),
        new_row(image_bytes(32, 32), "figure.png"),
        initial=1,
    )
    assert response.status_code == 302
    [image] = study.images.all()
    assert (image.name, image.width) == ("figure.png", 32)


def test_the_cover_moves_from_one_image_to_another_in_one_save(superuser_client, study):
    first = add_image(study, "a.png", width=32, height=32, is_cover=True)
    second = add_image(study, "b.png", width=32, height=32)
    rows = [saved_row(first, is_cover=""), saved_row(second, is_cover="on")]
    assert change(superuser_client, study, *rows, initial=2).status_code == 302
    assert study.cover == second


def test_a_jpeg_is_kept_upright_without_its_exif_gps_position_or_orientation(superuser_client, study):
    exif = Image.Exif()
    exif[0x0112] = 6  # stored on its side: to be turned a quarter clockwise
    gps = exif.get_ifd(0x8825)
    gps[1] = "N"
    gps[2] = (51.0, 30.0, 0.0)
    photo = image_bytes(60, 40, "JPEG", exif=exif)
    assert b"Exif" in photo
    assert change(superuser_client, study, new_row(photo, "photo.jpg")).status_code == 302
    [image] = study.images.all()
    assert (image.width, image.height) == (40, 60)
    for name in image.file_names:
        data = default_storage.open(name).read()
        assert b"Exif" not in data, name
        with Image.open(io.BytesIO(data)) as kept:
            assert not kept.getexif(), name
            assert kept.size == (40, 60), name


def test_a_file_named_with_folders_is_kept_by_its_plain_name_and_only_in_the_media_folder(
    superuser_client, study
):
    # Django's upload parser keeps only the last part of a file's name, before any code of ours runs.
    fields = study_form(title=study.title, slug=study.slug, body=study.body)
    fields |= image_rows({"alt": "A picture", "credit": ""})
    disposition = 'form-data; name="images-0-upload"; filename="../../x.png"'
    upload = f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\nContent-Type: image/png\r\n\r\n"
    upload = upload.encode() + image_bytes(32, 32) + b"\r\n"
    response = superuser_client.post(
        f"{CHANGELIST}{study.pk}/change/",
        upload + encode_multipart(BOUNDARY, fields),
        content_type=f"multipart/form-data; boundary={BOUNDARY}",
    )
    assert response.status_code == 302
    [image] = study.images.all()
    assert image.name == "x.png"
    assert media_files() == sorted(Path(name) for name in image.file_names)


# Refusals: an error on the row, nothing stored


def png_claiming(width, height):
    """A small PNG whose header claims `width` by `height` pixels."""
    data = bytearray(image_bytes(16, 16))
    header = b"IHDR" + struct.pack(">II", width, height) + bytes(data[24:29])
    data[16:29] = header[4:]
    data[29:33] = struct.pack(">I", zlib.crc32(header))
    return bytes(data)


def png_with_text(key, text):
    info = PngImagePlugin.PngInfo()
    info.add_text(key, text)
    return image_bytes(16, 16, pnginfo=info)


def truncated_jpeg():
    data = image_bytes(64, 64, "JPEG")
    return data[: len(data) // 2]


HOSTILE_UPLOADS = {
    "svg": (
        "drawing.svg",
        lambda: b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
        "is an SVG drawing",
    ),
    "svg named png": ("drawing.png", lambda: b'<?xml version="1.0"?><svg></svg>', "is an SVG drawing"),
    "decompression bomb": ("bomb.png", lambda: png_claiming(8000, 7000), "8000×7000 pixels (56 megapixels)"),
    "truncated jpeg": ("cut.jpg", truncated_jpeg, "could not be read as an image"),
    "script appended": (
        "polyglot.png",
        lambda: image_bytes(16, 16) + b"<script>alert(1)</script>",
        "carries HTML or script",
    ),
    "script in a text chunk": (
        "polyglot.png",
        lambda: png_with_text("Comment", "<script>alert(1)</script>"),
        "carries HTML or script",
    ),
    "over the size limit": (
        "huge.png",
        lambda: image_bytes(16, 16) + bytes(1024 * 1024),
        "MB; images may be at most 1 MB",
    ),
    "text renamed png": ("notes.png", lambda: b"Just some notes, not a picture.\n" * 20, "is not an image"),
    "name starting with a dot": (".hidden.png", lambda: image_bytes(16, 16), "names a folder"),
}


@pytest.mark.parametrize("case", HOSTILE_UPLOADS)
def test_a_hostile_upload_is_refused_on_its_row_and_nothing_is_stored(
    superuser_client, study, settings, case
):
    settings.MAX_IMAGE_MB = 1
    filename, make, reason = HOSTILE_UPLOADS[case]
    response = change(superuser_client, study, new_row(make(), filename))
    assert response.status_code == 200
    [errors] = row_errors(response)
    assert reason in " ".join(errors["upload"])
    assert not StudyImage.objects.exists()
    assert media_files() == []


def test_a_typed_name_with_folders_is_refused(superuser_client, study):
    response = change(superuser_client, study, new_row(image_bytes(16, 16), "x.png", name="../../x.png"))
    assert response.status_code == 200
    [errors] = row_errors(response)
    assert "names a folder" in " ".join(errors["name"])
    assert not StudyImage.objects.exists()
    assert media_files() == []


def test_a_name_another_image_has_is_refused_saying_so(superuser_client, study):
    existing = add_image(study, "figure.png", width=32, height=32)
    before = media_files()
    response = change(
        superuser_client, study, saved_row(existing), new_row(image_bytes(16, 16), "figure.png"), initial=1
    )
    assert response.status_code == 200
    assert row_errors(response)[1]["name"] == [
        "Another image of this study is named “figure.png”: give this one another name."
    ]
    assert list(study.images.all()) == [existing]
    assert media_files() == before


def test_two_covers_are_refused(superuser_client, study):
    rows = [new_row(image_bytes(16, 16), f"{name}.png", is_cover="on") for name in "ab"]
    response = change(superuser_client, study, *rows)
    assert response.status_code == 200
    assert row_errors(response)[1]["is_cover"] == ["A study has one cover: tick only one image."]
    assert not StudyImage.objects.exists()


def test_a_new_row_needs_a_file_and_alt_text(superuser_client, study):
    response = change(
        superuser_client, study, {"name": "figure.png", "alt": "", "credit": "", "is_cover": "on"}
    )
    assert response.status_code == 200
    [errors] = row_errors(response)
    assert set(errors) == {"upload", "alt"}


# The inline


def test_the_inline_shows_a_thumbnail_and_the_markdown_to_paste(superuser_client, study):
    figure = add_image(study, "whiteboard.png", width=64, height=48, alt="A whiteboard")
    add_image(study, "cover photo.png", width=64, height=48, alt="The team", is_cover=True)
    soup = BeautifulSoup(superuser_client.get(f"{CHANGELIST}{study.pk}/change/").content, "html.parser")
    group = soup.select_one("#images-group")
    thumbnail = group.select_one("#images-1 img.study-image-thumbnail")
    url, width = figure.renditions("webp")[0]
    assert (thumbnail["src"], thumbnail["width"], thumbnail["height"]) == (url, str(width), "48")
    codes = [code.get_text() for code in group.select("code.study-image-markdown")]
    assert codes == [
        '![The team](<cover photo.png> "Caption")',
        '![A whiteboard](whiteboard.png "Caption")',
    ]
    assert "shows above the body by itself" in group.select_one("#images-0 .study-image-note").get_text()
    # Room for two uploads, each taking only the image types the site accepts.
    uploads = group.select("tr.form-row:not(.empty-form) input[type=file]")
    assert len(uploads) == 4
    assert uploads[-1]["accept"] == "image/jpeg,image/png,image/webp,image/avif,image/gif"
    assert soup.select_one("textarea[name=body]")["data-preview-study"] == str(study.pk)


@pytest.mark.parametrize(
    ("alt", "written"),
    [("A *bold* claim, <not> HTML", "A *bold* claim, <not> HTML"), (r"A [rough] sketch \ `draft`", "")],
)
def test_the_snippet_shows_the_figure_it_promises(superuser_client, study, alt, written):
    image = add_image(study, "cover photo (1).png", width=32, height=32, alt=alt)
    soup = BeautifulSoup(superuser_client.get(f"{CHANGELIST}{study.pk}/change/").content, "html.parser")
    snippet = soup.select_one("code.study-image-markdown").get_text()
    assert snippet == f'![{written}](<cover photo (1).png> "Caption")'
    study.body = snippet
    study.save()
    figure = BeautifulSoup(study.body_html, "html.parser").select_one("figure.figure")
    assert figure.img["alt"] == alt
    assert figure.figcaption.get_text() == "Caption"
    assert image.renditions("webp")[0][0] in str(figure.picture)


def test_the_add_page_has_no_study_for_the_preview(superuser_client):
    soup = BeautifulSoup(superuser_client.get(CHANGELIST + "add/").content, "html.parser")
    assert not soup.select_one("textarea[name=body]").has_attr("data-preview-study")


# Warnings, each told once


def test_image_problems_are_told_once_at_save(superuser_client, study):
    body = (
        "![Far away](https://example.com/far.png)\r\n\r\n![Missing](missing.png)\r\n\r\n"
        '<img src="//example.com/raw.png" alt="Raw">\r\n'
    )
    response = superuser_client.post(
        f"{CHANGELIST}{study.pk}/change/",
        study_form(title=study.title, slug=study.slug, body=body) | image_rows(),
        follow=True,
    )
    told = messages_of(response)
    for src in ["https://example.com/far.png", "“missing.png”", "//example.com/raw.png"]:
        assert len([message for message in told if src in message]) == 1, (src, told)
    [raw] = [message for message in told if "raw.png" in message]
    assert "Content-Security-Policy" in raw
    assert "![alt text](file-name)" in raw


def test_an_uploaded_figure_is_no_image_from_another_site(study, settings):
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "tests.test_images_admin.ElsewhereStorage"},
    }
    add_image(study, "figure.png", width=32, height=32)
    study.body = "![A figure](figure.png)"
    study.save()
    assert "https://media.example.com/" in study.body_html
    assert review(study) == []


class ElsewhereStorage(FileSystemStorage):
    """Files served from another host, as a bucket behind a CDN would be."""

    def url(self, name):
        return f"https://media.example.com/{name}"


# The live preview


def test_the_preview_of_a_saved_study_shows_its_figures_and_warns_of_images_it_cannot_show(
    staff_client, study
):
    image = add_image(study, "whiteboard.png", width=64, height=48, alt="A whiteboard")
    body = "![A whiteboard](whiteboard.png)\n\n![Far](https://example.com/a.png)\n\n![Gone](gone.png)"
    response = staff_client.post(PREVIEW_URL, {"body": body, "study": study.pk})
    assert response.status_code == 200
    payload = response.json()
    figure = BeautifulSoup(payload["html"], "html.parser").select_one("figure.figure")
    assert figure.img["alt"] == "A whiteboard"
    assert image.renditions("webp")[0][0] in str(figure)
    [far, gone] = payload["problems"]
    assert "https://example.com/a.png is on another site" in far
    assert "No image named “gone.png”" in gone


def test_the_preview_without_a_study_shows_no_uploads_and_says_nothing_of_names(staff_client):
    payload = staff_client.post(PREVIEW_URL, {"body": "![A whiteboard](whiteboard.png)"}).json()
    assert "<picture>" not in payload["html"]
    assert payload["problems"] == []


@pytest.mark.parametrize(
    ("study_id", "status"), [("999999", 404), ("abc", 400), ("1" * 40, 400), ("-1", 400)]
)
def test_the_preview_of_an_unknown_study_is_a_json_error(staff_client, study_id, status):
    response = staff_client.post(PREVIEW_URL, {"body": "Text", "study": study_id})
    assert response.status_code == status
    assert response.json()["error"]


def test_staff_who_may_not_change_a_study_cannot_preview_its_images(client, django_user_model, study):
    add_image(study, "whiteboard.png", width=32, height=32)
    user = django_user_model.objects.create_user("writer", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="add_casestudy"))
    client.force_login(user)
    body = "![A whiteboard](whiteboard.png)"
    response = client.post(PREVIEW_URL, {"body": body, "study": study.pk})
    assert response.status_code == 403
    assert "html" not in response.json()
    # A new study of their own they may still preview.
    assert client.post(PREVIEW_URL, {"body": body}).status_code == 200


@pytest.mark.django_db(transaction=True)
def test_renditions_are_made_before_the_admins_transaction_takes_the_write_lock(
    superuser_client, monkeypatch
):
    # On SQLite the admin's transaction holds the write lock from its start: encoding AVIF and
    # WebP inside it would keep every other save waiting.
    in_transaction = []
    make = images.make_renditions

    def recording(master):
        in_transaction.append(connection.in_atomic_block)
        return make(master)

    monkeypatch.setattr(images, "make_renditions", recording)
    rows = image_rows(new_row(image_bytes(64, 48), "chart.png", alt="A chart"))
    response = superuser_client.post(CHANGELIST + "add/", study_form() | rows)
    assert response.status_code == 302
    assert in_transaction == [False]
    image = StudyImage.objects.get()
    assert all(default_storage.exists(name) for name in image.file_names)
