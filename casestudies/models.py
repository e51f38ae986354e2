import uuid
from datetime import UTC, datetime

import reversion
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator, URLValidator
from django.db import models, transaction
from django.db.models import Count, Max, Min, Q
from django.db.models.functions import Lower
from django.db.models.signals import m2m_changed
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify
from taggit.managers import TaggableManager
from taggit.models import TagBase, TaggedItemBase

from casestudies import images
from casestudies.rendering import reading_minutes, render_markdown


class Tag(TagBase):
    """A tag as the author spelled it ("Zero-Knowledge"), with a lowercase slug."""

    class Meta:
        ordering = ["name"]
        constraints = [
            # Together with TAGGIT_CASE_INSENSITIVE, "Security" and "security"
            # can never become two tags, whichever path creates them.
            models.UniqueConstraint(
                Lower("name"),
                name="tag_name_unique_ignoring_case",
                violation_error_message="A tag with this name exists already, ignoring case.",
            ),
        ]

    def merge_into(self, target):
        """Move this tag's studies to `target` (each keeps its other tags), then delete this tag."""
        with transaction.atomic():
            links = TaggedCaseStudy.objects.filter(tag=self)
            already_tagged = TaggedCaseStudy.objects.filter(tag=target).values("content_object")
            links.filter(content_object__in=already_tagged).delete()
            moved = set(links.values_list("content_object", flat=True))
            links.update(tag=target)
            self.delete()
            # update() sends no signal: tell casestudies.contentchanges which studies changed.
            m2m_changed.send(
                sender=TaggedCaseStudy,
                instance=target,
                action="post_add",
                reverse=True,
                model=CaseStudy,
                pk_set=moved,
                using=target._state.db,
            )

    def slugify(self, tag, i=None):
        # Keep non-ASCII letters ("café", "日本語"): browsers percent-encode them
        # and Django decodes them, so the slug works in a URL as written.
        slug = slugify(tag, allow_unicode=True) or "tag"
        if i is not None:
            slug = f"{slug}-{i}"
        return slug


@reversion.register()
class TaggedCaseStudy(TaggedItemBase):
    """A direct link table (rather than taggit's generic one): plain joins, real foreign keys."""

    tag = models.ForeignKey(Tag, on_delete=models.CASCADE, related_name="tagged_studies")
    content_object = models.ForeignKey("CaseStudy", on_delete=models.CASCADE, related_name="tag_links")

    class Meta:
        # Link order is the order the author gave the tags in.
        ordering = ["pk"]
        constraints = [
            models.UniqueConstraint(fields=["content_object", "tag"], name="study_tag_once"),
        ]
        indexes = [models.Index(fields=["tag", "content_object"], name="tagged_study_by_tag")]


