"""The site's own words: one record, edited in the admin, read by every page.

Pages read it through `SiteProfile.current()`, which costs one query when the
cache is cold and none after. The copy is kept under the content generation:
saving or deleting the profile or a link starts a new one once the transaction
commits (casestudies/contentchanges.py), and every process then reads the
profile afresh.
"""

import zlib

import django
from django.core.exceptions import ValidationError
from django.db import models
from django.urls import reverse
from django.utils.functional import cached_property

from casestudies.models import check_fields, web_url
from casestudies.rendering import BodyRefused, render_markdown
from portfolio import pagecache

DEFAULT_SITE_TITLE = "Engineering Portfolio"
DEFAULT_TAGLINE = "Deep dives into production systems, architecture decisions, and technical challenges."
DEFAULT_INTRO = (
    "Case studies: deep dives into production systems, architecture decisions, and technical "
    "challenges. Reference architectures and design exercises, each written up from its threat "
    "model and data flow to its failure modes."
)

# A bound on a cached copy's life, whatever else happens to the cache.
CACHE_SECONDS = 60


class SiteProfile(models.Model):
    """Title, author, introduction, About text and contact: the one record (id 1) templates read."""

    # Always 1: a second profile is refused by the database, never silently added.
    id = models.PositiveSmallIntegerField(primary_key=True, default=1, editable=False)
    site_title = models.CharField(
        max_length=100, default=DEFAULT_SITE_TITLE, help_text="In the header and every page's title."
    )
    author_name = models.CharField(
        max_length=100,
        blank=True,
        help_text="Your name: the home page's heading and the footer's © line. Empty: the site title.",
    )
    tagline = models.CharField(
        max_length=200,
        default=DEFAULT_TAGLINE,
        help_text="One plain sentence: what search engines show for a page without a summary of its own.",
    )
    intro = models.TextField(
        "introduction", blank=True, default=DEFAULT_INTRO, help_text="Markdown: the home page's introduction."
    )
    intro_html = models.TextField(editable=False, default="")
    about = models.TextField(
        "About page",
        blank=True,
        help_text="Markdown: who you are and what you work on. While this is empty the About link is "
        "hidden and /about/ shows the introduction instead.",
    )
    about_html = models.TextField(editable=False, default="")
    contact_email = models.EmailField(
        blank=True, help_text="Optional: shown in the footer and on the About page."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "site profile"
        verbose_name_plural = "site profile"
        constraints = [models.CheckConstraint(condition=models.Q(id=1), name="site_profile_is_one_record")]

    def __str__(self):
        return self.site_title

    def save(self, *args, **kwargs):
        update_fields = kwargs.get("update_fields")
        check_fields(self, ["contact_email"], update_fields)
        self.render()
        if update_fields is not None:
            rendered = {"intro": "intro_html", "about": "about_html"}
            kwargs["update_fields"] = {*update_fields, *(rendered[f] for f in update_fields if f in rendered)}
        super().save(*args, **kwargs)

    def get_absolute_url(self):
        # The home page shows the most of it: title, author, introduction, footer.
        return reverse("casestudies:home")

    def clean(self):
        # A text the pipeline refuses (nested too deeply, too slow to render) is an error on its
        # field in the form, not a failure of the save.
        errors = {}
        for field in ("intro", "about"):
            try:
                render_markdown(getattr(self, field))
            except BodyRefused as refused:
                errors[field] = refused.messages
        if errors:
            raise ValidationError(errors)

    def render(self):
        """Markdown to sanitised HTML, once, here: the same pipeline as study bodies."""
        # Browsers send textarea lines with CRLF; store one kind of newline.
        self.intro = self.intro.replace("\r\n", "\n")
        self.about = self.about.replace("\r\n", "\n")
        self.intro_html = render_markdown(self.intro).html
        self.about_html = render_markdown(self.about).html

    @cached_property
    def link_list(self):
        """The social links in order; `load()` fills this in with the profile's own query."""
        return list(self.social_links.all())

    @classmethod
    def current(cls):
        """The profile with its links: from the cache, or one query when the cache is cold."""
        return pagecache.remember(CACHE_KEY, cls.load, CACHE_SECONDS)

    @classmethod
    def load(cls):
        """The record and its links in one query: a LEFT JOIN, one row per link (or one row with none)."""
        profile_fields = [field.attname for field in cls._meta.concrete_fields]
        link_fields = ["id", "label", "url", "position"]
        queryset = (
            cls.objects.filter(id=1)
            .order_by("social_links__position", "social_links__id")
            .values_list(*profile_fields, *(f"social_links__{name}" for name in link_fields))
        )
        rows = list(queryset)
        if not rows:
            # The migration creates the record; if it is gone (a flushed database, a
            # shell), pages show the defaults. Reading never writes.
            profile = cls()
            profile.render()
            profile.link_list = []
            return profile
        split = len(profile_fields)
        profile = cls.from_db(queryset.db, profile_fields, rows[0][:split])
        profile.link_list = [
            SocialLink(profile=profile, **dict(zip(link_fields, row[split:], strict=True)))
            for row in rows
            if row[split] is not None
        ]
        return profile


class SocialLink(models.Model):
    """A page of the author's elsewhere (GitHub, Mastodon, LinkedIn), in the footer and on About."""

    profile = models.ForeignKey(SiteProfile, on_delete=models.CASCADE, related_name="social_links")
    label = models.CharField(max_length=60, help_text="e.g. “GitHub”")
    url = models.URLField("URL", max_length=500, validators=[web_url])
    position = models.PositiveSmallIntegerField(default=0, help_text="Lower numbers come first.")

    class Meta:
        ordering = ["position", "id"]

    def __str__(self):
        return self.label

    def save(self, *args, **kwargs):
        check_fields(self, ["url"], kwargs.get("update_fields"))
        super().save(*args, **kwargs)


# The key changes with Django's version and the models' fields, so a process
# never unpickles an entry written by code of another shape (a rolling deploy
# sharing one Redis).
_shape = ",".join(
    field.attname for model in (SiteProfile, SocialLink) for field in model._meta.concrete_fields
)
CACHE_KEY = f"siteprofile:{django.get_version()}:{zlib.crc32(_shape.encode()):08x}"
