"""Atom feeds: every published study, and one feed per filter of the list.

A filter's feed answers at the list's query string on the feed's path
(`/case-studies/feed/?tag=encryption&tag=security`), read and canonicalised by
the list's own `StudyFilter`: one URL per filter, other spellings redirected.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass

from django.contrib.syndication.views import Feed
from django.shortcuts import redirect, render
from django.utils.feedgenerator import Atom1Feed
from django.utils.xmlutils import SimplerXMLGenerator

from casestudies.filters import BadFilter, StudyFilter
from casestudies.models import CaseStudy
from casestudies.sitemaps import changed_at
from siteprofile.models import SiteProfile

# Enough for a reader catching up; older studies are one click away on the site.
ENTRIES_PER_FEED = 20

# Media RSS: how feed readers are told which picture stands for an entry.
MEDIA_NS = "http://search.yahoo.com/mrss/"

# Characters XML 1.0 cannot carry at all; a body pasted from elsewhere may hold one.
XML_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


class _XMLGenerator(SimplerXMLGenerator):
    """Drops the characters XML cannot hold, where Django's generator would fail the whole feed."""

    def characters(self, content):
        super().characters(XML_ILLEGAL.sub("", content))

    def startElement(self, name, attrs):
        super().startElement(name, {key: XML_ILLEGAL.sub("", value) for key, value in (attrs or {}).items()})


class StudyAtomFeed(Atom1Feed):
    """Atom with each study's full body as <content>, its plain-text summary as <summary>
    and its cover, if it has one, as <media:content>."""

    def root_attributes(self):
        return {**super().root_attributes(), "xmlns:media": MEDIA_NS}

    def write(self, outfile, encoding):
        handler = _XMLGenerator(outfile, encoding, short_empty_elements=True)
        handler.startDocument()
        handler.startElement("feed", self.root_attributes())
        self.add_root_elements(handler)
        self.write_items(handler)
        handler.endElement("feed")

    def add_item_elements(self, handler, item):
        super().add_item_elements(handler, item)
        handler.addQuickElement("summary", item["summary"], {"type": "text"})
        # xml:base: the body's relative links (heading anchors, footnotes) resolve against the study.
        handler.addQuickElement("content", item["content"], {"type": "html", "xml:base": item["link"]})
        if cover := item["cover"]:
            url, width, height = cover
            size = {"width": str(width), "height": str(height)}
            handler.addQuickElement(
                "media:content", None, {"url": url, "medium": "image", "type": "image/webp", **size}
            )


@dataclass(frozen=True)
class FeedSubject:
    """What one request's feed is of: a filter and its tags by slug."""

    study_filter: StudyFilter
    tags_by_slug: dict
    # The request's build_absolute_uri, for the covers' addresses.
    absolute_url: Callable[[str], str]


class StudyFeed(Feed):
    feed_type = StudyAtomFeed

    def __call__(self, request, *args, **kwargs):
        try:
            study_filter = StudyFilter.from_params(request.GET)
        except BadFilter as problem:
            return render(request, "400.html", {"message": str(problem)}, status=400)
        if not study_filter.is_spelled_as(request.GET):
            return redirect(study_filter.feed_url(), permanent=True)
        return super().__call__(request, *args, **kwargs)

    def get_object(self, request):
        study_filter = StudyFilter.from_params(request.GET)
        return FeedSubject(study_filter, study_filter.named_tags(), request.build_absolute_uri)

    def items(self, subject):
        studies = (
            subject.study_filter.apply(CaseStudy.objects.published())
            .only("pk", "public_id", "title", "slug", "summary", "body_html", "published_at")
            # A study scheduled ahead of its last edit changed, for a reader, when it appeared.
            .annotate(changed_at=changed_at())
            # A feed is a timeline, even of a search's matches.
            .order_by("-published_at", "title")
            .with_tags()
            .with_cover()[:ENTRIES_PER_FEED]
        )
        studies = list(studies)
        for study in studies:
            # Given at creation: survives slug, title and host changes, and, unlike the database id,
            # counts nothing (its gaps would number the studies not shown).
            study.entry_id = study.public_id.urn
            study.cover_for_feed = None
            if cover := study.cover:
                url, width, height = cover.widest_rendition()
                study.cover_for_feed = (subject.absolute_url(url), width, height)
        return studies

    # The feed

    def title(self, subject):
        site_title = SiteProfile.current().site_title
        if description := subject.study_filter.describe(subject.tags_by_slug):
            return f"{site_title}: {description}"
        return site_title

    def subtitle(self, subject):
        return SiteProfile.current().tagline

    def link(self, subject):
        return subject.study_filter.url()

    def feed_url(self, subject):
        return subject.study_filter.feed_url()

    def author_name(self, subject):
        profile = SiteProfile.current()
        return profile.author_name or profile.site_title

    # Its entries

    def item_title(self, item):
        # Atom titles are text; Django's default escapes them for RSS's sake.
        return item.title

    def item_description(self, item):
        # Written as <summary type="text"> by StudyAtomFeed, not as HTML.
        return None

    def item_guid(self, item):
        return item.entry_id

    def item_pubdate(self, item):
        return item.published_at

    def item_updateddate(self, item):
        return item.changed_at

    def item_categories(self, item):
        return [tag.name for tag in item.tag_list]

    def item_extra_kwargs(self, item):
        # body_html was sanitised when the study was saved.
        return {"summary": item.summary, "content": item.body_html, "cover": item.cover_for_feed}
