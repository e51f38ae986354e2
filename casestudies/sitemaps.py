"""The sitemap's sections: the site's own pages, the studies, and a list page per tag.

`/sitemap.xml` is an index of the sections; each section is paginated
(`/sitemap-studies.xml?p=2`) as the protocol allows. Each view costs the same
few queries however many studies there are.
"""

from functools import cached_property

from django.contrib.sitemaps import Sitemap
from django.contrib.sitemaps import views as sitemap_views
from django.db.models import Max
from django.db.models.functions import Greatest
from django.urls import reverse

from casestudies.filters import StudyFilter
from casestudies.models import CaseStudy
from siteprofile.models import SiteProfile

# The protocol allows 50,000 URLs a file; a page of this many builds in about
# twenty milliseconds at 10,000 studies, and the index lists every page.
URLS_PER_PAGE = 500


def changed_at(prefix=""):
    """When a study last changed for a visitor: its last edit, or its appearance if dated later."""
    return Greatest(f"{prefix}updated_at", f"{prefix}published_at")


class PublishedStudies:
    """When a published study last changed: asked once per request, whichever sections want it."""

    @cached_property
    def latest_change(self):
        return CaseStudy.objects.published().aggregate(latest=Max(changed_at()))["latest"]


class PageSitemap(Sitemap):
    """Home, the list, the tag index and About."""

    limit = URLS_PER_PAGE

    def __init__(self, studies):
        self.studies = studies

    def items(self):
        return self.pages

    @cached_property
    def pages(self):
        # Every page shows the profile (title, tagline, introduction); home and the list the studies too.
        profile_changed = SiteProfile.current().updated_at
        with_studies = max(filter(None, [self.studies.latest_change, profile_changed]), default=None)
        return [
            ("casestudies:home", with_studies),
            ("casestudies:list", with_studies),
            ("casestudies:tags", self.studies.latest_change),
            ("siteprofile:about", profile_changed),
        ]

    def location(self, page):
        return reverse(page[0])

    def lastmod(self, page):
        return page[1]

    def get_latest_lastmod(self):
        return max(filter(None, (lastmod for _name, lastmod in self.pages)), default=None)


class StudySitemap(Sitemap):
    limit = URLS_PER_PAGE

    def __init__(self, studies):
        self.studies = studies

    def items(self):
        # Rows, not models: a page holds hundreds, and only these two values are read.
        return (
            CaseStudy.objects.published()
            .annotate(changed_at=changed_at())
            .order_by("-published_at", "title", "pk")
            .values_list("slug", "changed_at", named=True)
        )

    @cached_property
    def path_prefix(self):
        # One reverse() a page rather than one a study: every study's path is prefix + slug + "/".
        return reverse("casestudies:detail", args=["-"]).removesuffix("-/")

    def location(self, study):
        return f"{self.path_prefix}{study.slug}/"

    def lastmod(self, study):
        return study.changed_at

    def get_latest_lastmod(self):
        # Django's default would load every study to find the newest date.
        return self.studies.latest_change


class TagSitemap(Sitemap):
    """The list filtered by each tag that a published study carries."""

    limit = URLS_PER_PAGE

    def items(self):
        return self.tags

    @cached_property
    def tags(self):
        # Tags are few next to studies: one query gives the pages, their count and the newest change.
        return list(
            CaseStudy.objects.published()
            .filter(tag_links__isnull=False)
            .order_by("tag_links__tag__slug")
            .values_list("tag_links__tag__slug")
            .annotate(changed_at=Max(changed_at()))
        )

    def location(self, tag):
        return StudyFilter(tags=(tag[0],)).url()

    def lastmod(self, tag):
        return tag[1]

    def get_latest_lastmod(self):
        return max((changed for _slug, changed in self.tags), default=None)


def sections():
    """Fresh sitemaps for one request, sharing one look at the published studies."""
    studies = PublishedStudies()
    return {"pages": PageSitemap(studies), "studies": StudySitemap(studies), "tags": TagSitemap()}


def index(request):
    return sitemap_views.index(request, sections(), sitemap_url_name="sitemap_section")


def section(request, section):
    # Django's own template gives lastmod as a date; this one keeps the time of day.
    return sitemap_views.sitemap(request, sections(), section, template_name="casestudies/sitemap.xml")
