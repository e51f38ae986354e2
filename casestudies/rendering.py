"""Markdown to safe HTML: the one pipeline every study body goes through.

A body may be pasted from anywhere, so whatever Markdown produces (raw HTML
included) is cleaned with an allow-list before it is stored. Changing this
pipeline? Run `manage.py render_studies` to re-render every stored study.

A ```dot block becomes a diagram (see casestudies/diagrams.py for how to
caption one). Its SVG is made safe by its own allow-list, not by nh3's, so
the block is swapped for a random placeholder before Markdown runs and the
figure is put in its place after the rest is sanitised. A diagram that
cannot be drawn stays a code block, and the reason is in `problems`.
"""

import math
import re
import secrets
import time
import xml.etree.ElementTree as etree
from dataclasses import dataclass

import markdown
import nh3
from django.utils.text import slugify
from markdown.extensions import Extension
from markdown.extensions.fenced_code import FencedBlockPreprocessor
from markdown.preprocessors import Preprocessor
from markdown.treeprocessors import Treeprocessor

from casestudies import diagrams, images

WORDS_PER_MINUTE = 220


class DemoteTitleLevelHeadings(Treeprocessor):
    """The study's title is the page's one <h1>; a body's `# Heading` becomes <h2>."""

    def run(self, root):
        for heading in root.iter("h1"):
            heading.tag = "h2"


class DiagramBlocks(Preprocessor):
    """Draws each ```dot block and leaves a placeholder paragraph for its figure."""

    def __init__(self, md):
        super().__init__(md)
        # Random per render: an author cannot write a placeholder into the text.
        self.token = f"diagram{secrets.token_hex(16)}"
        self.figures = {}  # placeholder -> figure HTML
        self.problems = []
        self.deadline = None

    def run(self, lines):
        self.deadline = time.monotonic() + diagrams.TIMEOUT_SECONDS
        # fenced_code's own pattern, so a ```dot shown inside a longer fence stays code.
        text = FencedBlockPreprocessor.FENCED_BLOCK_RE.sub(self.draw, "\n".join(lines))
        return text.split("\n")

    def draw(self, match):
        if match.group("lang") != "dot":
            return match.group(0)
        number = len(self.figures) + len(self.problems) + 1
        try:
            figure = diagrams.figure_html(match.group("code"), number, self.deadline - time.monotonic())
        except diagrams.DiagramError as error:
            self.problems.append(f"Diagram {number} could not be drawn: {error}")
            return match.group(0)
        placeholder = f"{self.token}n{number}"
        self.figures[placeholder] = figure
        return f"\n\n{placeholder}\n\n"

    def insert_figures(self, html):
        if not self.figures:
            return html
        placeholders = re.compile(rf"(?:<p>)?({self.token}n\d+)(?:</p>)?")
        return placeholders.sub(lambda match: self.figures[match.group(1)], html)


class UploadedImages(Treeprocessor):
    """`![Alt](whiteboard.jpg "Caption")` shows the study's uploaded image of that name, as a
    <figure> when it stands alone in its paragraph. Like diagrams, the markup is made here,
    after sanitising, in the place of a random placeholder.

    An image from another site would be blocked by the Content-Security-Policy (img-src
    'self'), so it becomes a link to that image, and the author is told; so is a name no
    uploaded image has.
    """

    def __init__(self, md, images):
        super().__init__(md)
        self.images = images  # name -> StudyImage
        self.token = f"image{secrets.token_hex(16)}"
        self.markup = {}  # placeholder -> HTML
        self.problems = []

    def run(self, root):
        for parent in list(root.iter()):
            for index, child in enumerate(list(parent)):
                if child.tag == "img":
                    self.replace(parent, index, child)

    def replace(self, parent, index, img):
        # Before Markdown's own unescaping (priority 0), which this markup never reaches.
        unescape = self.md.treeprocessors["unescape"].unescape
        src, alt = unescape(img.get("src") or "").strip(), unescape(img.get("alt") or "")
        title = unescape(img.get("title") or "")
        if EXTERNAL_SOURCE.match(src):
            self.problems.append(
                f"The image {src} is on another site: the site's security policy blocks it, so "
                "visitors would see a broken image. It is shown as a link instead; upload it "
                "under Images and write ![alt text](file-name) to show it."
            )
            link = etree.Element("a", href=src)
            link.text = alt or src
            self.swap(parent, index, img, link)
            return
        image = (self.images or {}).get(src)
        if image is None:
            if self.images is not None and src and "/" not in src:
                self.problems.append(
                    f"No image named “{src}” is uploaded for this study: upload it under Images, "
                    "or correct the name."
                )
            return
        alone = (
            parent.tag == "p"
            and len(parent) == 1
            and not (parent.text or "").strip()
            and not (img.tail or "").strip()
        )
        placeholder = f"{self.token}n{len(self.markup) + 1}"
        if alone:
            # The paragraph becomes the figure.
            self.markup[placeholder] = images.figure_html(image, alt or None, title)
            parent.remove(img)
            parent.text = placeholder
        else:
            self.markup[placeholder] = image.picture_html(images.PROSE_SIZES, alt=alt or None)
            marker = etree.Element("span")
            marker.text = placeholder
            self.swap(parent, index, img, marker)

    @staticmethod
    def swap(parent, index, old, new):
        new.tail = old.tail
        parent.remove(old)
        parent.insert(index, new)

    def insert_markup(self, html):
        if not self.markup:
            return html
        placeholders = re.compile(rf"<(p|span)>({self.token}n\d+)</\1>")
        return placeholders.sub(lambda match: self.markup[match.group(2)], html)


