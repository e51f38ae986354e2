"""Uploaded images: what is accepted, what is kept, what visitors are sent.

An upload is refused outright (`ImageRefused`, a message for the form) unless it
is a JPEG, PNG, WebP, AVIF or GIF that Pillow reads whole, within the size and
pixel limits, under a plain file name, and carries no markup a browser could run
(a polyglot). What is kept is a *master*: the upload with its EXIF orientation
applied and every piece of metadata gone (GPS position, camera serial, author,
colour profile text), re-encoded only when that was needed, so a master read back
by `import_studies` is kept byte for byte. Visitors never get the master: they get
*renditions*, AVIF and WebP at a few widths, made once, at upload.

Every file is named by its content (`images/<digest>.<ext>`,
`images/<digest>-<width>.<format>`): a name never changes meaning, so it is cached
for a year, and two studies using the same picture share its files.
"""

import hashlib
import io
import re
import struct
from dataclasses import dataclass
from pathlib import PurePosixPath

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils.html import format_html, format_html_join
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP", "AVIF", "GIF")
ACCEPTED_NAMES = "JPEG, PNG, WebP, AVIF or GIF"
# Renditions never wider than the master; a master narrower than the largest also gets its own width.
RENDITION_WIDTHS = (480, 960, 1440, 1920)
# AVIF's speed 8 is four times faster than 6 at the same size here: an upload of a camera's
# photo takes seconds, not tens of them.
RENDITION_FORMATS = {"avif": {"quality": 55, "speed": 8}, "webp": {"quality": 78, "method": 4}}
# Part of every rendition's name: a change to the widths or encoders above gives new names.
RENDITION_VERSION = "1"
FOLDER = "images"
MASTER_JPEG_QUALITY = 92
# Markup a browser would run if it ever took the file for HTML, SVG or script: an image
# carrying it is refused. Long enough tokens that compressed pixels never spell one by chance.
MARKUP = re.compile(
    rb"<(?:script|html|body|svg|iframe|object|embed|!doctype|\?php|meta\s|link\s|style)",
    re.IGNORECASE,
)
PLAIN_NAME = re.compile(r"^[\w][\w .()+-]{0,98}$")
RENDITION_NAME = re.compile(rf"^{FOLDER}/[0-9a-f]{{20}}-[0-9]{{1,5}}\.(?:avif|webp)$")
CONTENT_TYPES = {"avif": "image/avif", "webp": "image/webp", "jpg": "image/jpeg", "png": "image/png"}


class ImageRefused(ValidationError):
    """An upload that is not kept, with the reason in the author's words."""


@dataclass(frozen=True)
class Master:
    """An upload made safe to keep: its bytes, their extension, its size in pixels."""

    data: bytes
    extension: str
    width: int
    height: int

    @property
    def digest(self):
        return content_digest(self.data)

    @property
    def name(self):
        return master_name(self.digest, self.extension)


def content_digest(data):
    return hashlib.sha256(data).hexdigest()[:20]


def max_bytes():
    return settings.MAX_IMAGE_MB * 1024 * 1024


# Accepting an upload


def plain_name(name):
    """The name an author refers to the image by: the upload's own, if it names no folder."""
    name = (name or "").strip()
    if "/" in name or "\\" in name or name.startswith(".") or ".." in name or "\x00" in name:
        raise ImageRefused(
            f"The file name “{name}” names a folder; rename the file to a plain name such as “diagram.png”."
        )
    if not PLAIN_NAME.fullmatch(name):
        raise ImageRefused(
            f"The file name “{name}” is not a plain file name: use letters, digits, spaces, "
            "dots and hyphens (at most 100 characters), such as “diagram.png”."
        )
    return name


def accept(data, name=""):
    """The master kept for an upload's bytes, or ImageRefused saying why not."""
    label = f"“{name}”" if name else "The file"
    if len(data) > max_bytes():
        raise ImageRefused(
            f"{label} is {len(data) / 1024 / 1024:.1f} MB; images may be at most {settings.MAX_IMAGE_MB} MB."
        )
    head = data[:512].lstrip().lower()
    if head.startswith((b"<svg", b"<?xml")) or name.lower().endswith((".svg", ".svgz")):
        raise ImageRefused(
            f"{label} is an SVG drawing: SVG can carry scripts, so it is not accepted. "
            "Export it as PNG, or draw it as a ```dot diagram in the body."
        )
    if MARKUP.search(data):
        raise ImageRefused(f"{label} carries HTML or script besides the picture, so it is not accepted.")
    try:
        with Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS) as image:
            image_format = image.format
            width, height = image.size
            if width * height > settings.MAX_IMAGE_PIXELS:
                raise ImageRefused(
                    f"{label} is {width}×{height} pixels ({width * height / 1e6:.0f} megapixels); "
                    f"images may be at most {settings.MAX_IMAGE_PIXELS / 1e6:.0f} megapixels."
                )
            image.load()  # the first frame only, for an animated GIF
            orientation = image.getexif().get(ORIENTATION, 1)
            if is_clean(data, image) and orientation == 1:
                return Master(data, EXTENSIONS[image_format], width, height)
            return reencoded(image)
    except ImageRefused:
        raise
    except Image.DecompressionBombError:
        raise ImageRefused(
            f"{label} claims more pixels than an image may have "
            f"(at most {settings.MAX_IMAGE_PIXELS / 1e6:.0f} megapixels)."
        ) from None
    except UnidentifiedImageError:
        raise ImageRefused(f"{label} is not an image this site accepts ({ACCEPTED_NAMES}).") from None
    except (OSError, ValueError, SyntaxError, struct.error, EOFError) as error:
        raise ImageRefused(f"{label} could not be read as an image ({error}); it may be truncated.") from None


