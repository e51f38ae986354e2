"""The list's filter, read from the URL: which tags (all or any), which left out, what words.

Each filter has one URL: `StudyFilter.url()` writes its canonical spelling
(tags lowercased, de-duplicated and sorted, defaults left out, parameters in a
fixed order), and the list view redirects (301) any other spelling to it.
"""

import functools
import unicodedata
from dataclasses import dataclass, replace
from typing import NamedTuple
from urllib.parse import urlencode

from django.http import Http404
from django.urls import get_script_prefix, reverse

from casestudies.models import CaseStudy
from casestudies.search import search
from portfolio import pagecache

# More tags than this in one filter is not a real reader's question.
MAX_TAGS = 5
# Long enough for any real question; a 10 KB query is cut here, not refused.
MAX_QUERY_LENGTH = 200
# The parameters a filter is spelled with, in canonical order (page comes last).
PARAMETERS = ("tag", "match", "exclude", "q", "page")
# A bound on how long the tag counts are kept, whatever else happens to the cache.
TAG_COUNTS_SECONDS = 600


class BadFilter(ValueError):
    """A filter that cannot be read, with the reason in words for the 400 page."""


def normalised(text):
    """`text` in the form slugs and the search index keep it (NFKC): "café" is one
    word whether its accent came as its own character or not."""
    return unicodedata.normalize("NFKC", text)


def normalised_slugs(values):
    return tuple(sorted({normalised(value).strip().lower() for value in values if value.strip()}))


def normalised_query(text):
    """Words to search for, with any control character (a NUL, an escape) read as
    a space: it would otherwise be echoed into the page, the feed link and the box."""
    text = "".join(" " if unicodedata.category(char) == "Cc" else char for char in normalised(text))
    return " ".join(text.split())


def path_of(view_name):
    """The path of a view without arguments. A list page links to a dozen filters, and
    reverse() costs more than all the rest of writing their URLs."""
    return _path_under(view_name, get_script_prefix())


@functools.lru_cache(maxsize=64)
def _path_under(view_name, script_prefix):
    # reverse() reads the script prefix itself; it is an argument here to key the cache.
    return reverse(view_name)


