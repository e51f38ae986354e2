"""Markdown to safe HTML: the one pipeline every study body goes through.

A body may be pasted from anywhere, so whatever Markdown produces (raw HTML
included) is cleaned with an allow-list before it is stored. Changing this
pipeline? Run `manage.py render_studies` to re-render every stored study.

A ```dot block becomes a diagram (see casestudies/diagrams.py for how to
caption one). Its SVG is made safe by its own allow-list, not by nh3's, so
the block is swapped for a random placeholder before Markdown runs and the
figure is put in its place after the rest is sanitised. A diagram that
cannot be drawn stays a code block, and the reason is in `problems`.

A body is refused (BodyRefused, with the reason for the author) when it nests
deeper than MAX_NESTING or would take longer than RENDER_SECONDS to render:
Python-Markdown recurses once per level of nesting and rescans the rest of a
paragraph for each unclosed bracket, so a few kilobytes can otherwise exhaust
the stack or take minutes.
"""

import contextlib
import contextvars
import functools
import math
import re
import secrets
import time
import xml.etree.ElementTree as etree
from dataclasses import dataclass

import markdown
import nh3
from django.core.exceptions import ValidationError
from django.utils.text import slugify
from markdown.extensions import Extension
from markdown.extensions.fenced_code import FencedBlockPreprocessor
from markdown.postprocessors import Postprocessor
from markdown.preprocessors import Preprocessor
from markdown.treeprocessors import Treeprocessor

from casestudies import diagrams, images

WORDS_PER_MINUTE = 220

# Far deeper than any real study nests lists, quotes or brackets, and far below where Python-Markdown
# gives out: one line of ~150 nested list markers exhausts its recursion, and ~200 levels of indented
# lists take seconds.
MAX_NESTING = 20
# Markdown's own work; diagrams have their own budget (diagrams.TIMEOUT_SECONDS). A long study takes
# milliseconds, and a request that renders (a save, the live preview) must end well inside
# gunicorn's 30 s timeout.
RENDER_SECONDS = 2


class BodyRefused(ValidationError):
    """A body that is not rendered, with the reason in plain words for the author (`message`)."""


def check_nesting(source):
    """Refuse, in one linear pass and before any rendering, a body nested deeper than MAX_NESTING:
    list and quote markers and indentation on a line, or `[` and link `](` left open in a
    paragraph. Fenced code is not Markdown, so it is not counted."""
    # Each fenced block is kept as its newlines, so the line numbers below stay the author's.
    text = FencedBlockPreprocessor.FENCED_BLOCK_RE.sub(lambda match: "\n" * match.group().count("\n"), source)
    paragraph, first_line = [], 1
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            check_brackets("\n".join(paragraph), first_line)
            paragraph, first_line = [], number + 1
            continue
        paragraph.append(line)
        if THEMATIC_BREAK.match(line):
            continue
        depth, position = 0, 0
        while (marker := CONTAINER.match(line, position)) and marker.end() > position:
            depth, position = depth + 1, marker.end()
        if depth > MAX_NESTING:
            raise BodyRefused(
                f"Line {number} nests lists, quotes or indentation {depth} levels deep; "
                f"at most {MAX_NESTING} are allowed. Flatten it, or put it in a code block."
            )
    check_brackets("\n".join(paragraph), first_line)


def check_brackets(paragraph, first_line):
    square = deepest_square = links = deepest_links = 0
    parens = []  # for each open "(": whether it opens a link's address, as in [text](
    for token in BRACKETS.finditer(paragraph):
        match token.group():
            case "[":
                square += 1
                deepest_square = max(deepest_square, square)
            case "]":
                square = max(0, square - 1)
            case "(":
                opens_link = paragraph[token.start() - 1 : token.start()] == "]"
                parens.append(opens_link)
                links += opens_link
                deepest_links = max(deepest_links, links)
            case ")" if parens:
                links -= parens.pop()
    if deepest_square > MAX_NESTING:
        raise BodyRefused(
            f"The paragraph starting on line {first_line} has {deepest_square} square brackets “[” open "
            f"at once; at most {MAX_NESTING} are allowed. Close them, or escape them as “\\[”."
        )
    if deepest_links > MAX_NESTING:
        raise BodyRefused(
            f"The paragraph starting on line {first_line} has {deepest_links} link addresses “](” left "
            f"open at once; at most {MAX_NESTING} are allowed. Close each with “)”."
        )


# What nests a line: a quote or list marker (up to three spaces before it), or four spaces of indent.
CONTAINER = re.compile(r" {4}|\t| {0,3}(?:>|[-*+](?=\s|$)|\d{1,9}[.)](?=\s|$)) ?")
THEMATIC_BREAK = re.compile(r" {0,3}([-*_])(?: *\1){2,} *$")
# An escaped character is skipped, so "\[" opens nothing.
BRACKETS = re.compile(r"\\.|[\[\]()]", re.DOTALL)
TOO_SLOW = (
    f"The body takes more than {RENDER_SECONDS} seconds to render. Look for a very long run of "
    "brackets, asterisks, lists or HTML tags, and simplify it."
)
TOO_DEEP = "The body is nested too deeply to render: flatten its lists, quotes, emphasis or brackets."