ORIENTATION = 0x0112
EXTENSIONS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}


def reencoded(image):
    """`image` upright, in sRGB, with nothing but its pixels: a PNG if it is lossless or
    transparent, else a JPEG."""
    lossless = image.format in ("PNG", "GIF") or (image.format == "WEBP" and image.info.get("lossless"))
    upright = pixels_only(ImageOps.exif_transpose(image))
    output = io.BytesIO()
    if lossless or has_alpha(upright):
        if upright.mode not in ("1", "L", "LA", "P", "RGB", "RGBA"):
            upright = upright.convert("RGBA" if has_alpha(upright) else "RGB")
        upright.save(output, "PNG", optimize=True)
        extension = "png"
    else:
        upright.convert("RGB").save(output, "JPEG", quality=MASTER_JPEG_QUALITY, optimize=True)
        extension = "jpg"
    return Master(output.getvalue(), extension, *upright.size)


def has_alpha(image):
    return image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info)


def pixels_only(image):
    """A copy of `image` in sRGB carrying no metadata at all, so no encoder can write any."""
    icc = image.info.get("icc_profile")
    if icc and image.mode in ("RGB", "RGBA"):
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            image = ImageCms.profileToProfile(image, source, ImageCms.createProfile("sRGB"))
        except (ImageCms.PyCMSError, OSError):
            pass
    keep = {key: image.info[key] for key in ("transparency",) if key in image.info}
    copy = image.copy()
    copy.info = keep
    return copy


# What a kept master may hold, by container: pixels and what decodes them, nothing else.
PNG_CHUNKS = {b"IHDR", b"PLTE", b"tRNS", b"IDAT", b"IEND"}
WEBP_CHUNKS = {b"VP8 ", b"VP8L", b"VP8X", b"ALPH"}


def is_clean(data, image):
    """Whether `data` already is what re-encoding would keep: a still JPEG, PNG or WebP with
    no metadata, no colour profile and nothing after its end. AVIF and GIF are always re-encoded."""
    if image.format == "JPEG":
        return jpeg_is_clean(data)
    if image.format == "PNG":
        return png_chunks(data) is not None and set(png_chunks(data)) <= PNG_CHUNKS
    if image.format == "WEBP":
        chunks = webp_chunks(data)
        return chunks is not None and set(chunks) <= WEBP_CHUNKS and not getattr(image, "is_animated", False)
    return False


def jpeg_is_clean(data):
    # Segments up to the scan: only JFIF's APP0 besides what decodes the pixels; then the end marker.
    if not (data.startswith(b"\xff\xd8") and data.endswith(b"\xff\xd9")):
        return False
    position = 2
    while position + 4 <= len(data):
        if data[position] != 0xFF:
            return False
        marker = data[position + 1]
        length = struct.unpack(">H", data[position + 2 : position + 4])[0]
        if marker == 0xDA:  # start of scan: pixels from here on
            return True
        if marker == 0xFE or (0xE1 <= marker <= 0xEF):  # comments, EXIF, XMP, ICC, vendor data
            return False
        if marker == 0xE0 and data[position + 4 : position + 9] != b"JFIF\x00":
            return False
        position += 2 + length
    return False


def png_chunks(data):
    if not data.startswith(b"\x89PNG\r\n\x1a\n"):
        return None
    chunks, position = [], 8
    while position + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[position : position + 8])
        chunks.append(kind)
        position += 12 + length
        if kind == b"IEND":
            return chunks if position == len(data) else None
    return None


def webp_chunks(data):
    if not (data[:4] == b"RIFF" and data[8:12] == b"WEBP"):
        return None
    if struct.unpack("<I", data[4:8])[0] + 8 != len(data):
        return None
    chunks, position = [], 12
    while position + 8 <= len(data):
        kind, length = struct.unpack("<4sI", data[position : position + 8])
        chunks.append(kind)
        position += 8 + length + (length & 1)
    return chunks if position == len(data) else None


# Renditions


def rendition_widths(width):
    """The widths a master of `width` pixels is sent at: each standard width it reaches,
    and its own width when it is narrower than the largest."""
    widths = [each for each in RENDITION_WIDTHS if each <= width]
    if width < RENDITION_WIDTHS[-1] and width not in widths:
        widths.append(width)
    return widths


