"""Each study's share image: a 1200x630 PNG of its title, its tags and the site's name,
or, when the study has a cover, of the cover with its title and the site's name over it.

Drawn with Pillow and kept in `SocialCard` beside a digest of what it shows (title,
tags, site name, cover). Nothing is drawn when a study, a tag or the site name changes:
the card view compares the digest with what the card should show now and draws a
card that is missing or stale the first time someone asks for it, so an edit in
the admin never waits for Pillow, and no card is ever served out of date.
`render_studies` draws every stale card ahead of time.
"""

import hashlib
import json
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from io import BytesIO

from django.core.files.storage import default_storage
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils.cache import add_never_cache_headers, get_conditional_response, patch_cache_control
from django.views.decorators.http import require_safe
from PIL import Image, ImageDraw, ImageFont, ImageOps

from casestudies.models import CaseStudy, SlugRedirect, SocialCard
from casestudies.views import can_preview
from siteprofile.models import SiteProfile

WIDTH, HEIGHT = 1200, 630
# Part of every digest: change it with the design, and every card is drawn
# again (by `render_studies`, or on its next request).
DESIGN = "1"
CACHE_SECONDS = 24 * 60 * 60

# The site's tokens (static/css/site.css), light scheme.
BACKGROUND = "#fbfaf7"
TEXT = "#1b1f24"
ACCENT = "#1f58c7"
ACCENT_SOFT = "#e8effc"
MUTED = "#525b66"
BORDER = "#dcdfe3"

# Geometry in card pixels. Text stays inside MARGIN on every side.
MARGIN = 72
BAND = 12
SITE_NAME_SIZE = 30
TITLE_TOP = 150
# Tried in turn until the title fits; at the last, it is cut with an ellipsis.
TITLE_SIZES = (84, 76, 68, 60, 54, 48, 42)
LINE_SPACING = 1.2
TAG_SIZE = 26
PILL_HEIGHT = 52
PILL_PADDING = 22
PILL_GAP = 14
PILL_MAX_WIDTH = 520
TITLE_TO_TAGS = 40
# Drawn at twice the size and scaled down: smooth pill edges, even text.
SUPERSAMPLE = 2

# On a cover, the text sits on a band of black across the lower half, fading in above:
# white on 75 % black keeps a contrast above 10:1 over the brightest picture.
COVER_BAND_TOP = 330
COVER_BAND_FADE = 80
COVER_SHADE = 192
COVER_PADDING = 40
COVER_BOTTOM = 56
SITE_TO_TITLE = 16
COVER_TEXT = "#ffffff"
COVER_ACCENT = "#8ab4ff"  # the accent of the site's dark scheme, made for dark backgrounds

# Bold fonts a Debian machine (and the Docker image) may have, found by file
# name in the system's font directories; the first that covers the whole card
# wins. Pillow's bundled font (Latin letters without accents) is the last resort.
# No web fonts, nothing downloaded.
FONT_FAMILIES = (
    # fonts-dejavu-core: Latin, Greek, Cyrillic, Hebrew, Arabic, ... but no CJK.
    "DejaVuSans-Bold.ttf",
    # fonts-noto-cjk, when installed: Chinese, Japanese and Korean (and Latin).
    "NotoSansCJK-Bold.ttc",
)
BUNDLED = None
ELLIPSIS = "…"


# What a card shows, and its digest


@dataclass(frozen=True)
class CardContent:
    title: str
    tags: tuple[str, ...]
    site_name: str
    # The cover's master in the default storage, named by its digest: a new cover, a new card.
    cover: str = ""

    @classmethod
    def of(cls, study, site_name=None):
        """What `study`'s card shows; tags in the author's order (prefetch the tags and the
        cover with with_tags() and with_cover())."""
        if site_name is None:
            site_name = SiteProfile.current().site_title
        cover = study.cover
        tags = tuple(tag.name for tag in study.tag_list)
        return cls(study.title, tags, site_name, cover.master_name if cover else "")

    @property
    def digest(self):
        data = [DESIGN, self.title, list(self.tags), self.site_name]
        # Only with a cover: the cards of studies without one keep their digests.
        if self.cover:
            data.append(self.cover)
        return hashlib.sha256(json.dumps(data, ensure_ascii=False).encode()).hexdigest()


def card_url(study, site_name=None):
    """The card's address; `v` changes with the card, so link previews fetch a new one."""
    digest = CardContent.of(study, site_name).digest
    return reverse("casestudies:card", args=[study.slug]) + f"?v={digest[:12]}"


# Fonts


@lru_cache(maxsize=128)
def font(family, size):
    if family is BUNDLED:
        return ImageFont.load_default(size=size)
    return ImageFont.truetype(FONT_FAMILIES[family], size)