class CaseStudyQuerySet(models.QuerySet):
    def published(self, at=None):
        """What the public may see (at the moment `at`, by default now): the one statement of
        the rule. Every public page, count, feed and the page cache's schedule start from it;
        `CaseStudy.is_public` says the same of one study."""
        return self.filter(status=CaseStudy.Status.PUBLISHED, published_at__lte=at or timezone.now())

    def tagged_with_all(self, tag_slugs):
        """Studies carrying every one of the given tags (AND)."""
        queryset = self
        for slug in tag_slugs:
            # One join per tag: a study matches only if each tag is on it.
            queryset = queryset.filter(tags__slug=slug)
        return queryset

    def tagged_with_any(self, tag_slugs):
        """Studies carrying at least one of the given tags (OR)."""
        tagged = TaggedCaseStudy.objects.filter(tag__slug__in=tag_slugs).values("content_object")
        return self.filter(pk__in=tagged)

    def not_tagged_with(self, tag_slugs):
        """Studies carrying none of the given tags."""
        tagged = TaggedCaseStudy.objects.filter(tag__slug__in=tag_slugs).values("content_object")
        return self.exclude(pk__in=tagged)

    def tag_counts(self):
        """The tags these studies carry, each with `study_count` (how many of them carry it),
        most used first, then by name whatever its case."""
        return (
            Tag.objects.filter(tagged_studies__content_object__in=self.order_by().values("pk"))
            .annotate(study_count=Count("tagged_studies"))
            .order_by("-study_count", Lower("name"), "name")
        )

    def related_to(self, study, limit):
        """Up to `limit` of these studies sharing tags with `study`, most shared first, then
        newest; each with `shared_tags`."""
        return (
            self.exclude(pk=study.pk)
            .filter(tag_links__tag__in=[tag.pk for tag in study.tag_list])
            .annotate(shared_tags=Count("tag_links"))
            .order_by("-shared_tags", "-published_at", "title")
            .only("title", "slug", "published_at")[:limit]
        )

    def neighbours_of(self, study):
        """Of these studies in list order (newest first), the one just before `study` (newer)
        and the one just after it (older), each None at an end: one query."""
        date, title = study.published_at, study.title
        newer = self.filter(Q(published_at__gt=date) | Q(published_at=date, title__lt=title))
        older = self.filter(Q(published_at__lt=date) | Q(published_at=date, title__gt=title))
        closest_newer = newer.order_by("published_at", "-title").values("pk")[:1]
        closest_older = older.order_by("-published_at", "title").values("pk")[:1]
        found = self.filter(Q(pk__in=closest_newer) | Q(pk__in=closest_older))
        found = list(found.only("slug", "title", "published_at"))

        def listed_before(other):
            return other.published_at > date or (other.published_at == date and other.title < title)

        newer_one = next((other for other in found if listed_before(other)), None)
        older_one = next((other for other in found if not listed_before(other)), None)
        return newer_one, older_one

    def schedule(self):
        """(when the next study dated ahead appears, the date of the latest public one), from
        the rule itself: the latest of the studies it admits now, and the earliest of those
        it admits at some later moment that are dated after now. Two probes of the date index."""
        now = timezone.now()
        latest = self.published(at=now).aggregate(last=Max("published_at"))
        upcoming = self.published(at=END_OF_TIME).filter(published_at__gt=now)
        return {"next": upcoming.aggregate(next=Min("published_at"))["next"], **latest}

    def card_fields(self):
        """Only the columns a card shows: a list page reads nothing else of its studies."""
        return self.only("title", "slug", "summary", "published_at")

    def with_tags(self):
        """Fetch every study's tags (for `tag_list`) in one query."""
        return self.prefetch_related(tag_links())

    def with_cover(self):
        """Fetch every study's cover (for `cover`) in one query."""
        return self.prefetch_related(self.cover_images())

    @staticmethod
    def cover_images():
        """The prefetch of a study's cover, for with_cover() or for studies already fetched
        (prefetch_related_objects). It fills `images` with the cover alone: enough for
        `cover`, not for rendering a body."""
        return models.Prefetch("images", queryset=StudyImage.objects.filter(is_cover=True))


def tag_links():
    """The prefetch of a study's tags, in the order the author gave them: for with_tags(),
    or for studies already fetched (prefetch_related_objects)."""
    return models.Prefetch("tag_links", queryset=TaggedCaseStudy.objects.select_related("tag"))


# Later than any study's date: published(at=END_OF_TIME) is every study the rule will ever admit.
END_OF_TIME = datetime(9999, 1, 1, tzinfo=UTC)

# Addresses under /case-studies/ that are not studies.
RESERVED_SLUGS = {"feed": "the Atom feed is at /case-studies/feed/"}

lowercase_slug = RegexValidator(
    r"^[a-z0-9]+(?:-[a-z0-9]+)*$",
    "Use lowercase letters, digits and single hyphens, e.g. “my-first-study”.",
)
# Links visitors follow: a javascript: or data: link would run in our pages.
web_url = URLValidator(
    schemes=["http", "https"], message="Enter an address starting with http:// or https://."
)


def check_fields(instance, names, update_fields=None):
    """Validate these fields of `instance` as its form would, or raise ValidationError.

    For save(): what the shell, a script or a command saves is held to the same rules as
    the admin, which alone calls full_clean(). Only the fields being saved are checked.
    """
    if update_fields is not None:
        names = [name for name in names if name in update_fields]
    others = [field.name for field in instance._meta.fields if field.name not in names]
    instance.clean_fields(exclude=others)