def scaled_height(width, height, new_width):
    """The height of a `width` x `height` picture drawn `new_width` pixels wide."""
    return max(1, round(height * new_width / width))


def rendition_name(digest, width, image_format):
    version = hashlib.sha256(f"{digest} {RENDITION_VERSION} {RENDITION_FORMATS}".encode()).hexdigest()[:20]
    return f"{FOLDER}/{version}-{width}.{image_format}"


def rendition_names(digest, width):
    return [
        rendition_name(digest, each, kind) for each in rendition_widths(width) for kind in RENDITION_FORMATS
    ]


def make_renditions(master):
    """{name: bytes} of every rendition of `master`."""
    made = {}
    with Image.open(io.BytesIO(master.data)) as image:
        image.load()
        image = pixels_only(image)
        if image.mode not in ("RGB", "RGBA"):
            image = image.convert("RGBA" if has_alpha(image) else "RGB")
        # Widest first, each from the one before: resizing a 12-megapixel photo four times over
        # costs more than encoding.
        for width in sorted(rendition_widths(master.width), reverse=True):
            height = scaled_height(master.width, master.height, width)
            if width != image.width:
                image = image.resize((width, height), Image.Resampling.LANCZOS)
            for kind, options in RENDITION_FORMATS.items():
                output = io.BytesIO()
                image.save(output, kind.upper(), **options)
                made[rendition_name(master.digest, width, kind)] = output.getvalue()
    return made


# Storage


def store(master):
    """Write `master` and its renditions to the default storage, unless already there."""
    files = {master.name: master.data}
    if not all(default_storage.exists(name) for name in rendition_names(master.digest, master.width)):
        files |= make_renditions(master)
    for name, data in files.items():
        if not default_storage.exists(name):
            saved = default_storage.save(name, ContentFile(data))
            if saved != name:  # another process wrote the same content meanwhile
                default_storage.delete(saved)


def make_missing_renditions(image):
    """Make the renditions of `image` (a StudyImage) that its storage lacks, as after a change
    to the widths or encoders; True if any was missing."""
    if all(default_storage.exists(name) for name in rendition_names(image.digest, image.width)):
        return False
    with default_storage.open(image.master_name) as file:
        store(Master(file.read(), image.extension, image.width, image.height))
    return True


def master_name(digest, extension):
    return f"{FOLDER}/{digest}.{extension}"


def file_names(digest, extension, width):
    """Every file kept for one master."""
    return [master_name(digest, extension), *rendition_names(digest, width)]


def delete_files(names):
    for name in names:
        default_storage.delete(name)


def url(name):
    return default_storage.url(name)


def stored_names():
    """Every file under the images folder of the default storage."""
    try:
        _folders, files = default_storage.listdir(FOLDER)
    except FileNotFoundError:
        return []
    return [f"{FOLDER}/{name}" for name in files]


def suffix(name):
    return PurePosixPath(name).suffix.lstrip(".").lower()


# Markup


def picture_html(image, sizes, *, alt=None, eager=False):
    """A <picture> of `image` (a StudyImage): AVIF, then WebP, at every width, with its size
    in pixels so nothing moves as it loads. Lazy, unless `eager` (the first thing a page shows)."""
    sources = {kind: image.renditions(kind) for kind in RENDITION_FORMATS}
    webp = sources["webp"]
    # The fallback for a browser without <picture>: a middling width.
    fallback = next((url for url, width in reversed(webp) if width <= 960), webp[0][0])
    source_tags = format_html_join(
        "",
        '<source type="{}" srcset="{}" sizes="{}">',
        (
            (CONTENT_TYPES[kind], ", ".join(f"{url} {width}w" for url, width in renditions), sizes)
            for kind, renditions in sources.items()
        ),
    )
    img = (
        '<img src="{}" alt="{}" width="{}" height="{}" fetchpriority="high">'
        if eager
        else '<img src="{}" alt="{}" width="{}" height="{}" loading="lazy" decoding="async">'
    )
    img_html = format_html(img, fallback, image.alt if alt is None else alt, image.width, image.height)
    return format_html("<picture>{}{}</picture>", source_tags, img_html)


# How wide a body's picture is drawn: the text column (68ch, static/css/site.css) on a
# wide screen, the screen less its margins on a phone.
PROSE_SIZES = "(min-width: 48rem) 42rem, calc(100vw - 2.5rem)"


def figure_html(image, alt=None, caption=None):
    """A figure of `image` in a body: the picture, then the caption and the credit."""
    parts = [part for part in (caption, image.credit) if part]
    caption_html = format_html("<figcaption>{}</figcaption>", " — ".join(parts)) if parts else ""
    return format_html(
        '<figure class="figure">{}{}</figure>', image.picture_html(PROSE_SIZES, alt=alt), caption_html
    )