@lru_cache(maxsize=1)
def installed_families():
    installed = []
    for index in range(len(FONT_FAMILIES)):
        try:
            font(index, 20)
        except OSError:
            continue
        installed.append(index)
    return tuple(installed)


def glyph_signature(face, char):
    mask = face.getmask(char)
    return mask.size, face.getlength(char), mask.getbbox(), tuple(mask.histogram())


@lru_cache(maxsize=4096)
def has_glyph(family, char):
    # Pillow cannot ask a font for its character map; a missing character is
    # drawn as the font's "no glyph" box, so compare with a character no font has.
    face = font(family, 40)
    return glyph_signature(face, char) != glyph_signature(face, "\U0010ffff")


def covers(family, text):
    return all(
        has_glyph(family, char)
        for char in set(unicodedata.normalize("NFC", text))
        if not char.isspace() and unicodedata.category(char)[0] not in "MC"
    )


def family_for(text):
    """The first installed font family that can draw every character of `text`.

    When none can (a CJK title on a machine without a CJK font), the first one
    draws what it can and shows a box for the rest.
    """
    installed = installed_families()
    for family in installed:
        if covers(family, text):
            return family
    return installed[0] if installed else BUNDLED


# Layout


@dataclass(frozen=True)
class TextBox:
    text: str
    origin: tuple[float, float]  # left end of the baseline
    box: tuple[float, float, float, float]  # ink bounds: left, top, right, bottom
    size: int


@dataclass(frozen=True)
class Pill:
    box: tuple[float, float, float, float]
    label: TextBox
    more: bool  # the "+N" pill that stands for the tags that did not fit


@dataclass(frozen=True)
class CardLayout:
    """Where everything goes, in pixels of a canvas `scale` times the card's size."""

    scale: int
    family: int | None
    site_name: TextBox
    title_lines: tuple[TextBox, ...]
    pills: tuple[Pill, ...]
    title_cut: bool  # the title was too long even at the smallest size, and ends in "…"

    def text_boxes(self):
        """Every piece of text's ink bounds, in card pixels."""
        boxes = [self.site_name.box, *(line.box for line in self.title_lines)]
        boxes += [pill.label.box for pill in self.pills]
        return [tuple(value / self.scale for value in box) for box in boxes]

    def pill_boxes(self):
        return [tuple(value / self.scale for value in pill.box) for pill in self.pills]


def layout_card(content, scale=SUPERSAMPLE):
    """Place the site name, the title (wrapped, shrunk, cut if it must be) and the tag pills;
    on a cover, the site name and the title in the band, and no pills."""
    if content.cover:
        return layout_cover_card(content, scale)
    family = family_for(" ".join([content.title, *content.tags, content.site_name]))
    margin, right = MARGIN * scale, (WIDTH - MARGIN) * scale
    width = right - margin
    bottom = (HEIGHT - MARGIN) * scale

    site_font = font(family, SITE_NAME_SIZE * scale)
    site_text = fit_line(content.site_name, site_font, width)
    site_name = place(site_text, site_font, margin, margin + ascent(site_font))

    pills = layout_pills(content.tags, family, scale, margin, right, bottom) if content.tags else ()
    title_bottom = (pills[0].box[1] - TITLE_TO_TAGS * scale) if pills else bottom
    title_lines, cut = layout_title(
        content.title, family, scale, margin, width, TITLE_TOP * scale, title_bottom
    )
    return CardLayout(scale, family, site_name, title_lines, pills, cut)


def layout_cover_card(content, scale):
    family = family_for(" ".join([content.title, content.site_name]))
    margin, width = MARGIN * scale, (WIDTH - 2 * MARGIN) * scale
    site_font = font(family, SITE_NAME_SIZE * scale)
    site_baseline = (COVER_BAND_TOP + COVER_PADDING) * scale + ascent(site_font)
    site_name = place(fit_line(content.site_name, site_font, width), site_font, margin, site_baseline)
    title_top = site_baseline + site_font.getmetrics()[1] + SITE_TO_TITLE * scale
    title_lines, cut = layout_title(
        content.title, family, scale, margin, width, title_top, (HEIGHT - COVER_BOTTOM) * scale
    )
    return CardLayout(scale, family, site_name, title_lines, (), cut)


