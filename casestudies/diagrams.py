"""Graphviz diagrams in study bodies: a ```dot block drawn as safe, theme-coloured inline SVG.

An author writes a fenced block whose language is `dot`. Its first line may
name the diagram:

    ```dot
    // caption: Orders flow from the web tier to the ledger
    digraph orders { web -> ledger }
    ```

The caption is shown under the diagram (<figcaption>) and is its accessible
name. Without one, the graph's name (`orders` above) is used, else "Diagram".

Graphviz copies author-written attributes (URL, href, tooltip, id, class)
into its SVG, so its output is never passed on as it is: it is parsed and
rebuilt from an allow-list of drawing elements and geometric attributes.
Colours and fonts are dropped too, so static/css/site.css can draw the
diagram in the light or dark theme (`.diagram` there).
"""

import re
import shutil
import subprocess
import xml.etree.ElementTree as ET

DOT_BINARY = "dot"
# For all of a body's diagrams together: a save must end well inside gunicorn's 30 s timeout.
TIMEOUT_SECONDS = 10
# Laid out with a sans-serif font's widths, as the site then draws the labels in one.
DOT_ARGUMENTS = ["-Tsvg", "-Gfontname=Helvetica", "-Nfontname=Helvetica", "-Efontname=Helvetica"]

CAPTION_LINE = re.compile(r"\A\s*//\s*caption:(?P<caption>[^\n]*)", re.IGNORECASE)

SVG_NAMESPACE = "{http://www.w3.org/2000/svg}"
SHAPES = {"path", "polygon", "polyline", "ellipse", "circle", "line", "rect"}
STROKE = {"stroke-width", "stroke-dasharray"}
ATTRIBUTES = {
    "svg": {"width", "height", "viewBox"},
    "g": {"transform"},
    "path": {"d", *STROKE},
    "polygon": {"points", *STROKE},
    "polyline": {"points", *STROKE},
    "ellipse": {"cx", "cy", "rx", "ry", *STROKE},
    "circle": {"cx", "cy", "r", *STROKE},
    "line": {"x1", "y1", "x2", "y2", *STROKE},
    "rect": {"x", "y", "width", "height", "rx", "ry", *STROKE},
    "text": {"x", "y", "text-anchor", "font-size", "font-weight", "font-style"},
}
# What Graphviz marks its groups with; an author's own `class` values are dropped.
GROUP_CLASSES = {"graph", "node", "edge", "cluster"}
# A link still draws what it wraps; the link itself goes.
UNWRAPPED = {"a"}
# Numbers, units, path commands and transform lists: no quotes, colons or slashes, so no URL.
SAFE_VALUE = re.compile(r"[\w\s.,()-]*")
INVISIBLE = {"none", "transparent"}


class DiagramError(Exception):
    """A diagram that could not be drawn, with the reason in words for the author."""


def caption_of(source):
    match = CAPTION_LINE.match(source)
    return match.group("caption").strip() if match else ""


def figure_html(source, number, timeout=TIMEOUT_SECONDS):
    """The ```dot block `source` as a <figure> of safe inline SVG; raises DiagramError."""
    svg, graph_name = sanitise_svg(run_dot(source, timeout))
    # Graphviz names an anonymous graph "%3" or the like: not a name to read out.
    if graph_name.startswith("%"):
        graph_name = ""
    caption = caption_of(source) or graph_name or "Diagram"

    caption_id = f"diagram-{number}-caption"
    svg.set("role", "img")
    svg.set("aria-labelledby", caption_id)
    svg.insert(0, _element("title", {}, caption))
    figure = ET.Element("figure", {"class": "diagram"})
    figure.text = "\n"
    figure.append(svg)
    figure.append(_element("figcaption", {"id": caption_id}, caption))
    return ET.tostring(figure, encoding="unicode")


