from typing import NamedTuple

import reversion
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import DEFAULT_DB_ALIAS, connections, models, transaction
from django.db.models.functions import Lower
from django.db.models.signals import m2m_changed, post_save, pre_save
from django.dispatch import receiver
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify
from taggit.managers import TaggableManager
from taggit.models import TagBase, TaggedItemBase

from casestudies.rendering import reading_minutes, render_markdown


class Tag(TagBase):
    """A tag as the author spelled it ("Zero-Knowledge"), with a lowercase slug."""

    # Kept by casestudies.tagcounts; includes studies still waiting for their date.
    published_studies = models.PositiveIntegerField(default=0, editable=False)

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
            # update() sends no signal: tell receivers (the search index, social cards) what changed.
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


class TagPair(models.Model):
    """How many published studies carry both `tag` and `other`; each pair is stored both ways.

    Kept by casestudies.tagcounts, like Tag.published_studies: the facet panel of a
    one-tag list reads a tag's pairs rather than counting the links of its studies.
    """

    tag = models.ForeignKey(Tag, on_delete=models.CASCADE, related_name="+")
    other = models.ForeignKey(Tag, on_delete=models.CASCADE, related_name="+")
    # Includes studies still waiting for their date, as Tag.published_studies does.
    published_studies = models.PositiveIntegerField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tag", "other"], name="tag_pair_once")]
        indexes = [models.Index(fields=["tag", "-published_studies"], name="tag_pair_by_count")]

    def __str__(self):
        return f"{self.tag_id} + {self.other_id}: {self.published_studies}"


class PublishedTotal(models.Model):
    """How many studies are published, whatever their date: one row.

    Kept by casestudies.tagcounts, like Tag.published_studies: the list reads its
    total ("Page 1 of 750") from here, less the few studies still waiting for their
    date, rather than counting every public study on each request.
    """

    published_studies = models.PositiveIntegerField(default=0)

    def __str__(self):
        return f"{self.published_studies} published"


class TagTriple(models.Model):
    """How many published studies carry both tags of a pair (`first`, `second`, in id order) and `other`.

    Kept by casestudies.tagcounts, like TagPair: the facet panel of a two-tag list
    reads the pair's triples.
    """

    first = models.ForeignKey(Tag, on_delete=models.CASCADE, related_name="+")
    second = models.ForeignKey(Tag, on_delete=models.CASCADE, related_name="+")
    other = models.ForeignKey(Tag, on_delete=models.CASCADE, related_name="+")
    # Includes studies still waiting for their date, as Tag.published_studies does.
    published_studies = models.PositiveIntegerField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["first", "second", "other"], name="tag_triple_once")]
        indexes = [models.Index(fields=["first", "second", "-published_studies"], name="tag_triple_by_count")]

    def __str__(self):
        return f"{self.first_id} + {self.second_id} + {self.other_id}: {self.published_studies}"


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
        """What the public may see (at the moment `at`, by default now): the one rule
        every public page starts from (`public_condition` says it in SQL)."""
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

    def for_cards(self):
        """What a card shows, with the tags in one more query."""
        return self.card_fields().with_tags()

    def card_fields(self):
        """Only the columns a card shows, or its stored HTML: a list page reads nothing else
        of its studies, and each column read is one more value to convert, twelve times."""
        return self.only("title", "slug", "summary", "published_at", "card_html", "card_key")

    def with_tags(self):
        """Fetch every study's tags (for `tag_list`) in one query."""
        return self.prefetch_related(
            models.Prefetch("tag_links", queryset=TaggedCaseStudy.objects.select_related("tag"))
        )


def public_condition(alias, at=None, using=DEFAULT_DB_ALIAS):
    """`CaseStudyQuerySet.published()` as SQL on the study table called `alias`, with its
    parameters: for the few queries a study page runs that are written by hand."""
    moment = connections[using].ops.adapt_datetimefield_value(at or timezone.now())
    return f"{alias}.published_at <= %s AND {alias}.status = %s", [moment, CaseStudy.Status.PUBLISHED]


def waiting_condition(alias, using=DEFAULT_DB_ALIAS):
    """Its complement among published studies, as SQL on `alias` with its parameters: those
    still waiting for their date, which the kept counts include and the public must not see."""
    now = connections[using].ops.adapt_datetimefield_value(timezone.now())
    return f"{alias}.status = %s AND {alias}.published_at > %s", [CaseStudy.Status.PUBLISHED, now]