def layout_title(title, family, scale, left, width, top, bottom):
    for size in TITLE_SIZES:
        face = font(family, size * scale)
        line_height = round(size * scale * LINE_SPACING)
        lines = wrap(title, face, width)
        fitting = lines_that_fit(face, line_height, bottom - top)
        if len(lines) <= fitting:
            break
    cut = len(lines) > fitting
    if cut:
        # Even at the smallest size it is too long: keep what fits and say so.
        lines = lines[: max(fitting, 1)]
        lines[-1] = fit_line(lines[-1] + ELLIPSIS, face, width, always_cut=True)
    ascender, descender = face.getmetrics()
    # Centred in the space between the site name and the tags.
    spare = (bottom - top) - ((len(lines) - 1) * line_height + ascender + descender)
    baseline = top + max(spare, 0) / 2 + ascender
    placed = tuple(place(line, face, left, baseline + n * line_height) for n, line in enumerate(lines))
    return placed, cut


def lines_that_fit(face, line_height, height):
    ascender, descender = face.getmetrics()
    return max(0, int((height - ascender - descender) // line_height) + 1)


def layout_pills(names, family, scale, left, right, bottom):
    face = font(family, TAG_SIZE * scale)
    padding, gap, height = PILL_PADDING * scale, PILL_GAP * scale, PILL_HEIGHT * scale
    labels = [fit_line(name, face, PILL_MAX_WIDTH * scale - 2 * padding) for name in names]
    widths = [measure(label, face) + 2 * padding for label in labels]

    # As many pills as fit on one row, with a "+N" pill for the rest when some do not.
    for shown in range(len(labels), -1, -1):
        hidden = len(labels) - shown
        row = widths[:shown] + ([measure(f"+{hidden}", face) + 2 * padding] if hidden else [])
        if sum(row) + gap * (len(row) - 1) <= right - left:
            break
    top = bottom - height
    # Capital letters sit in the middle of the pill.
    cap_height = -face.getbbox("H", anchor="ls")[1]
    baseline = top + (height + cap_height) / 2
    pills, x = [], left
    for label, more in [
        *((label, False) for label in labels[:shown]),
        *([(f"+{hidden}", True)] if hidden else []),
    ]:
        pill_width = measure(label, face) + 2 * padding
        pills.append(Pill((x, top, x + pill_width, bottom), place(label, face, x + padding, baseline), more))
        x += pill_width + gap
    return tuple(pills)


def wrap(text, face, width):
    """Lines of `text` no wider than `width`: broken between words, or inside a word too long for a line."""
    lines, line = [], ""
    for word in text.split():
        candidate = f"{line} {word}" if line else word
        if measure(candidate, face) <= width:
            line = candidate
            continue
        if line:
            lines.append(line)
        # A word longer than a line (a long identifier, or CJK text, which has no spaces).
        while measure(word, face) > width:
            cut = longest_prefix(word, face, width)
            lines.append(word[:cut])
            word = word[cut:]
        line = word
    if line:
        lines.append(line)
    return lines


def longest_prefix(text, face, width):
    """How many characters of `text` fit in `width` (at least one, so wrapping always moves on)."""
    low, high = 1, len(text)
    while low < high:
        middle = (low + high + 1) // 2
        if measure(text[:middle], face) <= width:
            low = middle
        else:
            high = middle - 1
    return low


def fit_line(text, face, width, always_cut=False):
    """`text` if it fits in `width`, else as much of it as fits followed by "…"."""
    if not always_cut and measure(text, face) <= width:
        return text
    text = text.removesuffix(ELLIPSIS)
    while text and measure(text.rstrip() + ELLIPSIS, face) > width:
        text = text[:-1]
    return text.rstrip() + ELLIPSIS


def measure(text, face):
    """The width `text` takes: its advance, or its ink where a letter reaches beyond (Æ, Ł, f)."""
    left, _, right, _ = face.getbbox(text, anchor="ls")
    return max(face.getlength(text), right) - min(left, 0)


def ascent(face):
    return face.getmetrics()[0]


def place(text, face, x, baseline):
    left, top, right, bottom = face.getbbox(text, anchor="ls")
    # A first letter whose ink starts left of its origin moves right, inside the margin.
    x -= min(left, 0)
    box = (x + left, baseline + top, x + right, baseline + bottom)
    return TextBox(text, (x, baseline), box, face.size)


# Drawing


def draw_card(content):
    """The card as PNG bytes."""
    if content.cover:
        return draw_cover_card(content)
    layout = layout_card(content, SUPERSAMPLE)
    scale = layout.scale
    image = Image.new("RGB", (WIDTH * scale, HEIGHT * scale), BACKGROUND)
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, WIDTH * scale, BAND * scale), fill=ACCENT)

    def text(item, fill):
        draw_text(draw, layout, item, fill)

    text(layout.site_name, ACCENT)
    for line in layout.title_lines:
        text(line, TEXT)
    for pill in layout.pills:
        radius = (pill.box[3] - pill.box[1]) / 2
        if pill.more:
            draw.rounded_rectangle(pill.box, radius, fill=BACKGROUND, outline=BORDER, width=2 * scale)
            text(pill.label, MUTED)
        else:
            draw.rounded_rectangle(pill.box, radius, fill=ACCENT_SOFT)
            text(pill.label, ACCENT)
    image = image.resize((WIDTH, HEIGHT), Image.Resampling.LANCZOS)
    # A few flat colours and their anti-aliased edges: a palette keeps the PNG a third the size.
    image = image.quantize(colors=64, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    return png(image)


def draw_cover_card(content):
    """The cover, cropped to fill the card, darkened below, with the site name and the title."""
    layout = layout_card(content, SUPERSAMPLE)
    size = (WIDTH * layout.scale, HEIGHT * layout.scale)
    image = ImageOps.fit(cover_picture(content.cover, size), size, Image.Resampling.LANCZOS)
    image.paste((0, 0, 0), (0, 0, *size), mask=band_mask(size, layout.scale))
    draw = ImageDraw.Draw(image)
    draw_text(draw, layout, layout.site_name, COVER_ACCENT)
    for line in layout.title_lines:
        draw_text(draw, layout, line, COVER_TEXT)
    return png(image.resize((WIDTH, HEIGHT), Image.Resampling.LANCZOS))


def cover_picture(name, size):
    """The master `name`, read from the default storage, in RGB; transparency shows the site's background."""
    with default_storage.open(name) as file, Image.open(file) as picture:
        # A JPEG decodes at a fraction of its size when that still covers the card: much faster.
        picture.draft("RGB", size)
        picture = picture.convert("RGBA")
    flat = Image.new("RGB", picture.size, BACKGROUND)
    flat.paste(picture, mask=picture)
    return flat


def band_mask(size, scale):
    """How much black covers each row: none above the band, fading in, then COVER_SHADE."""
    width, height = size
    top, fade = COVER_BAND_TOP * scale, COVER_BAND_FADE * scale
    mask = Image.new("L", size, 0)
    draw = ImageDraw.Draw(mask)
    for row in range(fade):
        draw.line((0, top - fade + row, width, top - fade + row), fill=round(COVER_SHADE * row / fade))
    draw.rectangle((0, top, width, height), fill=COVER_SHADE)
    return mask


def draw_text(draw, layout, item, fill):
    draw.text(item.origin, item.text, font=font(layout.family, item.size), fill=fill, anchor="ls")


def png(image):
    output = BytesIO()
    image.save(output, format="PNG", optimize=True)
    return output.getvalue()


# Keeping cards current


def current_png(study, content):
    """The stored card if it shows `content`; else one drawn and stored now."""
    card = SocialCard.objects.filter(study=study).first()
    if card is None or card.digest != content.digest:
        card = store_card(study, content)
    return bytes(card.png)


def store_card(study, content):
    card, _ = SocialCard.objects.update_or_create(
        study=study, defaults={"png": draw_card(content), "digest": content.digest}
    )
    return card


def refresh_cards(study_ids, site_name=None):
    """Draw again the cards of these studies that are missing or out of date."""
    studies = CaseStudy.objects.filter(pk__in=list(study_ids)).with_tags().with_cover()
    digests = dict(SocialCard.objects.filter(study__in=studies).values_list("study_id", "digest"))
    for study in studies:
        content = CardContent.of(study, site_name)
        if digests.get(study.pk) != content.digest:
            store_card(study, content)


# Serving


@require_safe
def card_image(request, slug):
    """/case-studies/<slug>/card.png: the card of a published study; staff may see a draft's."""
    # Published first: a public card's answer never depends on who asks (no Vary: Cookie).
    study = CaseStudy.objects.published().with_tags().with_cover().filter(slug=slug).first()
    if study is None and can_preview(request.user):
        study = CaseStudy.objects.with_tags().with_cover().filter(slug=slug).first()
    if study is None:
        # An old slug's card leads to the card at the study's address now.
        renamed = get_object_or_404(SlugRedirect.objects.select_related("study"), old_slug=slug).study
        if not (renamed.is_public or can_preview(request.user)):
            raise Http404("No such study.")
        return redirect("casestudies:card", slug=renamed.slug, permanent=True)

    content = CardContent.of(study)
    # The digest names what the card shows: a client that has this one has the right image.
    etag = f'"{content.digest}"'
    response = get_conditional_response(request, etag=etag)
    if response is None:
        response = HttpResponse(current_png(study, content), content_type="image/png")
    response["ETag"] = etag
    if study.is_public:
        patch_cache_control(response, public=True, max_age=CACHE_SECONDS)
    else:
        add_never_cache_headers(response)
        patch_cache_control(response, private=True)
    return response