# Every save through the admin keeps a revision of the study with its tags and
# outcomes; old slugs are not followed, so a restore never loses a redirect.
@reversion.register(follow=["tag_links", "outcomes"])
class CaseStudy(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        PUBLISHED = "published", "Published"

    title = models.CharField(max_length=200)
    slug = models.SlugField(
        max_length=200,
        unique=True,
        validators=[lowercase_slug],
        help_text="The last part of the study's address, as in /case-studies/my-first-study/",
    )
    summary = models.TextField(
        max_length=500,
        help_text="Plain text, one or two sentences: shown on cards and to search engines.",
    )
    body = models.TextField(blank=True, help_text="Markdown.")
    body_html = models.TextField(editable=False, default="")
    toc_html = models.TextField(editable=False, default="")
    reading_minutes = models.PositiveSmallIntegerField(editable=False, default=1)
    tags = TaggableManager(through=TaggedCaseStudy, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    published_at = models.DateTimeField(
        default=timezone.now,
        help_text="The study's date. A published study dated in the future stays hidden until then.",
    )
    repository_url = models.URLField("repository", blank=True, validators=[web_url])
    live_url = models.URLField("live site", blank=True, validators=[web_url])
    # Key facts, all optional: the study page shows a panel when any is given.
    role = models.CharField(max_length=120, blank=True, help_text="e.g. “Lead engineer”")
    timeframe = models.CharField(max_length=120, blank=True, help_text="e.g. “Q1–Q3 2024” or “6 months”")
    team_size = models.PositiveSmallIntegerField(null=True, blank=True, help_text="People on the team.")
    stack = models.CharField(
        max_length=300, blank=True, help_text="Comma-separated, e.g. “Django, PostgreSQL, Redis”"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Names the study where its address or database id must not: a feed entry's id.
    public_id = models.UUIDField(default=uuid.uuid4, editable=False, unique=True)

    objects = CaseStudyQuerySet.as_manager()

    class Meta:
        verbose_name = "case study"
        verbose_name_plural = "case studies"
        ordering = ["-published_at", "title"]
        indexes = [
            models.Index(fields=["status", "-published_at", "title"], name="study_public_order"),
            # The sitemap and feeds ask when published studies last changed.
            models.Index(fields=["status", "published_at", "updated_at"], name="study_public_changes"),
        ]

    def __str__(self):
        return self.title

    def save(self, *args, **kwargs):
        update_fields = kwargs.get("update_fields")
        check_fields(self, ["slug", "repository_url", "live_url"], update_fields)
        if update_fields is None or "body" in update_fields:
            # Rendered already when clean() validated this very body, as the admin's form does; a
            # later save renders again, as the study's images may have changed since.
            if getattr(self, "_rendered_body", None) != self.body:
                self.render_body()
            self._rendered_body = None
            if update_fields is not None:
                kwargs["update_fields"] = {*update_fields, "body_html", "toc_html", "reading_minutes"}
        super().save(*args, **kwargs)

    def get_absolute_url(self):
        return reverse("casestudies:detail", args=[self.slug])

    def render_body(self):
        """Render once, here, so no request ever pays for Markdown. A body the pipeline refuses
        (nested too deeply, too slow to render) is a ValidationError on `body`."""
        # Browsers send textarea lines with CRLF; store one kind of newline.
        self.body = self.body.replace("\r\n", "\n")
        try:
            rendered = render_markdown(self.body, self.images_by_name())
        except ValidationError as refusal:
            raise ValidationError({"body": refusal.messages}) from None
        self.body_html = rendered.html
        self.toc_html = rendered.toc_html
        # Not stored: what went wrong in this save (an undrawable diagram), for the admin to show.
        self.render_problems = list(rendered.problems)
        self.reading_minutes = reading_minutes(self.body)
        self._rendered_body = self.body

    def images_by_name(self):
        """The uploads the body may show, by the name it calls them."""
        return {image.name: image for image in self.images.all()} if self.pk else {}

    @property
    def cover(self):
        """The cover image, or None; prefetch `images` (with_cover()) to ask many studies."""
        return next((image for image in self.images.all() if image.is_cover), None)

    def clean(self):
        errors = {}
        # Rendered here, where every path that validates a study passes, so a body that cannot be
        # rendered is refused on its field and never saved; save() then keeps this rendering.
        try:
            self.render_body()
        except ValidationError as error:
            errors = error.update_error_dict(errors)
        if self.slug in RESERVED_SLUGS:
            errors["slug"] = [f"“{self.slug}” is taken by the site itself ({RESERVED_SLUGS[self.slug]})."]
        taken = SlugRedirect.objects.filter(old_slug=self.slug).exclude(study_id=self.pk)
        if "slug" not in errors and (redirect := taken.select_related("study").first()):
            errors["slug"] = [
                f"“{self.slug}” is an old address of “{redirect.study}” and still "
                "redirects there. Pick another slug, or delete that redirect under "
                "Case studies › Slug redirects first."
            ]
        if errors:
            raise ValidationError(errors)

    @property
    def stack_list(self):
        return [item.strip() for item in self.stack.split(",") if item.strip()]

    @property
    def has_key_facts(self):
        """Whether any key fact is filled in; outcomes should be prefetched by the caller."""
        return bool(self.role or self.timeframe or self.team_size or self.stack or self.outcomes.all())

    @property
    def tag_list(self):
        """The study's tags in the order the author gave them; use with_tags() to prefetch."""
        return [link.tag for link in self.tag_links.all()]

    @property
    def is_public(self):
        return self.status == self.Status.PUBLISHED and self.published_at <= timezone.now()


@reversion.register()
class Outcome(models.Model):
    """A measured result of a study: a label with a before and an after value."""

    study = models.ForeignKey(CaseStudy, on_delete=models.CASCADE, related_name="outcomes")
    label = models.CharField(max_length=120, help_text="e.g. “p99 latency”")
    before = models.CharField(max_length=40, blank=True)
    after = models.CharField(max_length=40, blank=True)
    unit = models.CharField(max_length=20, blank=True, help_text="e.g. “ms” or “%”")
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "pk"]

    def __str__(self):
        return self.label


class StudyImage(models.Model):
    """A picture of a study: its cover, or a figure its body shows by name, as in
    `![A whiteboard](whiteboard.jpg "Caption")`.

    The files are in the default storage, named by content (casestudies/images.py);
    this row says which study uses them and how. Deleting it deletes them, unless
    another image has the same picture.
    """

    study = models.ForeignKey(CaseStudy, on_delete=models.CASCADE, related_name="images")
    name = models.CharField(
        max_length=100, help_text="The file name the body refers to, as in ![Alt text](whiteboard.jpg)."
    )
    alt = models.CharField(
        "alt text",
        max_length=300,
        help_text="What the picture shows, for readers who cannot see it.",
    )
    credit = models.CharField(max_length=200, blank=True, help_text="Optional, e.g. “Photo: Ada Lovelace”.")
    is_cover = models.BooleanField(
        "cover", default=False, help_text="Shown above the body, on cards and in the share image."
    )
    digest = models.CharField(max_length=20, editable=False)
    extension = models.CharField(max_length=4, editable=False)
    width = models.PositiveIntegerField(editable=False)
    height = models.PositiveIntegerField(editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-is_cover", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["study", "name"],
                name="image_name_unique_per_study",
                violation_error_message="This study has an image of that name already.",
            ),
            models.UniqueConstraint(
                fields=["study"],
                condition=Q(is_cover=True),
                name="one_cover_per_study",
                violation_error_message="A study has one cover; untick the other first.",
            ),
        ]
        indexes = [models.Index(fields=["digest"], name="image_digest")]

    def __str__(self):
        return self.name

    def show(self, master):
        """Make this image `master` (an accepted upload, images.accept()), its files written first."""
        images.store(master)
        self.digest, self.extension = master.digest, master.extension
        self.width, self.height = master.width, master.height

    @property
    def file_names(self):
        """The master and every rendition, as named in the default storage."""
        return images.file_names(self.digest, self.extension, self.width)

    @property
    def master_name(self):
        return images.master_name(self.digest, self.extension)

    def renditions(self, image_format):
        """[(url, width)] of the renditions in `image_format` ("avif" or "webp"), narrowest first."""
        return [
            (images.url(images.rendition_name(self.digest, width, image_format)), width)
            for width in images.rendition_widths(self.width)
        ]

    def rendition_height(self, width):
        """The height of the rendition `width` pixels wide."""
        return images.scaled_height(self.width, self.height, width)

    def widest_rendition(self):
        """(url, width, height) of the widest WebP rendition: the picture feeds and search engines
        are given. The URL is as the storage gives it, to be made absolute."""
        url, width = self.renditions("webp")[-1]
        return url, width, self.rendition_height(width)

    def picture_html(self, sizes, *, alt=None, eager=False):
        return images.picture_html(self, sizes, alt=alt, eager=eager)


class SocialCard(models.Model):
    """A study's share image (1200x630 PNG) and a digest of what it shows.

    Its own table, so study lists never load the image; in the database rather
    than on a disk, so every replica serves the same one.
    """

    study = models.OneToOneField(
        CaseStudy, on_delete=models.CASCADE, primary_key=True, related_name="social_card"
    )
    png = models.BinaryField()
    # Drawn again only when what the card shows (title, tags, site name) changes.
    digest = models.CharField(max_length=64)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return f"Social card of {self.study}"


class SearchDocument(models.Model):
    """A study's entry in the full-text index, written and read by casestudies/search.py.

    Unmanaged: migration 0004 makes the table each database needs under one name, a
    tsvector with a GIN index on PostgreSQL, an FTS5 table on SQLite. Only the key is
    declared; the other columns differ by database. Its own table, so that study lists
    never load the index.
    """

    study = models.OneToOneField(
        CaseStudy,
        # search.py drops the entry when the study is deleted.
        on_delete=models.DO_NOTHING,
        primary_key=True,
        db_constraint=False,
        related_name="search_document",
    )

    class Meta:
        managed = False
        db_table = "casestudies_search"

    def __str__(self):
        return f"Search index entry of {self.study_id}"


class SlugRedirect(models.Model):
    """An old slug of a study, kept so that every address it ever had keeps working."""

    old_slug = models.SlugField(max_length=200, unique=True)
    # Redirects point at the study, not at a slug: a chain of renames is one hop.
    study = models.ForeignKey(CaseStudy, on_delete=models.CASCADE, related_name="slug_redirects")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["old_slug"]

    def __str__(self):
        return f"/case-studies/{self.old_slug}/ → {self.study}"