def run_dot(source, timeout):
    """Graphviz's SVG for `source`, or DiagramError saying why there is none."""
    out_of_time = f"Graphviz ran out of time ({TIMEOUT_SECONDS} seconds for all of a study's diagrams)."
    if timeout <= 0:
        raise DiagramError(out_of_time)
    dot = shutil.which(DOT_BINARY)
    if dot is None:
        raise DiagramError("Graphviz (the `dot` program) is not installed on the server.")
    try:
        result = subprocess.run(  # noqa: S603 - no shell; the source goes to stdin, never to argv
            [dot, *DOT_ARGUMENTS],
            input=source.encode(),
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise DiagramError(out_of_time) from None
    except OSError as error:
        raise DiagramError(f"Graphviz could not be started ({error.strerror}).") from None
    if result.returncode != 0 or not result.stdout:
        raise DiagramError(dot_error(result.stderr.decode(errors="replace")))
    return result.stdout


def dot_error(stderr):
    """dot's complaint in one line: "syntax error in line 3 near '->'"."""
    errors = stderr.split("Error:")[1:] or [stderr]
    message = " ".join(" ".join(errors).split()).removeprefix("<stdin>:").strip()
    return (message or "Graphviz failed without saying why.")[:300]


def sanitise_svg(data):
    """Graphviz's SVG rebuilt from the allow-list, without colours or fonts; and the graph's name."""
    # Graphviz escapes every author-written `<`, so a declaration here was not written by Graphviz.
    if b"<!ENTITY" in data:
        raise DiagramError("Graphviz produced unexpected output.")
    try:
        root = ET.fromstring(data)  # noqa: S314 - dot wrote it; entities refused above, no DTD is fetched
    except ET.ParseError:
        raise DiagramError("Graphviz produced output that could not be read.") from None
    if root.tag != SVG_NAMESPACE + "svg":
        raise DiagramError("Graphviz produced output that could not be read.")
    graph_name = root.findtext(f"{SVG_NAMESPACE}g/{SVG_NAMESPACE}title", default="").strip()

    [svg] = _clean(root, in_edge=False)
    graph = svg.find("g")
    # The graph's first polygon is the white page Graphviz draws behind it.
    if graph is not None and (background := graph.find("polygon")) is not None:
        graph.remove(background)
    return svg, graph_name


def _clean(element, in_edge):
    """The allowed copy of `element`: a list of none, one, or (for a link) its children's copies."""
    if not isinstance(element.tag, str) or not element.tag.startswith(SVG_NAMESPACE):
        return []
    name = element.tag.removeprefix(SVG_NAMESPACE)
    if name in UNWRAPPED:
        return [kept for child in element for kept in _clean(child, in_edge)]
    # Titles are dropped too: Graphviz's would only show its internal names as tooltips.
    if name not in ATTRIBUTES:
        return []

    attributes = {
        key: value
        for key, value in element.attrib.items()
        if key in ATTRIBUTES[name] and SAFE_VALUE.fullmatch(value)
    }
    classes = set(element.get("class", "").split()) & GROUP_CLASSES
    if name == "g" and classes:
        attributes["class"] = " ".join(sorted(classes))
    if name in SHAPES:
        attributes |= _paint(element, in_edge)

    copy = _element(name, attributes, element.text if name == "text" else None)
    if name in {"svg", "g"}:
        copy.text = "\n"  # one child a line, so a stored body reads well in a diff
    for child in element:
        copy.extend(_clean(child, in_edge or "edge" in classes))
    return [copy]


def _paint(element, in_edge):
    """Fill and stroke as the theme draws them: outlines and arrowheads in the current colour.

    A shape with no fill left is a filled node or cluster; the stylesheet paints it.
    """
    paint = {}
    stroke = element.get("stroke", "black")
    paint["stroke"] = "none" if stroke in INVISIBLE else "currentColor"
    fill = element.get("fill", "black")
    if fill in INVISIBLE:
        paint["fill"] = "none"
    elif in_edge:
        paint["fill"] = "currentColor"
    return paint


def _element(name, attributes, text):
    element = ET.Element(name, attributes)
    element.text = text
    element.tail = "\n"
    return element
