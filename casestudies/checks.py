"""Gentle checks on a study: things an author would want to know, never a reason to refuse a save."""

import re
from html.parser import HTMLParser

from casestudies.models import CaseStudy, SlugRedirect

META_DESCRIPTION_LENGTH = 160
STUDY_LINK = re.compile(r"^(?:https?://[^/]+)?/case-studies/([^/?#]+)/?(?:[?#].*)?$")
OTHER_SITE = re.compile(r"^(?:https?:)?//", re.IGNORECASE)


class BodyOutline(HTMLParser):
    """Collects what the checks look at from rendered body HTML."""

    def __init__(self):
        super().__init__()
        self.headings = []  # (level, text)
        self.images_without_alt = []
        self.images_elsewhere = []  # sources on another site
        self.links = []
        self._heading = None
        self._in_picture = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if re.fullmatch(r"h[1-6]", tag):
            self._heading = [int(tag[1]), ""]
        elif tag == "picture":
            self._in_picture = True
        elif tag == "img":
            src = (attrs.get("src") or "").strip()
            if not (attrs.get("alt") or "").strip():
                self.images_without_alt.append(src or "(no src)")
            # An uploaded image's <picture> is ours, wherever the storage serves it from.
            if OTHER_SITE.match(src) and not self._in_picture:
                self.images_elsewhere.append(src)
        elif tag == "a" and attrs.get("href"):
            self.links.append(attrs["href"])

    def handle_data(self, data):
        if self._heading is not None:
            self._heading[1] += data

    def handle_endtag(self, tag):
        if tag == "picture":
            self._in_picture = False
        if self._heading is not None and tag == f"h{self._heading[0]}":
            self.headings.append((self._heading[0], self._heading[1].strip(" #")))
            self._heading = None


def review(study, pending=None):
    """Warnings about a saved study, in words the author can act on.

    `pending` ({slug: status, or None for an old slug}) are addresses about to exist that the
    database does not have yet, such as the other files of an import's dry run."""
    warnings = []
    if len(study.summary) > META_DESCRIPTION_LENGTH:
        warnings.append(
            f"The summary is {len(study.summary)} characters; search engines show about "
            f"{META_DESCRIPTION_LENGTH}, so the end will be cut off in results."
        )

    outline = BodyOutline()
    outline.feed(study.body_html)
    previous_level = 1  # the page title
    for level, text in outline.headings:
        if level > previous_level + 1:
            warnings.append(
                f"The heading “{text}” is level {level} right after level {previous_level}: "
                f"use {'#' * (previous_level + 1)} so screen readers and the contents list follow."
            )
        previous_level = level

    for src in outline.images_without_alt:
        warnings.append(f"The image {src} has no alt text: describe it for readers who cannot see it.")

    # Only an <img> written as HTML gets here: a Markdown image from another site is already a
    # link, and it and a name no upload has are told by the rendering's problems, at save and in
    # the live preview.
    for src in outline.images_elsewhere:
        warnings.append(
            f"The image {src} is on another site, so it will not show on the site: the site's "
            "security policy (Content-Security-Policy) allows only its own images. Upload it under "
            "Images and write ![alt text](file-name) instead."
        )

    linked = {match.group(1) for href in outline.links if (match := STUDY_LINK.match(href))}
    if linked:
        known = dict(CaseStudy.objects.filter(slug__in=linked).values_list("slug", "status"))
        redirected = set(SlugRedirect.objects.filter(old_slug__in=linked).values_list("old_slug", flat=True))
        for slug, status in (pending or {}).items():
            if status is None:
                redirected.add(slug)
            else:
                known[slug] = status
        for slug in sorted(linked):
            if slug not in known and slug not in redirected:
                warnings.append(f"The link to /case-studies/{slug}/ leads nowhere: no study has that slug.")
            elif known.get(slug) == CaseStudy.Status.DRAFT:
                warnings.append(
                    f"The link to /case-studies/{slug}/ leads to a draft: visitors cannot see it."
                )
    return warnings