class Neighbour(NamedTuple):
    """A study next to another on the list, as its pager links to it."""

    slug: str
    title: str

    def get_absolute_url(self):
        return reverse("casestudies:detail", args=[self.slug])


# Up to this many links of a study's tags, its related studies are found by looking each
# linked study up by id; beyond it, by walking the public list (about where, at 10,000
# studies, the two cost the same).
RELATED_BY_ID_UP_TO = 300

# Addresses under /case-studies/ that are not studies.
RESERVED_SLUGS = {"feed": "the Atom feed is at /case-studies/feed/"}

lowercase_slug = RegexValidator(
    r"^[a-z0-9]+(?:-[a-z0-9]+)*$",
    "Use lowercase letters, digits and single hyphens, e.g. “my-first-study”.",
)


# Every save through the admin keeps a revision of the study with its tags and
# outcomes; old slugs are not followed, so a restore never loses a redirect.
@reversion.register(follow=["tag_links", "outcomes"], exclude=["card_html", "card_key"])
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
    # The study's card on the list, kept by casestudies.cards.
    card_html = models.TextField(editable=False, default="")
    card_key = models.CharField(max_length=16, editable=False, default="")
    reading_minutes = models.PositiveSmallIntegerField(editable=False, default=1)
    tags = TaggableManager(through=TaggedCaseStudy, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    published_at = models.DateTimeField(
        default=timezone.now,
        help_text="The study's date. A published study dated in the future stays hidden until then.",
    )
    repository_url = models.URLField("repository", blank=True)
    live_url = models.URLField("live site", blank=True)
    # Key facts, all optional: the study page shows a panel when any is given.
    role = models.CharField(max_length=120, blank=True, help_text="e.g. “Lead engineer”")
    timeframe = models.CharField(max_length=120, blank=True, help_text="e.g. “Q1–Q3 2024” or “6 months”")
    team_size = models.PositiveSmallIntegerField(null=True, blank=True, help_text="People on the team.")
    stack = models.CharField(
        max_length=300, blank=True, help_text="Comma-separated, e.g. “Django, PostgreSQL, Redis”"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = CaseStudyQuerySet.as_manager()

    # On SQLite the table keeps the long text columns (summary, card, contents, body)
    # after the short ones, whatever the order here: see migration 0011.
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
        # Browsers send textarea lines with CRLF; store one kind of newline.
        self.body = self.body.replace("\r\n", "\n")
        # Render once, here, so no request ever pays for Markdown.
        rendered = render_markdown(self.body)
        self.body_html = rendered.html
        self.toc_html = rendered.toc_html
        # Not stored: what went wrong in this save (an undrawable diagram), for the admin to show.
        self.render_problems = list(rendered.problems)
        self.reading_minutes = reading_minutes(self.body)
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and "body" in update_fields:
            kwargs["update_fields"] = {*update_fields, "body_html", "toc_html", "reading_minutes"}
        super().save(*args, **kwargs)

    def get_absolute_url(self):
        return reverse("casestudies:detail", args=[self.slug])

    # The study page's other studies. Written by hand: composed through the ORM, these
    # small queries cost more to compile than to run. Names come from the models; values
    # are parameters.

    def neighbours(self):
        """The published studies listed just before this one (newer) and just after it
        (older), each a Neighbour or None, read in one query."""
        using = CaseStudy.objects.db
        ops = connections[using].ops
        table = ops.quote_name(CaseStudy._meta.db_table)
        date = ops.adapt_datetimefield_value(self.published_at)
        newer_public, newer_params = public_condition("study", using=using)
        # Older ones are those public at this study's date (or now, for a preview of a later
        # one), so the scan of the list-order index starts here, not at today.
        older_public, older_params = public_condition(
            "study", at=min(self.published_at, timezone.now()), using=using
        )
        # Each a range on the date, less the ties on that date that do not qualify.
        sql = (
            "SELECT 'newer', newer.slug, newer.title FROM ("  # noqa: S608
            f"SELECT study.slug, study.title FROM {table} study WHERE {newer_public} "
            "AND study.published_at >= %s AND NOT (study.published_at = %s AND study.title >= %s) "
            "ORDER BY study.published_at, study.title DESC LIMIT 1) newer "
            "UNION ALL "
            "SELECT 'older', older.slug, older.title FROM ("
            f"SELECT study.slug, study.title FROM {table} study WHERE {older_public} "
            "AND NOT (study.published_at = %s AND study.title <= %s) "
            "ORDER BY study.published_at DESC, study.title LIMIT 1) older"
        )
        params = [*newer_params, date, date, self.title, *older_params, date, self.title]
        with connections[using].cursor() as cursor:
            cursor.execute(sql, params)
            found = {side: Neighbour(slug, title) for side, slug, title in cursor.fetchall()}
        return found.get("newer"), found.get("older")

    def related(self, limit):
        """Up to `limit` public studies sharing tags with this one, most shared first, then
        newest. Each has its title, slug and `shared_tags` (its other fields load on use)."""
        tags = self.tag_list
        if not tags:
            return []
        using = CaseStudy.objects.db
        quote = connections[using].ops.quote_name
        table, links = quote(CaseStudy._meta.db_table), quote(TaggedCaseStudy._meta.db_table)
        public, public_params = public_condition("candidate", using=using)
        # The shared-tag counts, counted once from the links of the study's tags.
        counted = (
            f"(SELECT link.content_object_id, COUNT(*) AS shared FROM {links} link "  # noqa: S608
            f"WHERE link.tag_id IN ({', '.join(['%s'] * len(tags))}) AND link.content_object_id <> %s "
            "GROUP BY link.content_object_id) counted"
        )
        # Two ways to the same studies. Tags on few studies: look each of those up by id.
        # Tags on many: walk the public list by its index and look each study up in the
        # counts, rather than thousands of lookups by id. The kept counts tell which; SQLite
        # joins in the order written when told CROSS JOIN.
        if sum(tag.published_studies for tag in tags) <= RELATED_BY_ID_UP_TO:
            source = f"{counted} CROSS JOIN {table} candidate"
        else:
            source = f"{table} candidate JOIN {counted} ON counted.content_object_id = candidate.id"
        ranked = (
            "SELECT candidate.id, counted.shared, candidate.published_at, candidate.title "  # noqa: S608
            f"FROM {source} WHERE candidate.id = counted.content_object_id AND {public} "
            "ORDER BY counted.shared DESC, candidate.published_at DESC, candidate.title LIMIT %s"
        )
        # Then only the chosen few studies are read whole.
        sql = (
            f"SELECT study.id, study.title, study.slug, ranked.shared AS shared_tags FROM ({ranked}) ranked "  # noqa: S608
            f"JOIN {table} study ON study.id = ranked.id "
            "ORDER BY ranked.shared DESC, ranked.published_at DESC, ranked.title"
        )
        params = [*(tag.pk for tag in tags), self.pk, *public_params, limit]
        return list(CaseStudy.objects.raw(sql, params))

    def clean(self):
        if self.slug in RESERVED_SLUGS:
            raise ValidationError(
                {"slug": f"“{self.slug}” is taken by the site itself ({RESERVED_SLUGS[self.slug]})."}
            )
        taken = SlugRedirect.objects.filter(old_slug=self.slug).exclude(study_id=self.pk)
        if redirect := taken.select_related("study").first():
            raise ValidationError(
                {
                    "slug": f"“{self.slug}” is an old address of “{redirect.study}” and still "
                    "redirects there. Pick another slug, or delete that redirect under "
                    "Case studies › Slug redirects first."
                }
            )

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


@receiver(post_save, sender=TaggedCaseStudy)
def drop_restored_link_to_a_tag_gone_since(sender, instance, raw, using, **kwargs):
    """Restoring a study's revision saves its tag links raw, as they were then. A link
    to a tag deleted or merged away since is dropped again at once (the database checks
    the link at commit, so the restore would fail): the study comes back without it,
    as the restore form shows, and the author may add the tag again there."""
    if raw and not Tag.objects.using(using).filter(pk=instance.tag_id).exists():
        # A delete with its signals: the tag counts see the link go.
        TaggedCaseStudy.objects.using(using).filter(pk=instance.pk).delete()


@receiver(pre_save, sender=CaseStudy)
def keep_old_slug_working(sender, instance, raw, **kwargs):
    """When a study's slug changes (a save, or a revert from history), redirect the old one.

    A signal rather than save(): restoring a revision saves raw, past save().
    """
    if instance.pk is None:
        return
    old_slug = CaseStudy.objects.filter(pk=instance.pk).values_list("slug", flat=True).first()
    if old_slug is None or old_slug == instance.slug:
        return
    SlugRedirect.objects.filter(old_slug=instance.slug, study=instance).delete()
    SlugRedirect.objects.update_or_create(old_slug=old_slug, defaults={"study": instance})