@dataclass(frozen=True)
class StudyFilter:
    tags: tuple[str, ...] = ()
    # With two or more tags: studies with any of them rather than all.
    match_any: bool = False
    exclude: tuple[str, ...] = ()
    query: str = ""

    @classmethod
    def from_params(cls, params):
        """Read a filter from a QueryDict; raises BadFilter saying what is wrong."""
        tags = normalised_slugs(params.getlist("tag"))
        exclude = normalised_slugs(params.getlist("exclude"))
        match = params.get("match", "").strip().lower() or "all"
        if match not in {"all", "any"}:
            raise BadFilter("“match” is either “all” (every tag, the default) or “any” (at least one).")
        for name, slugs in [("tag", tags), ("exclude", exclude)]:
            if len(slugs) > MAX_TAGS:
                raise BadFilter(
                    f"A filter takes at most {MAX_TAGS} “{name}” tags; this one has {len(slugs)}."
                )
            # No tag has one (a format character, say), and PostgreSQL refuses a NUL outright.
            if not all(slug.isprintable() for slug in slugs):
                raise BadFilter(f"A “{name}” tag holds a control character, which no tag has.")
        query = normalised_query(params.get("q", ""))
        if len(query) > MAX_QUERY_LENGTH:
            # Cut at a word boundary, so the last word is not a fragment that matches nothing.
            cut = query[: MAX_QUERY_LENGTH + 1]
            query = cut.rsplit(" ", 1)[0] if " " in cut else cut[:MAX_QUERY_LENGTH]
        return cls(tags=tags, match_any=match == "any" and len(tags) > 1, exclude=exclude, query=query)

    @property
    def all_slugs(self):
        return self.tags + self.exclude

    @property
    def is_everything(self):
        """No tag, exclusion or words: every public study."""
        return not (self.tags or self.exclude or self.query)

    @property
    def is_tags_only(self):
        """Studies with all of some tags, and nothing else to the filter."""
        return bool(self.tags) and not (self.match_any or self.exclude or self.query)

    def params(self, page=None):
        """The filter's URL parameters in their canonical order."""
        params = [("tag", slug) for slug in self.tags]
        if self.match_any:
            params.append(("match", "any"))
        params += [("exclude", slug) for slug in self.exclude]
        if self.query:
            params.append(("q", self.query))
        if page is not None and str(page) != "1":
            params.append(("page", str(page)))
        return params

    def url(self, page=None):
        """The list page of this filter."""
        query = urlencode(self.params(page))
        return path_of("casestudies:list") + (f"?{query}" if query else "")

    def feed_url(self):
        """The Atom feed of this filter: the list's query string on the feed's path."""
        query = urlencode(self.params())
        return path_of("casestudies:feed") + (f"?{query}" if query else "")

    def named_tags(self):
        """The tags this filter names, by slug. A slug no public study carries is a 404, as
        an unknown one is: a tag that only drafts or studies waiting for their date have
        must not be named on a public page."""
        if not self.all_slugs:
            return {}
        tags_by_slug = {tag.slug: tag for tag in tags_in_public_use() if tag.slug in self.all_slugs}
        if unknown := [slug for slug in self.all_slugs if slug not in tags_by_slug]:
            raise Http404(f"No tag “{unknown[0]}”.")
        return tags_by_slug

    def describe(self, tags_by_slug):
        """The filter in words, for titles: "Security + Encryption, without Legacy"."""
        parts = []
        if self.tags:
            joiner = " or " if self.match_any else " + "
            parts.append(joiner.join(tags_by_slug[slug].name for slug in self.tags))
        if self.exclude:
            parts.append("without " + ", ".join(tags_by_slug[slug].name for slug in self.exclude))
        if self.query:
            parts.append(f"“{self.query}”")
        return ", ".join(parts)

    def is_spelled_as(self, params):
        """Whether a request's filter parameters are already this filter's canonical spelling."""
        requested = [
            (name, value) for name, values in params.lists() if name in PARAMETERS[:-1] for value in values
        ]
        return requested == self.params()

    def with_tag(self, slug):
        """Narrow to studies that also carry `slug` (AND)."""
        return replace(self, tags=normalised_slugs([*self.tags, slug]), match_any=False)

    def without_tag(self, slug):
        tags = tuple(tag for tag in self.tags if tag != slug)
        return replace(self, tags=tags, match_any=self.match_any and len(tags) > 1)

    def without_exclusion(self, slug):
        return replace(self, exclude=tuple(tag for tag in self.exclude if tag != slug))

    def without_query(self):
        return replace(self, query="")

    def apply(self, studies):
        """Narrow a CaseStudy queryset by tags and words; with words, the best matches come first."""
        if self.tags:
            studies = (
                studies.tagged_with_any(self.tags) if self.match_any else studies.tagged_with_all(self.tags)
            )
        if self.exclude:
            studies = studies.not_tagged_with(self.exclude)
        if self.query:
            studies = search(studies, self.query)
        return studies


def tags_in_public_use():
    """Every tag of a public study with its count: /tags/, the unfiltered list's panel, and
    whether a filter names a tag in public use.

    Counted over every link of every public study, the dearest read on the site, so
    kept under the content generation: the next change, or the next scheduled
    publication, counts again.
    """
    return pagecache.remember(
        "casestudies:tags-in-public-use",
        lambda: [
            TagCount(name, slug, count)
            for name, slug, count in CaseStudy.objects.published()
            .tag_counts()
            .values_list("name", "slug", "study_count")
        ],
        TAG_COUNTS_SECONDS,
        timed=True,
    )


class TagCount(NamedTuple):
    """A tag as its panels show it. Plain values, not a model: every page that reads the
    list takes it out of the cache, and unpickling 500 model instances costs milliseconds."""

    name: str
    slug: str
    study_count: int
