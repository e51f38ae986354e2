"""Uploaded images: what is kept, what is refused, what visitors are sent, and when files go."""

import io
import struct
import zlib

import pytest
from django.core.files.storage import default_storage
from django.core.management import call_command
from PIL import Image

from casestudies import images
from casestudies.models import StudyImage
from casestudies.rendering import render_markdown
from tests.factories import CaseStudyFactory, add_image, image_bytes

pytestmark = pytest.mark.django_db


def gps_photo(orientation=6):
    """A camera's JPEG: turned by its EXIF orientation, with a GPS position, a serial and an author."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010F] = "Camera Maker"
    exif[0x013B] = "Author Name"
    exif.get_ifd(0x8769)[0xA431] = "SERIAL12345"
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2], gps[3], gps[4] = "N", (51.0, 30.0, 26.0), "W", (0.0, 7.0, 39.0)
    return image_bytes(800, 600, "JPEG", exif=exif, quality=90)


def opened(data):
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


# What is kept


def test_a_photo_is_kept_upright_with_no_metadata_in_any_file():
    photo = gps_photo()
    assert b"Author Name" in photo
    assert b"SERIAL12345" in photo
    master = images.accept(photo, "photo.jpg")
    # Orientation 6: the camera was turned; the kept picture is upright.
    assert (master.width, master.height) == (600, 800)
    files = {master.name: master.data, **images.make_renditions(master)}
    for name, data in files.items():
        image = opened(data)
        assert not image.getexif(), name
        assert not {"exif", "xmp", "icc_profile"} & set(image.info), name
        for secret in (b"Exif", b"Author Name", b"SERIAL12345", b"Camera Maker"):
            assert secret not in data, (name, secret)
        assert image.width * 800 == image.height * 600, name


def test_a_clean_master_is_kept_byte_for_byte_so_an_import_keeps_what_an_export_wrote():
    for data in (gps_photo(), image_bytes(300, 200, "PNG"), image_bytes(300, 200, "GIF")):
        master = images.accept(data, "picture")
        assert images.accept(master.data, "picture").data == master.data


def test_a_plain_png_or_jpeg_is_not_encoded_again():
    for data in (image_bytes(300, 200, "PNG"), image_bytes(300, 200, "JPEG", quality=80)):
        assert images.accept(data, "picture").data == data


def test_metadata_in_a_png_or_webp_is_dropped():
    png = io.BytesIO()
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("Author", "Author Name")
    opened(image_bytes(300, 200, "PNG")).save(png, "PNG", pnginfo=info)
    webp = io.BytesIO()
    exif = Image.Exif()
    exif[0x013B] = "Author Name"
    opened(image_bytes(300, 200, "PNG")).save(webp, "WEBP", exif=exif)
    for data in (png.getvalue(), webp.getvalue()):
        assert b"Author Name" in data
        assert b"Author Name" not in images.accept(data, "picture").data


@pytest.mark.parametrize("image_format", ["JPEG", "PNG", "WEBP", "AVIF", "GIF"])
def test_each_accepted_format_gives_avif_and_webp_renditions(image_format):
    master = images.accept(image_bytes(1000, 500, image_format), f"picture.{image_format.lower()}")
    renditions = images.make_renditions(master)
    assert sorted(renditions) == sorted(images.rendition_names(master.digest, 1000))
    for name, data in renditions.items():
        assert opened(data).format == ("AVIF" if name.endswith(".avif") else "WEBP")


def test_renditions_are_never_wider_than_the_picture():
    assert images.rendition_widths(4000) == [480, 960, 1440, 1920]
    assert images.rendition_widths(1000) == [480, 960, 1000]
    assert images.rendition_widths(960) == [480, 960]
    assert images.rendition_widths(300) == [300]
    master = images.accept(image_bytes(1000, 500), "picture.png")
    sizes = {name: opened(data).size for name, data in images.make_renditions(master).items()}
    assert sorted({size for size in sizes.values()}) == [(480, 240), (960, 480), (1000, 500)]


def test_a_gif_is_shown_by_its_first_frame():
    frames = [Image.new("RGB", (60, 40), colour) for colour in ("red", "blue")]
    output = io.BytesIO()
    frames[0].save(output, "GIF", save_all=True, append_images=frames[1:])
    master = images.accept(output.getvalue(), "animated.gif")
    assert master.extension == "png"
    assert opened(master.data).convert("RGB").getpixel((0, 0)) == (255, 0, 0)


# What is refused


def png_claiming(width, height):
    """A tiny PNG whose header claims `width` x `height` pixels."""
    data = bytearray(image_bytes(8, 8))
    header = struct.pack(">II", width, height) + bytes(data[24:29])
    data[16:29] = header
    data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + header))
    return bytes(data)


REFUSED = {
    "svg": (b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "x.svg", "SVG"),
    "svg renamed": (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>', "x.png", "SVG"),
    "bomb": (png_claiming(20000, 20000), "bomb.png", "megapixels"),
    "truncated": (image_bytes(400, 300, "JPEG")[:2000], "cut.jpg", "truncated"),
    "polyglot": (image_bytes(40, 30) + b"<script>alert(1)</script>", "poly.png", "HTML or script"),
    "html polyglot": (b"GIF89a<html><body>hi</body></html>", "poly.gif", "HTML or script"),
    "text": (b"just some words, not a picture", "notes.png", "not an image"),
    "tiff": (image_bytes(40, 30, "TIFF"), "scan.tiff", "not an image"),
}


@pytest.mark.parametrize("case", REFUSED)
def test_a_hostile_or_broken_file_is_refused_with_the_reason(case):
    data, name, reason = REFUSED[case]
    with pytest.raises(images.ImageRefused) as refused:
        images.accept(data, name)
    assert reason in refused.value.message


def test_a_file_over_the_size_limit_is_refused_before_it_is_read(settings):
    settings.MAX_IMAGE_MB = 1
    with pytest.raises(images.ImageRefused, match="at most 1 MB"):
        images.accept(b"\0" * (1024 * 1024 + 1), "big.png")


@pytest.mark.parametrize("name", ["../../x.png", "a/b.png", "..\\x.png", ".hidden.png", "x\x00.png", ""])
def test_a_name_that_tries_a_path_is_refused(name):
    with pytest.raises(images.ImageRefused):
        images.plain_name(name)


def test_a_plain_name_is_kept():
    assert images.plain_name("Whiteboard photo (2).jpg") == "Whiteboard photo (2).jpg"


# In a body


def test_a_body_shows_an_uploaded_image_as_a_figure_with_its_caption_and_credit(
    django_capture_on_commit_callbacks,
):
    study = CaseStudyFactory(body='Before.\n\n![The whiteboard](board.png "Our plan")\n\nAfter.')
    add_image(study, "board.png", width=2000, height=1000, credit="Photo: Ada")
    study.refresh_from_db()
    html = study.body_html
    assert '<figure class="figure"><picture>' in html
    assert "<figcaption>Our plan — Photo: Ada</figcaption>" in html
    assert 'alt="The whiteboard"' in html
    assert 'width="2000" height="1000"' in html
    assert 'loading="lazy" decoding="async"' in html
    assert html.count("<source ") == 2
    assert " 1920w" in html


def test_an_image_from_another_site_becomes_a_link_and_the_author_is_told():
    rendered = render_markdown("![Chart](https://example.com/chart.png)", {})
    assert "<img" not in rendered.html
    assert 'href="https://example.com/chart.png"' in rendered.html
    assert any("https://example.com/chart.png" in problem for problem in rendered.problems)


def test_a_name_no_upload_has_is_reported():
    rendered = render_markdown("![Chart](chart.png)", {})
    assert any("chart.png" in problem for problem in rendered.problems)


# When files go


def test_deleting_an_image_deletes_its_files_and_renders_the_body_again(django_capture_on_commit_callbacks):
    study = CaseStudyFactory(body="![Board](board.png)")
    image = add_image(study, "board.png")
    assert all(default_storage.exists(name) for name in image.file_names)
    with django_capture_on_commit_callbacks(execute=True):
        image.delete()
    assert not any(default_storage.exists(name) for name in image.file_names)
    study.refresh_from_db()
    assert "<picture>" not in study.body_html


def test_deleting_a_study_deletes_its_images_files(django_capture_on_commit_callbacks):
    study = CaseStudyFactory()
    image = add_image(study, "cover.png", is_cover=True)
    with django_capture_on_commit_callbacks(execute=True):
        study.delete()
    assert not StudyImage.objects.exists()
    assert images.stored_names() == []
    assert not any(default_storage.exists(name) for name in image.file_names)


def test_files_two_images_share_stay_until_neither_uses_them(django_capture_on_commit_callbacks):
    data = image_bytes(600, 400)
    kept = []
    for study in (CaseStudyFactory(), CaseStudyFactory()):
        image = StudyImage(study=study, name="same.png", alt="The same picture")
        image.show(images.accept(data, "same.png"))
        image.save()
        kept.append(image)
    with django_capture_on_commit_callbacks(execute=True):
        kept[0].delete()
    assert all(default_storage.exists(name) for name in kept[1].file_names)
    with django_capture_on_commit_callbacks(execute=True):
        kept[1].delete()
    assert images.stored_names() == []


def test_a_new_picture_in_an_images_place_deletes_the_old_files(django_capture_on_commit_callbacks):
    image = add_image(CaseStudyFactory(), "chart.png")
    old = image.file_names
    with django_capture_on_commit_callbacks(execute=True):
        image.show(images.accept(image_bytes(500, 500), "chart.png"))
        image.save()
    assert not any(default_storage.exists(name) for name in old)
    assert all(default_storage.exists(name) for name in image.file_names)


def test_render_studies_makes_renditions_the_storage_lacks():
    image = add_image(CaseStudyFactory(), "chart.png", width=1000, height=500)
    lost = image.file_names[1:]
    images.delete_files(lost)
    call_command("render_studies", stdout=io.StringIO())
    assert all(default_storage.exists(name) for name in lost)


def test_sample_images_gives_covers_and_photographs_through_the_upload_path():
    newest = CaseStudyFactory(body="## Context\n\nWords.")
    CaseStudyFactory()
    call_command("sample_images", covers=3, figures=2, width=64, height=48, stdout=io.StringIO())
    covers = StudyImage.objects.filter(is_cover=True)
    assert covers.count() == 3  # the two studies, and one made up
    newest.refresh_from_db()
    assert newest.body_html.count('<figure class="figure">') == 2
    for image in StudyImage.objects.all():
        assert all(default_storage.exists(name) for name in image.file_names)


def test_escapes_in_an_images_alt_text_and_caption_read_as_written():
    study = CaseStudyFactory(body='![A \\[draft\\] plan](plan.png "Step \\*one\\*")')
    add_image(study, "plan.png")
    study.refresh_from_db()
    assert 'alt="A [draft] plan"' in study.body_html
    assert "<figcaption>Step *one*</figcaption>" in study.body_html