EXTERNAL_SOURCE = re.compile(r"^(?:[a-z][a-z0-9+.-]*:|//)", re.IGNORECASE)


class AlignmentAsClass(Treeprocessor):
    """Table column alignment as a class (`align-right`): HTML's `align` attribute is obsolete."""

    def run(self, root):
        for cell in root.iter():
            if cell.tag in {"td", "th"} and (align := cell.attrib.pop("align", None)):
                cell.set("class", f"align-{align}")


class StudyBodyExtension(Extension):
    def __init__(self, images=None):
        super().__init__()
        self.images = images

    def extendMarkdown(self, md):
        # Priority above the table of contents' (5), so it sees the new levels.
        md.treeprocessors.register(DemoteTitleLevelHeadings(md), "demote_title_headings", 6)
        md.treeprocessors.register(AlignmentAsClass(md), "alignment_as_class", 4)
        md.treeprocessors.register(UploadedImages(md, self.images), "uploaded_images", 3)
        # After whitespace is normalised (30), before fenced code blocks are read (25).
        md.preprocessors.register(DiagramBlocks(md), "diagrams", 28)


EXTENSIONS = ["fenced_code", "codehilite", "tables", "footnotes", "toc", "sane_lists"]
EXTENSION_CONFIGS = {
    # CSS classes, never inline styles: static/css/site.css colours them.
    "codehilite": {"css_class": "highlight", "guess_lang": False, "wrapcode": True},
    "tables": {"use_align_attribute": True},
    "toc": {
        "permalink": "#",
        "permalink_class": "heading-anchor",
        "permalink_title": "Link to this section",
        "toc_depth": "2-3",
        "slugify": lambda value, separator: slugify(value, allow_unicode=True),
    },
}

ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "code", "dd", "del", "details", "div",
    "dl", "dt", "em", "figcaption", "figure", "h2", "h3", "h4", "h5", "h6", "hr",
    "i", "img", "ins", "kbd", "li", "mark", "ol", "p", "pre", "s", "samp", "small",
    "span", "strong", "sub", "summary", "sup", "table", "tbody", "td", "tfoot",
    "th", "thead", "tr", "ul",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title", "class", "id"},
    "abbr": {"title"},
    "code": {"class"},
    "div": {"class"},
    "h2": {"id"}, "h3": {"id"}, "h4": {"id"}, "h5": {"id"}, "h6": {"id"},
    "img": {"src", "alt", "title", "width", "height"},
    "li": {"id"},
    "ol": {"start"},
    "pre": {"class"},
    "span": {"class"},
    "sup": {"id", "class"},
    "td": {"class"},
    "th": {"class"},
}  # fmt: skip
URL_SCHEMES = {"http", "https", "mailto"}

# Runs on sanitised output, whose markup nh3 has normalised: every attribute
# is double-quoted and any author-written `rel` is already gone.
# Control characters HTML forbids (all but tab and line breaks), as a pasted body
# may carry them: they are dropped rather than let into the page.
FORBIDDEN_IN_HTML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
EXTERNAL_LINK = re.compile(r'<a ([^>]*href="https?://[^"]*"[^>]*)>')


@dataclass(frozen=True)
class RenderedBody:
    html: str
    toc_html: str
    problems: tuple[str, ...] = ()  # for the author, e.g. "Diagram 1 could not be drawn: ..."


def sanitise(html):
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel=None,
        strip_comments=True,
    )


def render_markdown(source, images=None):
    """Render a study body; returns its sanitised HTML, table of contents and any problems.

    `images` ({name: StudyImage}) are the study's uploads the body may show; None when
    rendering without a study (nothing is said of names then).
    """
    converter = markdown.Markdown(
        extensions=[StudyBodyExtension(images), *EXTENSIONS], extension_configs=EXTENSION_CONFIGS
    )
    diagram_blocks = converter.preprocessors["diagrams"]
    uploaded_images = converter.treeprocessors["uploaded_images"]
    html = sanitise(converter.convert(FORBIDDEN_IN_HTML.sub("", source or "")))
    html = EXTERNAL_LINK.sub(r'<a \1 rel="noopener noreferrer">', html)
    html = diagram_blocks.insert_figures(html)
    html = uploaded_images.insert_markup(html)
    toc_html = sanitise(converter.toc) if converter.toc_tokens else ""
    problems = (*diagram_blocks.problems, *uploaded_images.problems)
    return RenderedBody(html=html, toc_html=toc_html, problems=problems)


def reading_minutes(source):
    """Minutes to read a body at an unhurried pace; never less than one."""
    return max(1, math.ceil(len((source or "").split()) / WORDS_PER_MINUTE))