class Budget:
    """Markdown's time limit, checked before each of its steps: a step that would start after the
    deadline raises BodyRefused. The clock starts at the first step, after diagrams are drawn."""

    def __init__(self, seconds):
        self.seconds = seconds
        self.deadline = None

    def check(self):
        now = time.monotonic()
        if self.deadline is None:
            self.deadline = now + self.seconds
        elif now > self.deadline:
            raise BodyRefused(TOO_SLOW)

    def guard(self, converter):
        """Check the time before every block, inline, tree and post processor of `converter` runs."""
        for registry, method in [
            (converter.parser.blockprocessors, "run"),
            (converter.inlinePatterns, "handleMatch"),
            (converter.treeprocessors, "run"),
            (converter.postprocessors, "run"),
        ]:
            for processor in registry:
                setattr(processor, method, self.checked(getattr(processor, method)))

    def checked(self, step):
        @functools.wraps(step)
        def checked_step(*args, **kwargs):
            self.check()
            return step(*args, **kwargs)

        return checked_step


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

    def placeholders_in(self, text):
        return re.findall(rf"{self.token}n\d+", text)

    def insert_figures(self, html):
        if not self.figures:
            return html
        # Only a placeholder standing as its own paragraph becomes a figure; one anywhere else (an
        # attribute, say) would put markup where it does not belong, so it is dropped.
        html = re.sub(rf"<p>({self.token}n\d+)</p>", lambda match: self.figures[match.group(1)], html)
        return re.sub(rf"{self.token}n\d+", "", html)


class DiagramsOutOfRawHtml(Postprocessor):
    """Raw HTML around a diagram (a ```dot block between `<div title="` and `">`, say) is dropped
    and the diagram stands on its own, rather than being drawn into a tag or one of its
    attributes. Runs before Markdown puts its raw HTML back (30)."""

    def run(self, text):
        diagram_blocks = self.md.preprocessors["diagrams"]
        stash = self.md.htmlStash.rawHtmlBlocks
        for index, block in enumerate(stash):
            # A commented-out diagram stays out, as it did.
            if not isinstance(block, str) or block.lstrip().startswith("<!--"):
                continue
            if placeholders := diagram_blocks.placeholders_in(block):
                stash[index] = "\n".join(f"<p>{placeholder}</p>" for placeholder in placeholders)
        return text


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
        md.postprocessors.register(DiagramsOutOfRawHtml(md), "diagrams_out_of_raw_html", 35)


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


# A body rendered ahead of a save, with what came of it: (key, RenderedBody or BodyRefused).
_rendered_ahead = contextvars.ContextVar("rendered_ahead", default=None)


@contextlib.contextmanager
def rendered_ahead(source, images):
    """Render `source` now, before whatever comes next (a transaction, say); within the block,
    rendering the same body with the same images again takes this outcome instead of working."""
    try:
        outcome = render_markdown(source, images)
    except BodyRefused as refused:
        outcome = refused
    token = _rendered_ahead.set((rendering_key(source, images), outcome))
    try:
        yield
    finally:
        _rendered_ahead.reset(token)


def rendering_key(source, images):
    """What a rendering depends on: the text, and each image the body may show as it is now."""
    shown = None
    if images is not None:
        shown = tuple(
            sorted(
                (name, image.digest, image.width, image.height, image.alt, image.credit)
                for name, image in images.items()
            )
        )
    return source or "", shown


def render_markdown(source, images=None):
    """Render a study body; returns its sanitised HTML, table of contents and any problems.

    `images` ({name: StudyImage}) are the study's uploads the body may show; None when
    rendering without a study (nothing is said of names then). Raises BodyRefused for a
    body nested too deeply or too slow to render.
    """
    ahead = _rendered_ahead.get()
    if ahead is not None and ahead[0] == rendering_key(source, images):
        if isinstance(ahead[1], BodyRefused):
            raise BodyRefused(ahead[1].message)
        return ahead[1]
    source = FORBIDDEN_IN_HTML.sub("", source or "")
    check_nesting(source)
    converter = markdown.Markdown(
        extensions=[StudyBodyExtension(images), *EXTENSIONS], extension_configs=EXTENSION_CONFIGS
    )
    Budget(RENDER_SECONDS).guard(converter)
    diagram_blocks = converter.preprocessors["diagrams"]
    uploaded_images = converter.treeprocessors["uploaded_images"]
    try:
        html = converter.convert(source)
    except RecursionError:
        # Nesting the line and bracket counts above do not see, such as emphasis inside emphasis.
        raise BodyRefused(TOO_DEEP) from None
    html = sanitise(html)
    html = EXTERNAL_LINK.sub(r'<a \1 rel="noopener noreferrer">', html)
    html = diagram_blocks.insert_figures(html)
    html = uploaded_images.insert_markup(html)
    toc_html = sanitise(converter.toc) if converter.toc_tokens else ""
    problems = (*diagram_blocks.problems, *uploaded_images.problems)
    return RenderedBody(html=html, toc_html=toc_html, problems=problems)


def reading_minutes(source):
    """Minutes to read a body at an unhurried pace; never less than one."""
    return max(1, math.ceil(len((source or "").split()) / WORDS_PER_MINUTE))
